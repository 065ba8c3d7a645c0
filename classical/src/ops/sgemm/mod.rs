//! The f32 matrix product under [`gemm_into`](super::gemm_into): BLIS-style blocking around a
//! register-tile micro-kernel.
//!
//! `C (m x n) = A (m x k) B (k x n)` (or `C += ...`) runs in five loops. The inner dimension is cut
//! into [`k_blocks`] (equal lengths of at most [`KC`], a function of `k` alone); for each block and
//! each run of at most [`NC`] columns, the block of `B` is packed once into slivers of
//! [`NR`](kernel::NR) columns, then every block of at most [`MC`] rows of `A` is packed into slivers
//! of [`MR`](kernel::MR) rows and the micro-kernel sweeps the `MR x NR` tiles (the `B` sliver stays in
//! L1, the `A` block in L2).
//!
//! Reproducibility: each element of `C` is `C + Σ_blocks (fma chain over the block)`, blocks in order,
//! whatever the thread count, because threads split rows or columns of `C`, never `k`, and the
//! blocking of `k` depends on `k` only (not on the cache sizes). The micro-kernels ([`kernel`]) all
//! perform the same IEEE operations, so the AVX2+FMA path and the portable one agree bit for bit;
//! only the fallback for x86-64 CPUs without FMA rounds differently.

mod kernel;
mod pack;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use kernel::{KernelFn, MR, NR};
pub(crate) use pack::Strided;
use pack::{pack_a, pack_b};
use rayon::prelude::*;
use std::cell::Cell;

/// The longest block of `k` the micro-kernel sums before adding to `C` (a `KC x NR` sliver of `B`,
/// 16 KiB, fits in L1 beside the `A` sliver it meets).
pub(crate) const KC: usize = 256;
/// The most rows of `A` packed at once (`MC x KC` values, 96 KiB, stay in L2).
const MC: usize = 96;
/// The most columns of `B` packed at once (`KC x NC` values, 4 MiB, stay in L3).
const NC: usize = 4096;
/// Products of at most this many rows skip the tiles (see [`kernel::few_rows`]): in a 6-row tile
/// one row would waste five sixths of the multiply-adds (MobileNetV2's depthwise convolutions, one
/// output channel per group: MobileNetV2-0.35 inference ran 1.35-2.3x slower with them than on the
/// `gemm` crate, in two noisy runs before this path existed).
const FEW_ROWS: usize = 2;
/// Products with fewer multiply-adds than this run on one thread (threading costs more there).
const PARALLEL_MACS: usize = 1 << 18;

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// [`kernel::portable`] with `f32::mul_add`: bit-identical to the SIMD kernels; the choice on
    /// architectures other than x86-64 (whose CPUs have a fused multiply-add instruction).
    Portable,
    /// [`kernel::portable`] with a separate multiply and add: x86-64 CPUs without FMA.
    PortableUnfused,
    /// The AVX2 + FMA intrinsics kernel.
    Avx2Fma,
    /// The AVX-512 tile kernel (AVX2 + FMA for products of a few rows).
    Avx512,
}

static DETECTED: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();

impl Backend {
    /// The fastest kernel this CPU runs.
    ///
    /// Measured on the 2-core AMD EPYC (Zen 3) under a load average of about 10 (other builds), best
    /// of 7 interleaved runs, `Avx2Fma` against the `gemm` crate (0.19) this replaced, same calls:
    /// one thread (thread CPU time) 0.93-1.05x at 256^3, 0.93-0.96x at 512^3, 0.97-1.03x at 384^3
    /// (the same speed: both run a 6x16 FMA tile; prefetching the C tile gained 512^3 from 0.8x);
    /// two threads (wall time) 0.91-0.94x at 256^3, 0.94-1.13x at 512^3, 1.3-2.7x at 1024^3. The
    /// portable kernels are the fallback only (the autovectorised `Portable` is not measured here).
    ///
    /// `Avx512` against `Avx2Fma` on the 2-core Xeon (Sapphire Rapids class, AVX-512) under a load
    /// average of about 5, one thread, best of 20 interleaved runs: 1.23x at 512^3, 1.32x at
    /// 1024 x 688 x 256, 1.29x at 256 x 256 x 688 and 1024 x 256 x 688 (the GPT bench's shapes).
    pub(crate) fn detect() -> Self {
        *DETECTED.get_or_init(|| {
            if Self::Avx512.available() {
                Self::Avx512
            } else if Self::Avx2Fma.available() {
                Self::Avx2Fma
            } else if cfg!(target_arch = "x86_64") {
                Self::PortableUnfused
            } else {
                Self::Portable
            }
        })
    }

