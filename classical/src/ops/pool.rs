//! Pooling: max and average over windows, and global average pooling.

use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err};
use crate::tensor::{Tensor, contiguous};
use ndarray::IxDyn;
use rayon::prelude::*;

/// Window geometry of a 2-d pooling (square kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool2dSpec {
    /// Window side.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Padding on each side (ignored by max, counted as zeros by average, as PyTorch's defaults do).
    pub padding: usize,
}

impl Pool2dSpec {
    /// A `k x k` window moved by `k` (PyTorch's default stride), no padding.
    pub fn new(kernel: usize) -> Self {
        Self { kernel, stride: kernel, padding: 0 }
    }
}

#[derive(Debug, Clone, Copy)]
struct PoolGeometry {
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    spec: Pool2dSpec,
}

impl PoolGeometry {
    fn new(op: &'static str, shape: &[usize], spec: Pool2dSpec) -> Result<Self> {
        if shape.len() != 4 {
            return Err(arg_err(op, format!("input must be (N, C, H, W), got {shape:?}")));
        }
        if spec.kernel == 0 || spec.stride == 0 || spec.padding * 2 > spec.kernel {
            return Err(arg_err(op, format!("kernel and stride must be positive, padding at most kernel/2: {spec:?}")));
        }
        let (h, w) = (shape[2], shape[3]);
        if h + 2 * spec.padding < spec.kernel || w + 2 * spec.padding < spec.kernel {
            return Err(arg_err(op, format!("window {} larger than the padded input {h}x{w}", spec.kernel)));
        }
        let oh = (h + 2 * spec.padding - spec.kernel) / spec.stride + 1;
        let ow = (w + 2 * spec.padding - spec.kernel) / spec.stride + 1;
        Ok(Self { planes: shape[0] * shape[1], h, w, oh, ow, spec })
    }

    /// Input positions `(row, col)` inside the window of output `(oi, oj)`.
    fn window(&self, oi: usize, oj: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (s, p, k) = (self.spec.stride as isize, self.spec.padding as isize, self.spec.kernel as isize);
        let (r0, c0) = (oi as isize * s - p, oj as isize * s - p);
        (r0..r0 + k)
            .flat_map(move |r| (c0..c0 + k).map(move |c| (r, c)))
            .filter(|&(r, c)| r >= 0 && c >= 0 && (r as usize) < self.h && (c as usize) < self.w)
            .map(|(r, c)| (r as usize, c as usize))
    }
}

#[derive(Debug)]
struct MaxPool {
    /// The window.
    spec: Pool2dSpec,
    /// Offset within its input plane of each output's maximum.
    argmax: Vec<u32>,
    /// Input and output plane sizes.
    plane_in: usize,
    plane_out: usize,
}

impl Op for MaxPool {
    fn name(&self) -> &'static str {
        "max_pool2d"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::MaxPool2d(self.spec))
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut gx = vec![0.0f32; inputs[0].len()];
        let grad = contiguous(grad);
        let gs = grad.as_slice().expect("standard layout");
        // Planes in parallel; within a plane, overlapping windows add in output order.
        gx.par_chunks_mut(self.plane_in.max(1)).enumerate().for_each(|(p, plane)| {
            let range = p * self.plane_out..(p + 1) * self.plane_out;
            for (&i, &g) in self.argmax[range.clone()].iter().zip(&gs[range]) {
                plane[i as usize] += g;
            }
        });
        Ok(vec![Some(Tensor::from_shape_vec(inputs[0].raw_dim(), gx).expect("shape"))])
    }
}

