//! Bitmask storage: one bit per entry plus the packed non-zero values.

use super::kernels::{Isa, PARALLEL_WORK, row_times_dense, rows_per_task};
use super::{check_rhs, check_vec, matrix_dims};
use crate::error::{Result, arg_err};
use crate::tensor::{Tensor, contiguous, from_vec};
use rayon::prelude::*;

/// `BYTE_BITS[b]`: the positions of the set bits of byte `b` in increasing order, then zeros.
static BYTE_BITS: [[u8; 8]; 256] = {
    let mut t = [[0u8; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let (mut k, mut bit) = (0, 0);
        while bit < 8 {
            if b & (1 << bit) != 0 {
                t[b][k] = bit as u8;
                k += 1;
            }
            bit += 1;
        }
        b += 1;
    }
    t
};

/// A matrix as a bitmask over its entries (row-major, bit `e % 64` of word `e / 64` for entry `e`,
/// set when the entry is non-zero) and the non-zero values in row-major order.
///
/// The stored format is the mask and the values ([`Bitmask::storage_bytes`]); the object also keeps
/// where each row's values start (`rows + 1` offsets, one popcount pass over the mask), an in-memory
/// index that lets rows be processed independently and is not counted as storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Bitmask {
    shape: Vec<usize>,
    rows: usize,
    cols: usize,
    mask: Vec<u64>,
    values: Vec<f32>,
    row_start: Vec<usize>,
}

impl Bitmask {
    /// The non-zeros of `dense` (entries `!= 0.0`) as a bitmask and packed values; errors for a 0-d
    /// tensor or more than `2^32` columns.
    pub fn from_dense(dense: &Tensor) -> Result<Self> {
        let (rows, cols) = matrix_dims(dense.shape())?;
        if cols > u32::MAX as usize + 1 {
            return Err(arg_err("Bitmask::from_dense", format!("{cols} columns do not fit u32 indices")));
        }
        let d = contiguous(dense);
        let data = d.as_slice().expect("contiguous");
        let mut mask = vec![0u64; data.len().div_ceil(64)];
        let mut values = Vec::with_capacity(data.iter().filter(|&&v| v != 0.0).count());
        let mut row_start = Vec::with_capacity(rows + 1);
        row_start.push(0);
        for (e, &v) in data.iter().enumerate() {
            if v != 0.0 {
                mask[e / 64] |= 1 << (e % 64);
                values.push(v);
            }
            if cols > 0 && (e + 1) % cols == 0 {
                row_start.push(values.len());
            }
        }
        row_start.resize(rows + 1, 0);
        Ok(Self { shape: dense.shape().to_vec(), rows, cols, mask, values, row_start })
    }