    /// True when this CPU can run the kernel.
    pub(crate) fn available(self) -> bool {
        match self {
            Self::Portable | Self::PortableUnfused => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => Self::Avx2Fma.available() && std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx2Fma | Self::Avx512 => false,
        }
    }

    fn kernel(self) -> KernelFn {
        match self {
            Self::Portable => kernel::portable::<kernel::Fused>,
            Self::PortableUnfused => kernel::portable::<kernel::Unfused>,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => x86_64::avx2_fma,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => x86_64::avx512,
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx2Fma | Self::Avx512 => unreachable!("the x86-64 kernels are never available elsewhere"),
        }
    }
}

/// The blocks `(start, length)` of `0..k`: `k.div_ceil(KC)` blocks of equal length (the first ones
/// one longer when `k` does not divide evenly), so the summation order depends on `k` alone.
pub(crate) fn k_blocks(k: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = k.div_ceil(KC).max(1);
    let (base, extra) = (k / count, k % count);
    (0..count).map(move |b| (b * base + b.min(extra), base + usize::from(b < extra)))
}

/// `C`'s memory seen through a raw pointer, so that threads can write disjoint tiles of it.
#[derive(Clone, Copy)]
struct CPtr {
    ptr: *mut f32,
    ldc: usize,
}

// SAFETY: a `CPtr` is only dereferenced for tiles that one task owns (the callers hand disjoint row or
// column ranges of `C` to different tasks), while the `&mut [f32]` it came from is borrowed.
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

impl CPtr {
    /// The pointer to element `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must lie inside the matrix the pointer was made from.
    unsafe fn at(self, i: usize, j: usize) -> *mut f32 {
        // SAFETY: in bounds by the caller's guarantee.
        unsafe { self.ptr.add(i * self.ldc + j) }
    }
}

