//! Compressed sparse row storage.

use super::kernels::{Isa, PARALLEL_WORK, row_dot, row_times_dense, rows_dot4, rows_per_task};
use super::{check_rhs, check_vec, matrix_dims};
use crate::error::{Result, arg_err};
use crate::tensor::{Tensor, contiguous, from_vec};
use rayon::prelude::*;

/// A matrix in compressed sparse row form: the non-zeros of row `i` are
/// `values[row_ptr[i]..row_ptr[i + 1]]` at columns `col_idx[..]` of the same range, in increasing
/// column order.
///
/// Built from a dense tensor viewed as `(shape[0], rest)`; [`Csr::to_dense`] gives the tensor back with
/// its original shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    shape: Vec<usize>,
    rows: usize,
    cols: usize,
    row_ptr: Vec<u32>,
    col_idx: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    /// The non-zeros of `dense` (entries `!= 0.0`) in CSR form; errors for a 0-d tensor, more than
    /// `2^32 - 1` non-zeros or more than `2^32` columns (indices are `u32`).
    pub fn from_dense(dense: &Tensor) -> Result<Self> {
        let (rows, cols) = matrix_dims(dense.shape())?;
        if cols > u32::MAX as usize + 1 {
            return Err(arg_err("Csr::from_dense", format!("{cols} columns do not fit u32 indices")));
        }
        let d = contiguous(dense);
        let data = d.as_slice().expect("contiguous");
        let nnz = data.iter().filter(|&&v| v != 0.0).count();
        if nnz > u32::MAX as usize {
            return Err(arg_err("Csr::from_dense", format!("{nnz} non-zeros do not fit u32 row pointers")));
        }
        let mut row_ptr = Vec::with_capacity(rows + 1);
        let mut col_idx = Vec::with_capacity(nnz);
        let mut values = Vec::with_capacity(nnz);
        row_ptr.push(0);
        if cols > 0 {
            for row in data.chunks_exact(cols) {
                for (j, &v) in row.iter().enumerate() {
                    if v != 0.0 {
                        col_idx.push(j as u32);
                        values.push(v);
                    }
                }
                row_ptr.push(values.len() as u32);
            }
        } else {
            row_ptr.resize(rows + 1, 0);
        }
        Ok(Self { shape: dense.shape().to_vec(), rows, cols, row_ptr, col_idx, values })
    }

    /// The dense tensor, in the shape it was built from (`-0.0` entries come back as `+0.0`).
    pub fn to_dense(&self) -> Tensor {
        let mut out = vec![0.0f32; self.rows * self.cols];
        for i in 0..self.rows {
            let r = self.range(i);
            for (&c, &v) in self.col_idx[r.clone()].iter().zip(&self.values[r]) {
                out[i * self.cols + c as usize] = v;
            }
        }
        from_vec(&self.shape, out).expect("shape matches")
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.row_ptr[i] as usize..self.row_ptr[i + 1] as usize
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

    /// Row pointers, `rows + 1` of them.
    pub fn row_ptr(&self) -> &[u32] {
        &self.row_ptr
    }

    /// Column index of each non-zero.
    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }

    /// Value of each non-zero.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Bytes of the format: `4 (rows + 1)` of row pointers plus `4 + 4` per non-zero.
    pub fn storage_bytes(&self) -> usize {
        4 * (self.rows + 1) + 8 * self.nnz()
    }

    /// `self (m, k) x b (k, n) -> (m, n)`: every output element summed over the row's non-zeros in
    /// increasing column order (see the module docs); rows run on rayon above `2^18` multiply-adds.
    pub fn matmul(&self, b: &Tensor) -> Result<Tensor> {
        let n = check_rhs("Csr::matmul", &[self.rows, self.cols], self.cols, b)?;
        let bc = contiguous(b);
        let bs = bc.as_slice().expect("contiguous");
        let mut out = vec![0.0f32; self.rows * n];
        if n > 0 {
            let isa = Isa::detect();
            let run = |(first, chunk): (usize, &mut [f32])| {
                for (i, o) in (first..).zip(chunk.chunks_exact_mut(n)) {
                    let r = self.range(i);
                    row_times_dense(isa, &self.col_idx[r.clone()], &self.values[r], bs, n, o);
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
        check_vec("Csr::matvec", &[self.rows, self.cols], self.cols, x)?;
        let xc = contiguous(x);
        let xs = xc.as_slice().expect("contiguous");
        let mut out = vec![0.0f32; self.rows];
        let row = |i: usize| {
            let r = self.range(i);
            (&self.col_idx[r.clone()], &self.values[r])
        };
        let run = |(first, chunk): (usize, &mut [f32])| {
            let mut quads = chunk.chunks_exact_mut(4);
            let mut i = first;
            for o in &mut quads {
                let rows = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                o.copy_from_slice(&rows_dot4(rows.map(|r| r.0), rows.map(|r| r.1), xs));
                i += 4;
            }
            for o in quads.into_remainder() {
                let (c, v) = row(i);
                *o = row_dot(c, v, xs);
                i += 1;
            }
        };
        let per = rows_per_task(self.rows).next_multiple_of(4);
        if self.nnz() >= PARALLEL_WORK && rayon::current_num_threads() > 1 {
            out.par_chunks_mut(per).enumerate().map(|(t, c)| (t * per, c)).for_each(run);
        } else {
            run((0, &mut out[..]));
        }
        from_vec(&[self.rows], out)
    }
}
