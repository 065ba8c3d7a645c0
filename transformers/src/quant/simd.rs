//! Runtime CPU dispatch for the quantized kernels, in safe code.
//!
//! The crate forbids `unsafe`, so the kernels are plain Rust loops written for the autovectoriser
//! (fixed-width lane arrays, no data-dependent branches). [`vectorized`] runs such a loop inside a
//! function compiled with AVX2 + FMA enabled when the CPU has them (through `pulp`'s safe `V3` token,
//! which checks the features at run time), so the same source becomes 256-bit code there and SSE2
//! code elsewhere. Everything the closure calls must be `#[inline(always)]` to be compiled with the
//! wider features. The arithmetic is the same on both paths (`mul_add` is exactly rounded on both),
//! so a result never depends on which path ran.

/// Runs `f` compiled for AVX2 + FMA when this CPU supports them, as plain code otherwise.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = pulp::x86::V3::try_new() {
        return v3.vectorize(f);
    }
    f()
}