thread_local! {
    static A_PACK: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static B_PACK: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on `len` values of this thread's buffer `key` (taken out while `f` runs, so a nested call
/// gets a fresh one instead of aliasing it).
fn with_buffer<R>(
    key: &'static std::thread::LocalKey<Cell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = key.take();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let out = f(&mut buf[..len]);
    key.set(buf);
    out
}

/// Every `MR x NR` tile of the `mc x nc` block of `C` at `c` from the packed `ap` (`mc` rows) and `bp`
/// (`nc` columns), `kc` deep. Partial tiles go through a local tile with the same arithmetic.
///
/// # Safety
/// `c` must point at an `mc x nc` block of `C` that only this call accesses; `ap` and `bp` must be
/// packed for `mc` rows and `nc` columns at depth `kc`; the backend must be available.
#[allow(clippy::too_many_arguments)]
unsafe fn macro_kernel(kern: KernelFn, kc: usize, ap: &[f32], mc: usize, bp: &[f32], nc: usize, c: CPtr, add: bool) {
    for (js, b_sliver) in bp.chunks_exact(NR * kc).enumerate() {
        let (j, cols) = (js * NR, NR.min(nc - js * NR));
        for (is, a_sliver) in ap.chunks_exact(MR * kc).enumerate() {
            let (i, rows) = (is * MR, MR.min(mc - is * MR));
            if rows == MR && cols == NR {
                // SAFETY: the slivers hold kc * MR and kc * NR values; the tile lies in the block.
                unsafe { kern(kc, a_sliver.as_ptr(), b_sliver.as_ptr(), c.at(i, j), c.ldc, add) };
            } else {
                let mut tile = [0.0f32; MR * NR];
                // SAFETY: as above, into the local tile (NR values a row).
                unsafe { kern(kc, a_sliver.as_ptr(), b_sliver.as_ptr(), tile.as_mut_ptr(), NR, false) };
                for (r, row) in tile.chunks_exact(NR).take(rows).enumerate() {
                    for (s, &v) in row[..cols].iter().enumerate() {
                        // SAFETY: r < rows and s < cols keep (i + r, j + s) inside the block.
                        unsafe {
                            let dst = c.at(i + r, j + s);
                            *dst = if add { *dst + v } else { v };
                        }
                    }
                }
            }
        }
    }
}

/// Packs rows `rows` of `A` at the `k` block `(p0, kc)` and runs the macro-kernel against the packed
/// `bp` (`nc` columns) into the block of `C` at `c` (row `rows.0`, the packed block's first column).
///
/// # Safety
/// As [`macro_kernel`], for the `rows.1 x nc` block at `c`.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_block(
    kern: KernelFn,
    a: Strided,
    rows: (usize, usize),
    (p0, kc): (usize, usize),
    bp: &[f32],
    nc: usize,
    c: CPtr,
    add: bool,
) {
    with_buffer(&A_PACK, rows.1.div_ceil(MR) * MR * kc, |ap| {
        pack_a(a, rows, (p0, kc), ap);
        // SAFETY: `ap` was just packed for rows.1 rows; the rest is the caller's guarantee.
        unsafe { macro_kernel(kern, kc, ap, rows.1, bp, nc, c, add) }
    })
}

/// The product for columns `cols` of `C` (all `m` rows) on this thread.
///
/// # Safety
/// `c` must point at `C` (`m` rows, `ldc` apart) and columns `cols` of it must be this call's alone.
#[allow(clippy::too_many_arguments)]
unsafe fn serial(
    kern: KernelFn,
    m: usize,
    k: usize,
    a: Strided,
    b: Strided,
    cols: (usize, usize),
    c: CPtr,
    accumulate: bool,
) {
    let (c0, width) = cols;
    for jc in (c0..c0 + width).step_by(NC) {
        let nc = NC.min(c0 + width - jc);
        for (p0, kc) in k_blocks(k) {
            with_buffer(&B_PACK, nc.div_ceil(NR) * NR * kc, |bp| {
                pack_b(b, (p0, kc), (jc, nc), bp);
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    // SAFETY: rows ic..ic+mc and columns jc..jc+nc lie in this call's columns of C.
                    unsafe {
                        rows_block(
                            kern,
                            a,
                            (ic, mc),
                            (p0, kc),
                            bp,
                            nc,
                            CPtr { ptr: c.at(ic, jc), ..c },
                            accumulate || p0 > 0,
                        )
                    };
                }
            });
        }
    }
}

