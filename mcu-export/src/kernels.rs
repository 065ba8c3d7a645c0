//! Which implementation of the C kernel library an export runs, and the scratch area every kernel
//! call of it needs: the Rust mirror of `tl_conv_scratch_bytes` and `tl_depthwise_scratch_bytes` in
//! `c/tl_kernels.c` (the tests hold the two to the same numbers).
//!
//! - [`Kernels::Portable`]: plain C99 (`TL_USE_DSP 0`); only the in-place depthwise convolution takes
//!   a scratch area (one input plane).
//! - [`Kernels::Dsp`]: the Arm DSP-extension kernels (`TL_USE_DSP 1`: SXTB16 / SMLAD on pairs of q15):
//!   convolutions widen two output positions into q15 columns, depthwise 3x3 / 5x5 / 7x7 convolutions
//!   keep a ring of q15 input rows. On a target without the DSP extension they still run, on plain-C
//!   versions of the instructions (slowly: that is for tests).
//!
//! The memory planner ([`crate::plan`]) places these areas in the arena like tensors (alive for their
//! op only), so the arena is the whole activation SRAM of the kernels that run.

use crate::error::{ExportError, Result, arg_err};
use crate::graph::ConvGeometry;
use crate::target::Target;

/// The C kernels an export is generated for (`#define TL_USE_DSP` in its `tl_kernels.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// Plain C99 kernels (`TL_USE_DSP 0`).
    Portable,
    /// Arm DSP-extension kernels (`TL_USE_DSP 1`).
    Dsp,
}

/// Channels of one block of the DSP depthwise kernel (`TL_DW_BLOCK`).
pub const DW_BLOCK: usize = 4;

impl Kernels {
    /// The kernels a target runs by default: the DSP ones on the Cortex-M4 and M7 (both have the DSP
    /// extension), the portable ones on the host.
    pub fn for_target(target: Target) -> Kernels {
        if target.is_cortex_m() { Kernels::Dsp } else { Kernels::Portable }
    }

    /// The value of `TL_USE_DSP`.
    pub fn use_dsp(self) -> bool {
        self == Kernels::Dsp
    }

    /// `portable` or `dsp`.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Portable => "portable",
            Kernels::Dsp => "dsp",
        }
    }
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kernels {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Kernels> {
        match s {
            "portable" => Ok(Kernels::Portable),
            "dsp" => Ok(Kernels::Dsp),
            _ => Err(arg_err("kernels", format!("unknown kernels `{s}` (expected portable or dsp)"))),
        }
    }
}

/// Scratch bytes of one `tl_conv` / `tl_conv_1x1` call with `c_in` input channels: the two
/// interleaved q15 columns, `16 * ceil(K / 4)` bytes with `K = kh * kw * c_in / groups` (DSP); 0
/// (portable).
pub fn conv_scratch_bytes(kernels: Kernels, g: &ConvGeometry, c_in: usize) -> usize {
    match kernels {
        Kernels::Portable => 0,
        Kernels::Dsp => 16 * (g.kernel.0 * g.kernel.1 * (c_in / g.groups)).div_ceil(4),
    }
}

/// Whether the DSP depthwise kernel takes this geometry (`tl_dw_dsp_ok`): square 3x3, 5x5 or 7x7
/// kernels, dilation 1, strides 1 or 2 (depth multiplier 1 is the caller's condition).
pub fn depthwise_dsp_applies(g: &ConvGeometry) -> bool {
    let (kh, kw) = g.kernel;
    kh == kw
        && matches!(kh, 3 | 5 | 7)
        && g.dilation == (1, 1)
        && matches!(g.stride.0, 1 | 2)
        && matches!(g.stride.1, 1 | 2)
}

/// Whether the DSP in-place depthwise kernel can run on one buffer (`tl_dw_ring_inplace_ok`): every
/// input row an output row reads is first read (copied into the ring) no later than the output row
/// whose write first reaches it. Row `r` is first read by output row
/// `f = ceil((r + pad - kh + 1) / stride)` and first overwritten by output row
/// `floor(r * in_w / out_w)` (the packed output's pixel `p` overwrites the input's pixel `p`).
pub fn depthwise_ring_inplace_ok(
    g: &ConvGeometry,
    (in_h, in_w): (usize, usize),
    (out_h, out_w): (usize, usize),
) -> bool {
    let (kh, s, pad) = (g.kernel.0 as i64, g.stride.0 as i64, g.padding.0 as i64);
    (0..in_h as i64).all(|r| {
        let f = r + pad - kh + 1;
        let f = if f <= 0 { 0 } else { (f + s - 1) / s };
        let never_read = f >= out_h as i64 || f * s - pad > r;
        never_read || f <= r * in_w as i64 / out_w.max(1) as i64
    })
}

