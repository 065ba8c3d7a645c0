//! The work split shared by the quantized matrix products: blocks of output channels.
//!
//! Every kernel computes `y[t][o]` for tokens `t < m` and output channels `o < n`, each element
//! from one weight row and one activation row in a fixed summation order. [`over_channels`] hands
//! contiguous channel blocks to a block function (on rayon's threads above a size threshold: the
//! blocks are independent outputs, so the result is bit-identical whatever the thread count) and
//! assembles the `[m, n]` row-major output. A block streams its weight rows once while the few
//! activation rows stay in cache, which is what batch-1 generation (a memory-bound GEMV) needs.

use super::simd::{LaneKernel, Lanes};
use rayon::prelude::*;

/// Products with at least this many multiply-adds run on rayon's threads.
const PARALLEL_MACS: usize = 1 << 18;
/// Output channels per block.
const BLOCK: usize = 64;

/// `[m, n]` row-major outputs; `block(o0, n_block, out)` fills `out` (`m * n_block`, row-major
/// `[m, n_block]`) for channels `o0..o0 + n_block`. `k` is the inner dimension (for the threshold).
pub(crate) fn over_channels<T, F>(m: usize, n: usize, k: usize, block: F) -> Vec<T>
where
    T: Copy + Default + Send,
    F: Fn(usize, usize, &mut [T]) + Sync,
{
    let mut y = vec![T::default(); m * n];
    if m == 0 || n == 0 {
        return y;
    }
    let run = |b: usize| {
        let o0 = b * BLOCK;
        let nb = (n - o0).min(BLOCK);
        let mut out = vec![T::default(); m * nb];
        block(o0, nb, &mut out);
        out
    };
    let blocks = n.div_ceil(BLOCK);
    let parts: Vec<Vec<T>> = if m * n * k >= PARALLEL_MACS && blocks > 1 {
        (0..blocks).into_par_iter().map(run).collect()
    } else {
        (0..blocks).map(run).collect()
    };
    for (b, part) in parts.iter().enumerate() {
        let (o0, nb) = (b * BLOCK, part.len() / m);
        for t in 0..m {
            y[t * n + o0..t * n + o0 + nb].copy_from_slice(&part[t * nb..(t + 1) * nb]);
        }
    }
    y
}

/// Token rows per register block of the f32-input kernels.
const ROWS: usize = 4;

/// A weight matrix whose output channel `o` can be dotted with `R` activation rows at once (the
/// dense f32 and the packed int4 kernels).
pub(crate) trait RowDot {
    /// The inner dimension (the length of an activation row).
    fn cols(&self) -> usize;

    /// Channel `o` against the rows `xs` (each `cols` long).
    fn row_dot<L: Lanes, const R: usize>(&self, lanes: L, o: usize, xs: [&[f32]; R]) -> [f32; R];
}

/// Channels `o0..` of all `m` rows of `x` against `w` into `out` (`[m, nb]` row-major): rows in
/// register blocks of [`ROWS`], then the remainder one by one.
pub(crate) struct RowBlock<'a, W> {
    pub w: &'a W,
    pub x: &'a [f32],
    pub m: usize,
    pub o0: usize,
    pub out: &'a mut [f32],
}

impl<W: RowDot> LaneKernel for RowBlock<'_, W> {
    type Output = ();

    #[inline(always)]
    fn run<L: Lanes>(self, lanes: L) {
        let RowBlock { w, x, m, o0, out } = self;
        let (k, nb) = (w.cols(), out.len() / m.max(1));
        for j in 0..nb {
            let mut t = 0;
            while t + ROWS <= m {
                let y = w.row_dot::<L, ROWS>(lanes, o0 + j, std::array::from_fn(|r| &x[(t + r) * k..(t + r + 1) * k]));
                for (r, &v) in y.iter().enumerate() {
                    out[(t + r) * nb + j] = v;
                }
                t += ROWS;
            }
            for t in t..m {
                out[t * nb + j] = w.row_dot::<L, 1>(lanes, o0 + j, [&x[t * k..(t + 1) * k]])[0];
            }
        }
    }
}