/// `C = A B` (or `C += A B`) for the `m x k` matrix `a`, the `k x n` matrix `b` and the contiguous
/// row-major `m x n` prefix of `c`, with `backend`'s micro-kernel, on up to `threads` rayon threads.
///
/// The caller guarantees `m, n, k > 0`, `c.len() >= m * n`, and that `a` and `b` hold every element
/// their strides reach (`gemm_into` checks all of it). Panics if `backend` is not available.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Strided,
    b: Strided,
    c: &mut [f32],
    accumulate: bool,
    backend: Backend,
    threads: usize,
) {
    assert!(backend.available(), "the {backend:?} kernel needs CPU features this machine lacks");
    assert!(m > 0 && n > 0 && k > 0 && c.len() >= m * n, "sgemm: empty or undersized operands");
    let c = &mut c[..m * n];
    if m <= FEW_ROWS {
        match backend {
            Backend::Portable => kernel::few_rows::<kernel::Fused>((m, n, k), a, b, c, accumulate),
            Backend::PortableUnfused => kernel::few_rows::<kernel::Unfused>((m, n, k), a, b, c, accumulate),
            // SAFETY: `available()` was asserted above.
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2Fma | Backend::Avx512 => unsafe { x86_64::few_rows_avx2_fma((m, n, k), a, b, c, accumulate) },
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx2Fma | Backend::Avx512 => unreachable!("the x86-64 kernels are never available elsewhere"),
        }
        return;
    }
    let kern = backend.kernel();
    let whole = CPtr { ptr: c.as_mut_ptr(), ldc: n };
    if threads < 2 || m * n * k < PARALLEL_MACS {
        // SAFETY: `whole` points at all of C, borrowed exclusively here.
        unsafe { serial(kern, m, k, a, b, (0, n), whole, accumulate) };
    } else if m >= 4 * MR * threads {
        split_rows(kern, m, n, k, a, b, c, accumulate, threads);
    } else {
        // Few rows: each thread takes a run of columns (packing all of the small A itself).
        let width = n.div_ceil(threads).next_multiple_of(NR);
        (0..n).step_by(width).collect::<Vec<_>>().into_par_iter().for_each(|c0| {
            // SAFETY: the column runs c0..c0+width are disjoint, so each task writes its own elements
            // of C, which stays exclusively borrowed until the parallel loop returns.
            unsafe { serial(kern, m, k, a, b, (c0, width.min(n - c0)), whole, accumulate) };
        });
    }
}