/// Scratch bytes of one depthwise call with depth multiplier 1 over `c` channels whose output window
/// is `out_w` columns wide (`tl_depthwise_scratch_bytes`): `tl_depthwise` (`in_place` false) or
/// `tl_depthwise_inplace` on whole `in_h x in_w` maps. DSP kernels, where
/// [`depthwise_dsp_applies`] (and, in place, [`depthwise_ring_inplace_ok`]): a ring of `kh` q15 rows
/// of `((out_w - 1) * stride_w + kw + 2) & !1` columns for `min(c, 4)` channels. Otherwise nothing out
/// of place, one `in_h x in_w` plane in place.
pub fn depthwise_scratch_bytes(
    kernels: Kernels,
    g: &ConvGeometry,
    c: usize,
    (in_h, in_w): (usize, usize),
    (out_h, out_w): (usize, usize),
    in_place: bool,
) -> usize {
    let ring = kernels == Kernels::Dsp
        && depthwise_dsp_applies(g)
        && (!in_place || depthwise_ring_inplace_ok(g, (in_h, in_w), (out_h, out_w)));
    if ring {
        let cols = ((out_w.max(1) - 1) * g.stride.1 + g.kernel.1 + 2) & !1;
        g.kernel.0 * c.min(DW_BLOCK) * cols * 2
    } else if in_place {
        in_h * in_w
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(k: usize, stride: usize, pad: usize) -> ConvGeometry {
        ConvGeometry {
            kernel: (k, k),
            stride: (stride, stride),
            padding: (pad, pad),
            dilation: (1, 1),
            groups: 8,
            c_out: 8,
            input_zp: 0,
        }
    }

    #[test]
    fn names_and_targets() {
        for k in [Kernels::Portable, Kernels::Dsp] {
            assert_eq!(k.to_string().parse::<Kernels>().unwrap(), k);
        }
        assert!("neon".parse::<Kernels>().is_err());
        assert_eq!(Kernels::for_target(Target::Host), Kernels::Portable);
        assert_eq!(Kernels::for_target(Target::CortexM4), Kernels::Dsp);
        assert_eq!(Kernels::for_target(Target::CortexM7), Kernels::Dsp);
    }

    #[test]
    fn the_usual_depthwise_geometries_run_in_place_through_the_ring() {
        // 3x3 / 5x5 / 7x7 with "same" padding, strides 1 and 2 (MobileNet's), on odd and even maps.
        for k in [3, 5, 7] {
            for s in [1, 2] {
                for size in [1, 2, 3, 7, 8, 48, 49] {
                    let g = geometry(k, s, k / 2);
                    let out = (size + 2 * (k / 2) - k) / s + 1;
                    assert!(depthwise_ring_inplace_ok(&g, (size, size), (out, out)), "k {k} s {s} size {size}");
                    let ring = depthwise_scratch_bytes(Kernels::Dsp, &g, 16, (size, size), (out, out), true);
                    assert_eq!(ring, k * 4 * ((((out - 1) * s + k + 2) & !1) * 2));
                }
            }
        }
        // Padding beyond half the kernel: input row 0 is first read by output row 1, but output row 0
        // already overwrites it, so no ring (the plane instead).
        let g = geometry(3, 1, 3);
        assert!(!depthwise_ring_inplace_ok(&g, (4, 4), (8, 8)));
        assert_eq!(depthwise_scratch_bytes(Kernels::Dsp, &g, 16, (4, 4), (8, 8), true), 16);
        assert_eq!(depthwise_scratch_bytes(Kernels::Portable, &g, 16, (4, 4), (8, 8), true), 16);
        assert_eq!(depthwise_scratch_bytes(Kernels::Portable, &geometry(3, 1, 1), 16, (4, 4), (4, 4), false), 0);
        // A 2x2 kernel has no DSP path: in place takes the plane, out of place nothing.
        let g2 = ConvGeometry { kernel: (2, 2), ..geometry(3, 1, 0) };
        assert_eq!(depthwise_scratch_bytes(Kernels::Dsp, &g2, 16, (4, 4), (3, 3), true), 16);
        assert_eq!(depthwise_scratch_bytes(Kernels::Dsp, &g2, 16, (4, 4), (3, 3), false), 0);
    }

    #[test]
    fn conv_columns() {
        let mut g = geometry(3, 1, 1);
        g.groups = 1;
        assert_eq!(conv_scratch_bytes(Kernels::Dsp, &g, 3), 16 * 7); // K = 27
        assert_eq!(conv_scratch_bytes(Kernels::Dsp, &g, 4), 16 * 9);
        assert_eq!(conv_scratch_bytes(Kernels::Portable, &g, 4), 0);
        g.groups = 2;
        assert_eq!(conv_scratch_bytes(Kernels::Dsp, &g, 4), 16 * 5); // K = 18
    }
}
