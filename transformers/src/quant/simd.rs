//! Runtime CPU dispatch for the quantized kernels, in safe code.
//!
//! The crate forbids `unsafe`, so the kernels are plain Rust loops written for the autovectoriser
//! (fixed-width lane arrays, no data-dependent branches). [`vectorized`] runs a [`Kernel`] inside a
//! function compiled with AVX2 + FMA enabled when the CPU has them (through `pulp`'s safe `V3` token,
//! which checks the features at run time), so the same source becomes 256-bit code there and SSE2
//! code elsewhere. A kernel's `run` and everything it calls must be `#[inline(always)]` so that they
//! are compiled inside the function with the wider features (a closure cannot be marked so, hence the
//! trait). The arithmetic is the same on both paths (`mul_add` is exactly rounded on both), so a
//! result never depends on which path ran.

/// A loop nest to run under [`vectorized`]; implementations mark `run` `#[inline(always)]`.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel.
    fn run(self) -> Self::Output;
}

struct Dispatch<K>(K);

impl<K: Kernel> pulp::WithSimd for Dispatch<K> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> K::Output {
        self.0.run()
    }
}

/// Runs `kernel` compiled for AVX2 + FMA when this CPU supports them, as plain code otherwise.
#[inline(always)]
pub(crate) fn vectorized<K: Kernel>(kernel: K) -> K::Output {
    pulp::Arch::new().dispatch(Dispatch(kernel))
}

/// Which implementation of the explicit-lane kernels runs ([`Lanes`]); both give identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelPath {
    /// AVX2 + FMA intrinsics (through `pulp`'s safe wrappers) when the CPU has them, else portable.
    #[default]
    Auto,
    /// Plain Rust arrays of eight lanes (the twin the SIMD path is tested against).
    Portable,
}

/// Eight f32 lanes, the int4 unpacking step and i16 multiply-add pairs: the operations the kernels
/// are written in, so that one generic kernel runs on [`Portable`] arrays or on AVX2 registers with
/// the same arithmetic lane for lane (fused multiply-adds are exactly rounded on both; integer sums
/// are exact).
pub(crate) trait Lanes: Copy {
    /// A vector of eight f32.
    type V: Copy;
    /// All lanes `v`.
    fn splat(self, v: f32) -> Self::V;
    /// Eight consecutive values.
    fn load(self, x: &[f32]) -> Self::V;
    /// `a * b + c`, one rounding.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// The lanes as an array.
    fn to_array(self, v: Self::V) -> [f32; 8];
    /// The 32 codes of 16 packed bytes (low nibbles 0..16, then high nibbles 0..16) minus `z`, as
    /// four vectors: low 0..8, low 8..16, high 0..8, high 8..16.
    fn nibbles(self, bytes: &[u8], z: Self::V) -> [Self::V; 4];

    /// Sixteen i16 (the int8 kernel's operands).
    type W: Copy;
    /// Eight i32 accumulators.
    type A: Copy;
    /// Zero accumulators.
    fn zero_i32(self) -> Self::A;
    /// Sixteen int8 values widened to i16.
    fn widen_i8(self, x: &[i8]) -> Self::W;
    /// Sixteen consecutive i16.
    fn load_i16(self, x: &[i16]) -> Self::W;
    /// `acc[j] + a[2j] b[2j] + a[2j+1] b[2j+1]` (wrapping; exact for int8-range operands).
    fn madd(self, a: Self::W, b: Self::W, acc: Self::A) -> Self::A;
    /// The sum of the accumulators (wrapping).
    fn sum_i32(self, acc: Self::A) -> i32;
}

/// The portable lanes: plain arrays.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

impl Lanes for Portable {
    type V = [f32; 8];

    #[inline(always)]
    fn splat(self, v: f32) -> [f32; 8] {
        [v; 8]
    }

    #[inline(always)]
    fn load(self, x: &[f32]) -> [f32; 8] {
        x[..8].try_into().expect("eight values")
    }