/// The parallel product with rows of `C` split among the threads: each block of `B` is packed once (in
/// parallel) and shared.
#[allow(clippy::too_many_arguments)]
fn split_rows(
    kern: KernelFn,
    m: usize,
    n: usize,
    k: usize,
    a: Strided,
    b: Strided,
    c: &mut [f32],
    accumulate: bool,
    threads: usize,
) {
    // Row blocks of at most about MC rows, as many as a multiple of the thread count.
    let blocks = m.div_ceil(MC).next_multiple_of(threads);
    let mc = m.div_ceil(blocks).next_multiple_of(MR);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        let slivers = nc.div_ceil(NR);
        for (p0, kc) in k_blocks(k) {
            with_buffer(&B_PACK, slivers * NR * kc, |bp| {
                let per_task = slivers.div_ceil(threads);
                bp.par_chunks_mut(per_task * NR * kc).enumerate().for_each(|(t, part)| {
                    let first = t * per_task * NR;
                    pack_b(b, (p0, kc), (jc + first, (per_task * NR).min(nc - first)), part);
                });
                let bp = &*bp;
                c.par_chunks_mut(mc * n).enumerate().for_each(|(blk, rows)| {
                    let count = rows.len() / n;
                    let at = CPtr { ptr: rows.as_mut_ptr(), ldc: n };
                    // SAFETY: `rows` is this task's exclusive run of whole rows of C; columns jc..jc+nc
                    // of its `count` rows lie inside it; `bp` holds the packed nc columns.
                    unsafe {
                        rows_block(
                            kern,
                            a,
                            (blk * mc, count),
                            (p0, kc),
                            bp,
                            nc,
                            CPtr { ptr: at.at(0, jc), ..at },
                            accumulate || p0 > 0,
                        )
                    };
                });
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-0.5, 0.5) with a full 24-bit mantissa spread.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = crate::seed::derive(state, &[7]);
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// `C (+)= A B` with `backend` on a pool of `threads` threads; `a_t`/`b_t` read the operands
    /// through transposed strides (as the backward passes do).
    #[allow(clippy::too_many_arguments)]
    fn product(
        m: usize,
        n: usize,
        k: usize,
        a_t: bool,
        b_t: bool,
        backend: Backend,
        threads: usize,
        accumulate: bool,
    ) -> Vec<f32> {
        let (a, b) = (values(m * k, 1 + m as u64), values(k * n, 2 + n as u64));
        let a = if a_t { Strided { data: &a, rs: 1, cs: m } } else { Strided { data: &a, rs: k, cs: 1 } };
        let b = if b_t { Strided { data: &b, rs: 1, cs: k } } else { Strided { data: &b, rs: n, cs: 1 } };
        let mut c = values(m * n, 3);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| sgemm(m, n, k, a, b, &mut c, accumulate, backend, rayon::current_num_threads()));
        c
    }

    /// Shapes that cover partial tiles, several k blocks (k over KC, unequal splits), the row split
    /// (m >= 4 MR threads), the column split (few rows) and the serial path.
    const SHAPES: [(usize, usize, usize); 10] = [
        (1, 1, 1),
        (1, 700, 9),
        (2, 300, 513),
        (7, 17, 3),
        (6, 16, 257),
        (13, 300, 600),
        (100, 70, 513),
        (130, 33, 1030),
        (64, 64, 64),
        (200, 200, 300),
    ];

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The AVX2+FMA and AVX-512 kernels and the portable one with fused multiply-adds give the same
    /// bits (each SIMD kernel is checked where the CPU has it).
    #[test]
    fn simd_kernels_match_their_portable_twin_bit_for_bit() {
        for backend in [Backend::Avx2Fma, Backend::Avx512].into_iter().filter(|b| b.available()) {
            for (m, n, k) in SHAPES {
                for (a_t, b_t, acc) in
                    [(false, false, false), (true, false, true), (false, true, false), (true, true, true)]
                {
                    let simd = product(m, n, k, a_t, b_t, backend, 2, acc);
                    let twin = product(m, n, k, a_t, b_t, Backend::Portable, 2, acc);
                    assert_eq!(bits(&simd), bits(&twin), "{backend:?} {m}x{n}x{k} a_t {a_t} b_t {b_t} acc {acc}");
                }
            }
        }
    }

    /// One, two or three threads give the same bits (threads split C, never k).
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for (m, n, k) in SHAPES {
            let one = product(m, n, k, false, true, Backend::detect(), 1, true);
            for threads in [2, 3] {
                let many = product(m, n, k, false, true, Backend::detect(), threads, true);
                assert_eq!(bits(&one), bits(&many), "{m}x{n}x{k} on {threads} threads");
            }
        }
    }

    /// Every backend (the unfused fallback too) is the f64 product to f32 rounding, strided or not.
    #[test]
    fn every_backend_matches_the_f64_product() {
        for backend in [Backend::Portable, Backend::PortableUnfused, Backend::Avx2Fma, Backend::Avx512] {
            if !backend.available() {
                continue;
            }
            for (m, n, k) in SHAPES {
                let (a, b, c0) = (values(m * k, 1 + m as u64), values(k * n, 2 + n as u64), values(m * n, 3));
                let got = product(m, n, k, true, false, backend, 2, true);
                for i in 0..m {
                    for j in 0..n {
                        // a was read transposed: A(i, p) = a[p * m + i].
                        let exact: f64 = c0[i * n + j] as f64
                            + (0..k).map(|p| a[p * m + i] as f64 * b[p * n + j] as f64).sum::<f64>();
                        let err = (got[i * n + j] as f64 - exact).abs();
                        assert!(err < 1e-5 * (k as f64).sqrt() + 1e-6, "{backend:?} {m}x{n}x{k} ({i},{j}): {err}");
                    }
                }
            }
        }
    }

    /// The k blocks tile 0..k in order, none longer than KC, and depend on k alone.
    #[test]
    fn k_blocks_tile_the_inner_dimension() {
        for k in [1, 2, 255, 256, 257, 512, 513, 1000, 4097] {
            let blocks: Vec<_> = k_blocks(k).collect();
            assert_eq!(blocks.len(), k.div_ceil(KC));
            let mut next = 0;
            for (start, len) in blocks {
                assert!(start == next && len > 0 && len <= KC, "k {k}");
                next += len;
            }
            assert_eq!(next, k);
        }
    }
}