    /// The dense tensor, in the shape it was built from (`-0.0` entries come back as `+0.0`).
    pub fn to_dense(&self) -> Tensor {
        let mut out = vec![0.0f32; self.rows * self.cols];
        let mut p = 0;
        for (w, &word) in self.mask.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                out[w * 64 + bits.trailing_zeros() as usize] = self.values[p];
                p += 1;
                bits &= bits - 1;
            }
        }
        from_vec(&self.shape, out).expect("shape matches")
    }

    /// Calls `f(column)` for every set bit of row `i`, in increasing column order.
    #[inline]
    fn for_each_col(&self, i: usize, mut f: impl FnMut(u32)) {
        let (start, end) = (i * self.cols, (i + 1) * self.cols);
        if start == end {
            return;
        }
        for w in start / 64..=(end - 1) / 64 {
            let mut bits = self.mask[w];
            let base = w * 64;
            if base < start {
                bits &= !0u64 << (start - base);
            }
            if base + 64 > end {
                bits &= !0u64 >> (base + 64 - end);
            }
            while bits != 0 {
                f((base + bits.trailing_zeros() as usize - start) as u32);
                bits &= bits - 1;
            }
        }
    }

    /// Writes the columns of row `i`'s set bits, in increasing order, to the front of `out` and returns
    /// how many there are. `out` must hold `cols + 8` entries: for rows denser than one non-zero in 8,
    /// the decoder works a byte of the mask at a time without branching on its bits (a table gives the positions of a byte's set bits; all eight
    /// slots are written and the cursor advances by the popcount), so it may write up to 7 scratch
    /// values past the last column.
    #[inline]
    fn decode_row(&self, i: usize, out: &mut [u32]) -> usize {
        debug_assert!(out.len() >= self.cols + 8);
        let (start, end) = (i * self.cols, (i + 1) * self.cols);
        let mut n = 0;
        if (self.row_start[i + 1] - self.row_start[i]) * 8 <= self.cols {
            // At most one set bit per byte on average: visiting the set bits beats visiting bytes.
            self.for_each_col(i, |c| {
                out[n] = c;
                n += 1;
            });
            return n;
        }
        for w in start / 64..=(end - 1) / 64 {
            let mut bits = self.mask[w];
            let base = w * 64;
            if base < start {
                bits &= !0u64 << (start - base);
            }
            if base + 64 > end {
                bits &= !0u64 >> (base + 64 - end);
            }
            if bits == 0 {
                continue;
            }
            // Column of bit 0 of this word; wraps below zero for the row's first word, whose bits
            // before the row are cleared, so only scratch slots can hold wrapped values.
            let col0 = (base as u32).wrapping_sub(start as u32);
            for byte in 0..8u32 {
                let b = ((bits >> (8 * byte)) & 0xff) as usize;
                let slots: &mut [u32; 8] = (&mut out[n..n + 8]).try_into().expect("8 slots");
                for (slot, &pos) in slots.iter_mut().zip(&BYTE_BITS[b]) {
                    *slot = col0.wrapping_add(8 * byte + pos as u32);
                }
                n += b.count_ones() as usize;
            }
        }
        n
    }

    /// The shape of the tensor it was built from.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Rows of the matrix view.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the matrix view.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Fraction of entries that are zero (`0` for an empty matrix).
    pub fn sparsity(&self) -> f64 {
        let n = self.rows * self.cols;
        if n == 0 { 0.0 } else { 1.0 - self.nnz() as f64 / n as f64 }
    }

    /// The mask words (`ceil(rows cols / 64)` of them; bits past the last entry are zero).
    pub fn mask(&self) -> &[u64] {
        &self.mask
    }

    /// The non-zero values in row-major order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Bytes of the format: `ceil(rows cols / 8)` of mask plus 4 per non-zero.
    pub fn storage_bytes(&self) -> usize {
        (self.rows * self.cols).div_ceil(8) + 4 * self.nnz()
    }

    /// `self (m, k) x b (k, n) -> (m, n)`, the same sums in the same order as [`super::Csr::matmul`]
    /// (so the same bits): each row's mask is decoded into column indices once, then the CSR row kernel
    /// runs. Rows run on rayon above `2^18` multiply-adds.
    pub fn matmul(&self, b: &Tensor) -> Result<Tensor> {
        let n = check_rhs("Bitmask::matmul", &[self.rows, self.cols], self.cols, b)?;
        let bc = contiguous(b);
        let bs = bc.as_slice().expect("contiguous");
        let mut out = vec![0.0f32; self.rows * n];
        if n > 0 {
            let isa = Isa::detect();
            let run = |(first, chunk): (usize, &mut [f32])| {
                let mut cols = vec![0u32; self.cols + 8];
                for (i, o) in (first..).zip(chunk.chunks_exact_mut(n)) {
                    let len = self.decode_row(i, &mut cols);
                    let vals = &self.values[self.row_start[i]..self.row_start[i + 1]];
                    row_times_dense(isa, &cols[..len], vals, bs, n, o);
                }
            };
            let per = rows_per_task(self.rows);
            if self.nnz() * n >= PARALLEL_WORK && rayon::current_num_threads() > 1 {
                out.par_chunks_mut(per * n).enumerate().map(|(t, c)| (t * per, c)).for_each(run);
            } else {
                run((0, &mut out[..]));
            }
        }
        from_vec(&[self.rows, n], out)
    }

    /// `self (m, k) x x (k) -> (m)`, each element summed in increasing column order.
    pub fn matvec(&self, x: &Tensor) -> Result<Tensor> {
        check_vec("Bitmask::matvec", &[self.rows, self.cols], self.cols, x)?;
        let xc = contiguous(x);
        let xs = xc.as_slice().expect("contiguous");
        let mut out = vec![0.0f32; self.rows];
        let run = |(first, chunk): (usize, &mut [f32])| {
            for (i, o) in (first..).zip(chunk.iter_mut()) {
                let vals = &self.values[self.row_start[i]..self.row_start[i + 1]];
                let (mut acc, mut p) = (0.0f32, 0);
                self.for_each_col(i, |c| {
                    acc += vals[p] * xs[c as usize];
                    p += 1;
                });
                *o = acc;
            }
        };
        let per = rows_per_task(self.rows);
        if self.nnz() >= PARALLEL_WORK && rayon::current_num_threads() > 1 {
            out.par_chunks_mut(per).enumerate().map(|(t, c)| (t * per, c)).for_each(run);
        } else {
            run((0, &mut out[..]));
        }
        from_vec(&[self.rows], out)
    }
}
