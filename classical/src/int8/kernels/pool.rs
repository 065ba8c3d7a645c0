//! Pooling on NHWC int8 tensors. Output quantization equals the input's (TFLite requires it for
//! pooling), so no rescale is needed:
//!
//! - max pooling: the largest value in the window (padding never wins);
//! - average pooling: TFLite's `reference_integer_ops::AveragePool` rounding of `sum / count`, half
//!   away from zero (`(sum ± count/2) / count` with truncating division). Padding counts as the zero
//!   point (the real 0) in a `k x k` count, PyTorch's `count_include_pad=True`, which the float
//!   models use; without padding this is TFLite's kernel exactly;
//! - global average pooling: the same rounding over the whole plane, `(N, C, H, W) -> (N, C)`.

use super::{Dims, out_size};
use crate::error::{Result, arg_err};
use crate::ops::Pool2dSpec;
use rayon::prelude::*;

/// `sum / count` rounded half away from zero, as TFLite's average pooling.
#[inline(always)]
pub fn rounded_average(sum: i32, count: i32) -> i32 {
    if sum > 0 { (sum + count / 2) / count } else { (sum - count / 2) / count }
}

fn pool_dims(op: &'static str, d: Dims, spec: Pool2dSpec) -> Result<Dims> {
    if spec.padding * 2 > spec.kernel {
        return Err(arg_err(op, format!("padding {} exceeds half the kernel {}", spec.padding, spec.kernel)));
    }
    let oh = out_size(op, d.h, spec.kernel, spec.stride, spec.padding, 1)?;
    let ow = out_size(op, d.w, spec.kernel, spec.stride, spec.padding, 1)?;
    Ok(Dims::new(d.n, d.c, oh, ow))
}

/// Window bounds `[lo, hi)` along one axis, clipped to the input.
#[inline(always)]
fn window(o: usize, spec: Pool2dSpec, size: usize) -> (usize, usize) {
    let start = (o * spec.stride) as isize - spec.padding as isize;
    let lo = start.max(0) as usize;
    let hi = ((start + spec.kernel as isize).max(0) as usize).min(size);
    (lo, hi.max(lo))
}

/// Applies `f(n, oi, oj, out_channels, scratch)` to every output position, rows in parallel; `scratch`
/// is a reusable buffer of one i32 per channel.
fn for_each_position(out: &mut [i8], od: Dims, f: impl Fn(usize, usize, usize, &mut [i8], &mut [i32]) + Sync) {
    let row = od.w * od.c;
    out.par_chunks_mut(row.max(1)).enumerate().for_each_init(
        || vec![0i32; od.c],
        |scratch, (r, out_row)| {
            let (n, oi) = (r / od.h, r % od.h);
            for (oj, dst) in out_row.chunks_exact_mut(od.c).enumerate() {
                f(n, oi, oj, dst, scratch);
            }
        },
    );
}

/// Max pooling of NHWC `x`.
pub fn max_pool(x: &[i8], d: Dims, spec: Pool2dSpec) -> Result<(Vec<i8>, Dims)> {
    d.check("int8 max_pool", x.len())?;
    let od = pool_dims("int8 max_pool", d, spec)?;
    let mut out = vec![i8::MIN; od.len()];
    for_each_position(&mut out, od, |n, oi, oj, dst, _| {
        let ((r0, r1), (c0, c1)) = (window(oi, spec, d.h), window(oj, spec, d.w));
        for r in r0..r1 {
            for c in c0..c1 {
                let src = &x[((n * d.h + r) * d.w + c) * d.c..][..d.c];
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = (*o).max(v);
                }
            }
        }
    });
    Ok((out, od))
}

/// Average pooling of NHWC `x` whose zero point is `zero_point`.
pub fn avg_pool(x: &[i8], d: Dims, spec: Pool2dSpec, zero_point: i32) -> Result<(Vec<i8>, Dims)> {
    d.check("int8 avg_pool", x.len())?;
    let od = pool_dims("int8 avg_pool", d, spec)?;
    let count = (spec.kernel * spec.kernel) as i32;
    let mut out = vec![0i8; od.len()];
    for_each_position(&mut out, od, |n, oi, oj, dst, acc| {
        let ((r0, r1), (c0, c1)) = (window(oi, spec, d.h), window(oj, spec, d.w));
        let padded = count - ((r1 - r0) * (c1 - c0)) as i32;
        acc.fill(padded * zero_point);
        for r in r0..r1 {
            for c in c0..c1 {
                let src = &x[((n * d.h + r) * d.w + c) * d.c..][..d.c];
                for (a, &v) in acc.iter_mut().zip(src) {
                    *a += v as i32;
                }
            }
        }
        for (o, &a) in dst.iter_mut().zip(acc.iter()) {
            *o = rounded_average(a, count).clamp(-128, 127) as i8;
        }
    });
    Ok((out, od))
}

/// Global average pooling of NHWC `x`: `(N, C)` output.
pub fn global_avg_pool(x: &[i8], d: Dims) -> Result<(Vec<i8>, Dims)> {
    d.check("int8 global_avg_pool", x.len())?;
    if d.h * d.w == 0 {
        return Err(arg_err("int8 global_avg_pool", "empty planes"));
    }
    let count = (d.h * d.w) as i32;
    let mut out = vec![0i8; d.n * d.c];
    out.par_chunks_mut(d.c.max(1)).enumerate().for_each(|(n, dst)| {
        let mut acc = vec![0i32; d.c];
        for src in x[n * d.h * d.w * d.c..(n + 1) * d.h * d.w * d.c].chunks_exact(d.c) {
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += v as i32;
            }
        }
        for (o, &a) in dst.iter_mut().zip(&acc) {
            *o = rounded_average(a, count).clamp(-128, 127) as i8;
        }
    });
    Ok((out, Dims::new(d.n, d.c, 1, 1)))
}