    #[inline(always)]
    fn fma(self, a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i].mul_add(b[i], c[i]))
    }

    #[inline(always)]
    fn add(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }

    #[inline(always)]
    fn to_array(self, v: [f32; 8]) -> [f32; 8] {
        v
    }

    #[inline(always)]
    fn nibbles(self, bytes: &[u8], z: [f32; 8]) -> [[f32; 8]; 4] {
        std::array::from_fn(|v| {
            std::array::from_fn(|i| {
                let b = bytes[(v % 2) * 8 + i];
                (if v < 2 { b & 15 } else { b >> 4 }) as f32 - z[i]
            })
        })
    }

    type W = [i16; 16];
    type A = [i32; 8];

    #[inline(always)]
    fn zero_i32(self) -> [i32; 8] {
        [0; 8]
    }

    #[inline(always)]
    fn widen_i8(self, x: &[i8]) -> [i16; 16] {
        std::array::from_fn(|i| x[i] as i16)
    }

    #[inline(always)]
    fn load_i16(self, x: &[i16]) -> [i16; 16] {
        x[..16].try_into().expect("sixteen values")
    }

    #[inline(always)]
    fn madd(self, a: [i16; 16], b: [i16; 16], acc: [i32; 8]) -> [i32; 8] {
        std::array::from_fn(|j| {
            let p = a[2 * j] as i32 * b[2 * j] as i32 + a[2 * j + 1] as i32 * b[2 * j + 1] as i32;
            acc[j].wrapping_add(p)
        })
    }

    #[inline(always)]
    fn sum_i32(self, acc: [i32; 8]) -> i32 {
        acc.iter().fold(0i32, |s, &v| s.wrapping_add(v))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Lanes;
    use core::arch::x86_64::{__m128i, __m256, __m256i};
    use pulp::x86::V3;

    /// AVX2 + FMA lanes: one ymm register per vector, through `pulp`'s safe intrinsic wrappers.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx2(pub(crate) V3);

    impl Lanes for Avx2 {
        type V = __m256;

        #[inline(always)]
        fn splat(self, v: f32) -> __m256 {
            self.0.avx._mm256_set1_ps(v)
        }

        #[inline(always)]
        fn load(self, x: &[f32]) -> __m256 {
            let a: [f32; 8] = x[..8].try_into().expect("eight values");
            pulp::cast(a)
        }

        #[inline(always)]
        fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            self.0.fma._mm256_fmadd_ps(a, b, c)
        }

        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            self.0.avx._mm256_add_ps(a, b)
        }

        #[inline(always)]
        fn to_array(self, v: __m256) -> [f32; 8] {
            pulp::cast(v)
        }

        #[inline(always)]
        fn nibbles(self, bytes: &[u8], z: __m256) -> [__m256; 4] {
            let v3 = self.0;
            let b: [u8; 16] = bytes[..16].try_into().expect("sixteen bytes");
            let b: __m128i = pulp::cast(b);
            let mask = v3.sse2._mm_set1_epi8(15);
            let lo = v3.sse2._mm_and_si128(b, mask);
            let hi = v3.sse2._mm_and_si128(v3.sse2._mm_srli_epi16::<4>(b), mask);
            let f = |v: __m128i| v3.avx._mm256_sub_ps(v3.avx._mm256_cvtepi32_ps(v3.avx2._mm256_cvtepu8_epi32(v)), z);
            [f(lo), f(v3.sse2._mm_srli_si128::<8>(lo)), f(hi), f(v3.sse2._mm_srli_si128::<8>(hi))]
        }

        type W = __m256i;
        type A = __m256i;

        #[inline(always)]
        fn zero_i32(self) -> __m256i {
            self.0.avx._mm256_setzero_si256()
        }

        #[inline(always)]
        fn widen_i8(self, x: &[i8]) -> __m256i {
            let b: [i8; 16] = x[..16].try_into().expect("sixteen values");
            self.0.avx2._mm256_cvtepi8_epi16(pulp::cast(b))
        }

        #[inline(always)]
        fn load_i16(self, x: &[i16]) -> __m256i {
            let a: [i16; 16] = x[..16].try_into().expect("sixteen values");
            pulp::cast(a)
        }

        #[inline(always)]
        fn madd(self, a: __m256i, b: __m256i, acc: __m256i) -> __m256i {
            self.0.avx2._mm256_add_epi32(acc, self.0.avx2._mm256_madd_epi16(a, b))
        }

        #[inline(always)]
        fn sum_i32(self, acc: __m256i) -> i32 {
            let v: [i32; 8] = pulp::cast(acc);
            v.iter().fold(0i32, |s, &x| s.wrapping_add(x))
        }
    }
}

/// A kernel written once over [`Lanes`]; `run` must be `#[inline(always)]`.
pub(crate) trait LaneKernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel on `lanes`.
    fn run<L: Lanes>(self, lanes: L) -> Self::Output;
}

#[cfg(target_arch = "x86_64")]
struct OnAvx2<K>(K, pulp::x86::V3);

#[cfg(target_arch = "x86_64")]
impl<K: LaneKernel> pulp::NullaryFnOnce for OnAvx2<K> {
    type Output = K::Output;

    #[inline(always)]
    fn call(self) -> K::Output {
        self.0.run(avx2::Avx2(self.1))
    }
}

/// Runs `kernel` on AVX2 lanes (compiled with AVX2 + FMA enabled) when `path` allows and the CPU has
/// them, on [`Portable`] lanes otherwise.
#[inline(always)]
pub(crate) fn on_lanes<K: LaneKernel>(path: KernelPath, kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if path == KernelPath::Auto
        && let Some(v3) = pulp::x86::V3::try_new()
    {
        return v3.vectorize(OnAvx2(kernel, v3));
    }
    let _ = path;
    vectorized(PortableRun(kernel))
}

struct PortableRun<K>(K);

impl<K: LaneKernel> Kernel for PortableRun<K> {
    type Output = K::Output;

    #[inline(always)]
    fn run(self) -> K::Output {
        self.0.run(Portable)
    }
}
