//! LLM compression with integer kernels: W8A8 (SmoothQuant), weight-only int4 with groups (RTN, AWQ,
//! GPTQ) and KV-cache quantization.
//!
//! Everything works on plain weight matrices in PyTorch layout `[out, in]` and activation samples
//! `[tokens, in]`, so each scheme applies to any linear layer of a model:
//! - [`w8a8::W8A8Linear`]: int8 weights (per output channel) x int8 activations (per token, dynamic),
//!   i32 accumulation, f32 output stage (Xiao et al. 2023).
//! - [`smooth`]: SmoothQuant's per-input-channel migration of activation outliers into the weights,
//!   folded into the preceding normalisation; [`stats::ActStats`] gathers the calibration statistics.
//! - [`int4::Int4Linear`]: packed int4 weights with per-group scales and zero points, a kernel that
//!   unpacks on the fly; round-to-nearest baseline; [`awq`] (Lin et al. 2023) and [`gptq`] (Frantar et al. 2023) choose the codes.
//! - [`dense::DenseLinear`]: the f32 twin of the kernels (the fair baseline of the benchmarks).
//! - [`kv`]: int8 / int4 KV caches, keys per channel and values per token (KIVI, Liu et al. 2024).
//!
//! The kernels are safe Rust written for the autovectoriser and compiled for AVX2 + FMA at run time
//! when the CPU has them ([`simd`]); their sums have a fixed order, so results are bit-identical for
//! any thread count.

pub mod awq;
pub mod dense;
mod exec;
pub mod gptq;
pub mod int4;
pub mod kv;
mod linalg;
pub mod simd;
pub mod smooth;
pub mod stats;
pub mod sym;
mod tokens;
pub mod w8a8;

pub use int4::{Int4Linear, Int4Matrix};
pub use stats::ActStats;
pub use w8a8::W8A8Linear;

use tinylab_classical::{Result, Tensor};

/// A linear layer `y = x W^T + b` in one of the stored forms of this module, so that a model can
/// swap each `Linear` for its quantized version behind one interface.
pub trait QuantizedLinear: Send + Sync {
    /// `x W^T + b` for `x` of shape `[..., in]`; the output has shape `[..., out]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
    /// Input features.
    fn in_features(&self) -> usize;
    /// Output features.
    fn out_features(&self) -> usize;
    /// Bytes of the stored layer (codes, scales, zero points, bias).
    fn bytes(&self) -> usize;
}

impl QuantizedLinear for W8A8Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        W8A8Linear::forward(self, x)
    }
    fn in_features(&self) -> usize {
        W8A8Linear::in_features(self)
    }
    fn out_features(&self) -> usize {
        W8A8Linear::out_features(self)
    }
    fn bytes(&self) -> usize {
        W8A8Linear::bytes(self)
    }
}

impl QuantizedLinear for Int4Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Int4Linear::forward(self, x)
    }
    fn in_features(&self) -> usize {
        self.weight().cols()
    }
    fn out_features(&self) -> usize {
        self.weight().rows()
    }
    fn bytes(&self) -> usize {
        Int4Linear::bytes(self)
    }
}

impl QuantizedLinear for dense::DenseLinear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        dense::DenseLinear::forward(self, x)
    }
    fn in_features(&self) -> usize {
        dense::DenseLinear::in_features(self)
    }
    fn out_features(&self) -> usize {
        dense::DenseLinear::out_features(self)
    }
    fn bytes(&self) -> usize {
        dense::DenseLinear::bytes(self)
    }
}