/// Max pooling; the gradient goes to the first maximum of each window.
pub fn max_pool2d(x: &Var, spec: Pool2dSpec) -> Result<Var> {
    let geo = PoolGeometry::new("max_pool2d", x.shape(), spec)?;
    let xc = contiguous(x.value());
    let xs = xc.as_slice().unwrap();
    let per_plane = geo.oh * geo.ow;
    let mut out = vec![0.0f32; geo.planes * per_plane];
    if geo.h * geo.w > u32::MAX as usize {
        return Err(arg_err("max_pool2d", format!("planes of {}x{} are too large", geo.h, geo.w)));
    }
    let mut argmax = vec![0u32; geo.planes * per_plane];
    let (k, st, pad) = (geo.spec.kernel as isize, geo.spec.stride as isize, geo.spec.padding as isize);
    out.par_chunks_mut(per_plane).zip(argmax.par_chunks_mut(per_plane)).enumerate().for_each(|(p, (o, a))| {
        let base = p * geo.h * geo.w;
        for oi in 0..geo.oh {
            // Window rows and columns clipped to the input (padding never wins a max).
            let r0 = (oi as isize * st - pad).max(0) as usize;
            let r1 = ((oi as isize * st - pad + k) as usize).min(geo.h);
            for oj in 0..geo.ow {
                let c0 = (oj as isize * st - pad).max(0) as usize;
                let c1 = ((oj as isize * st - pad + k) as usize).min(geo.w);
                let mut best = (f32::NEG_INFINITY, r0 * geo.w + c0);
                for r in r0..r1 {
                    let row = r * geo.w;
                    for (c, &v) in xs[base + row + c0..base + row + c1].iter().enumerate() {
                        if v > best.0 {
                            best = (v, row + c0 + c);
                        }
                    }
                }
                o[oi * geo.ow + oj] = best.0;
                a[oi * geo.ow + oj] = best.1 as u32;
            }
        }
    });
    let shape = [x.shape()[0], x.shape()[1], geo.oh, geo.ow];
    let value = Tensor::from_shape_vec(IxDyn(&shape), out).expect("shape");
    Ok(Var::from_op(MaxPool { spec, argmax, plane_in: geo.h * geo.w, plane_out: per_plane }, &[x], value))
}

#[derive(Debug)]
struct AvgPool(PoolGeometry);

impl Op for AvgPool {
    fn name(&self) -> &'static str {
        "avg_pool2d"
    }
    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::AvgPool2d(self.0.spec))
    }
    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let geo = self.0;
        let g = contiguous(grad);
        let gs = g.as_slice().unwrap();
        let mut gx = vec![0.0f32; inputs[0].len()];
        let area = (geo.spec.kernel * geo.spec.kernel) as f32;
        for p in 0..geo.planes {
            for oi in 0..geo.oh {
                for oj in 0..geo.ow {
                    let gv = gs[(p * geo.oh + oi) * geo.ow + oj] / area;
                    for (r, c) in geo.window(oi, oj) {
                        gx[p * geo.h * geo.w + r * geo.w + c] += gv;
                    }
                }
            }
        }
        Ok(vec![Some(Tensor::from_shape_vec(inputs[0].raw_dim(), gx).expect("shape"))])
    }
}

/// Average pooling (padding counts as zeros in the average, PyTorch's `count_include_pad=True`).
pub fn avg_pool2d(x: &Var, spec: Pool2dSpec) -> Result<Var> {
    let geo = PoolGeometry::new("avg_pool2d", x.shape(), spec)?;
    let xc = contiguous(x.value());
    let xs = xc.as_slice().unwrap();
    let area = (spec.kernel * spec.kernel) as f32;
    let mut out = Vec::with_capacity(geo.planes * geo.oh * geo.ow);
    for p in 0..geo.planes {
        let base = p * geo.h * geo.w;
        for oi in 0..geo.oh {
            for oj in 0..geo.ow {
                out.push(geo.window(oi, oj).map(|(r, c)| xs[base + r * geo.w + c]).sum::<f32>() / area);
            }
        }
    }
    let shape = [x.shape()[0], x.shape()[1], geo.oh, geo.ow];
    Ok(Var::from_op(AvgPool(geo), &[x], Tensor::from_shape_vec(IxDyn(&shape), out).expect("shape")))
}

/// Global average pooling `(N, C, H, W) -> (N, C)`.
pub fn global_avg_pool(x: &Var) -> Result<Var> {
    if x.shape().len() != 4 {
        return Err(arg_err("global_avg_pool", format!("input must be (N, C, H, W), got {:?}", x.shape())));
    }
    super::mean_axes(x, &[2, 3], false)
}
