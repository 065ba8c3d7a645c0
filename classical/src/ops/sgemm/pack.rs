//! Packing blocks of the operands into the sliver layouts the micro-kernels read (see
//! [`super::kernel`]), zero-padding the last sliver of a block.

use super::kernel::{MR, NR};

/// A read-only matrix described by strides: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strided<'a> {
    /// The values.
    pub data: &'a [f32],
    /// Step between rows.
    pub rs: usize,
    /// Step between columns.
    pub cs: usize,
}

impl Strided<'_> {
    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self { rs: self.cs, cs: self.rs, ..self }
    }
}

/// Packs rows `rows.0 .. rows.0 + rows.1` and columns `cols.0 .. cols.0 + cols.1` of `src` into
/// slivers of `W` rows: sliver `s` holds, for each column `p`, the `W` values of rows `s * W ..`
/// (`dst[(s * cols.1 + p) * W + i]`), zeros past the last row. `dst` holds `rows.1.div_ceil(W) * W *
/// cols.1` values; the block must lie inside `src` (the caller checked how far its strides reach).
fn pack<const W: usize>(src: Strided, rows: (usize, usize), cols: (usize, usize), dst: &mut [f32]) {
    let (r0, mr) = rows;
    let (c0, kc) = cols;
    for (s, sliver) in dst[..mr.div_ceil(W) * W * kc].chunks_exact_mut(W * kc).enumerate() {
        let live = W.min(mr - s * W);
        let first = (r0 + s * W) * src.rs + c0 * src.cs;
        if src.rs == 1 && live == W {
            // The W values of a column are contiguous.
            for (p, out) in sliver.chunks_exact_mut(W).enumerate() {
                out.copy_from_slice(&src.data[first + p * src.cs..][..W]);
            }
        } else if src.cs == 1 && live == W {
            // Each row is contiguous: read the W rows side by side, write each column's W values.
            let rows: [&[f32]; W] = std::array::from_fn(|i| &src.data[first + i * src.rs..][..kc]);
            for (p, out) in sliver.chunks_exact_mut(W).enumerate() {
                for (o, row) in out.iter_mut().zip(&rows) {
                    *o = row[p];
                }
            }
        } else {
            for (p, out) in sliver.chunks_exact_mut(W).enumerate() {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = if i < live { src.data[first + i * src.rs + p * src.cs] } else { 0.0 };
                }
            }
        }
    }
}

/// Packs the `mc x kc` block of `a` at `(r0, p0)` into slivers of [`MR`] rows.
pub(crate) fn pack_a(a: Strided, (r0, mc): (usize, usize), (p0, kc): (usize, usize), dst: &mut [f32]) {
    pack::<MR>(a, (r0, mc), (p0, kc), dst);
}

/// Packs the `kc x nc` block of `b` at `(p0, c0)` into slivers of [`NR`] columns (`B^T` packed like `A`).
pub(crate) fn pack_b(b: Strided, (p0, kc): (usize, usize), (c0, nc): (usize, usize), dst: &mut [f32]) {
    pack::<NR>(b.t(), (c0, nc), (p0, kc), dst);
}
