//! The amplitude kernels: one generic loop per *shape* of operation, not one per gate.
//!
//! [`apply_grouped`] visits every group of `D = 2^k` amplitudes that a `k`-target op mixes (with the
//! control bits forced to 1, so amplitudes whose controls are 0 are never read), hands the group to a
//! closure (a dense `D x D` matrix product, or a diagonal scaling), and writes it back: each touched
//! amplitude is read and written once. [`apply_diagonal_table`] multiplies every amplitude by an entry
//! of a `2^k` table indexed by `k` gathered bits, for fused diagonal blocks on many qubits.
//!
//! Both run serially below [`PARALLEL_THRESHOLD_QUBITS`] and on rayon above it, splitting the work into
//! fixed chunks; every amplitude is computed by exactly the same arithmetic either way, so results are
//! bit-identical whatever the thread count.

use crate::matrix::{C64, Matrix};
use rayon::prelude::*;
use std::marker::PhantomData;

/// States with at least this many qubits are processed on rayon's pool; smaller ones serially, where
/// the cost of splitting exceeds the work (measured: `cargo bench --bench statevector`).
pub const PARALLEL_THRESHOLD_QUBITS: usize = 14;

/// Work items (groups or amplitudes) per parallel chunk.
const CHUNK: usize = 1 << 12;

/// How a kernel may use threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// Always one thread.
    Sequential,
    /// Rayon's pool above [`PARALLEL_THRESHOLD_QUBITS`], serial below.
    #[default]
    Auto,
}

impl Parallelism {
    fn use_rayon(self, n_qubits: usize) -> bool {
        self == Parallelism::Auto && n_qubits >= PARALLEL_THRESHOLD_QUBITS
    }
}

/// A raw view of the amplitudes that rayon tasks may share.
///
/// Each task writes a set of indices disjoint from every other task's, which the borrow checker
/// cannot see; [`SharedAmps::get`]/[`SharedAmps::set`] are `unsafe` with that as their contract.
#[derive(Clone, Copy)]
struct SharedAmps<'a> {
    ptr: *mut C64,
    len: usize,
    _borrow: PhantomData<&'a mut [C64]>,
}

// SAFETY: the pointer comes from a `&mut [C64]` that outlives 'a, and callers guarantee that tasks
// touch disjoint indices, so sharing the view across threads creates no data race.
unsafe impl Send for SharedAmps<'_> {}
// SAFETY: as above.
unsafe impl Sync for SharedAmps<'_> {}

impl<'a> SharedAmps<'a> {
    fn new(amps: &'a mut [C64]) -> Self {
        Self { ptr: amps.as_mut_ptr(), len: amps.len(), _borrow: PhantomData }
    }

    /// # Safety
    /// `i < len`, and no other task writes index `i` concurrently.
    #[inline(always)]
    unsafe fn get(&self, i: usize) -> C64 {
        debug_assert!(i < self.len);
        // SAFETY: in bounds and not concurrently written, by the caller's contract.
        unsafe { *self.ptr.add(i) }
    }

    /// # Safety
    /// `i < len`, and no other task reads or writes index `i` concurrently.
    #[inline(always)]
    unsafe fn set(&self, i: usize, v: C64) {
        debug_assert!(i < self.len);
        // SAFETY: in bounds and exclusively owned by this task, by the caller's contract.
        unsafe { *self.ptr.add(i) = v }
    }
}

/// Inserts a zero bit at each of `sorted_positions` (ascending) into `g`.
#[inline(always)]
pub(crate) fn insert_zero_bits(mut g: usize, sorted_positions: &[usize]) -> usize {
    for &p in sorted_positions {
        let low = g & ((1usize << p) - 1);
        g = ((g >> p) << (p + 1)) | low;
    }
    g
}

/// Runs `body(range)` over `0..count` in chunks: serially, or on rayon when `parallel`.
#[inline(always)]
fn for_each_chunk(count: usize, parallel: bool, body: impl Fn(std::ops::Range<usize>) + Sync) {
    if parallel && count > CHUNK {
        let chunks = count.div_ceil(CHUNK);
        (0..chunks).into_par_iter().for_each(|c| body(c * CHUNK..((c + 1) * CHUNK).min(count)));
    } else {
        body(0..count);
    }
}

/// Applies `f` to every group of `D = 2^targets.len()` amplitudes whose `controls` are all 1.
///
/// Within a group, position `j` holds the amplitude whose target bits spell `j` (bit `b` of `j` is
/// qubit `targets[b]`). The caller guarantees qubits are distinct and `< n_qubits`, and
/// `amps.len() == 2^n_qubits`.
#[inline(always)]
pub fn apply_grouped<const D: usize>(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    parallelism: Parallelism,
    f: impl Fn(&mut [C64; D]) + Sync,
) {
    debug_assert_eq!(1usize << targets.len(), D);
    debug_assert_eq!(amps.len(), 1usize << n_qubits);
    // The fixed (target and control) qubits, sorted, on the stack: this runs once per op, and for the
    // small states of QML batches a heap allocation here costs more than the op itself.
    let mut fixed_buf = [0usize; usize::BITS as usize];
    let n_fixed = targets.len() + controls.len();
    for (slot, &q) in fixed_buf.iter_mut().zip(targets.iter().chain(controls)) {
        *slot = q;
    }
    let fixed = &mut fixed_buf[..n_fixed];
    fixed.sort_unstable();
    let fixed = &*fixed;
    let control_mask: usize = controls.iter().map(|&q| 1usize << q).sum();
    let mut offsets = [0usize; D];
    for (j, off) in offsets.iter_mut().enumerate() {
        *off = targets.iter().enumerate().filter(|(b, _)| j >> b & 1 == 1).map(|(_, &q)| 1usize << q).sum();
    }
    let groups = 1usize << (n_qubits - fixed.len());
    // Groups whose free bits differ only below the lowest fixed qubit sit at consecutive indices:
    // walk them as runs, computing the base index once per run (the inner loop is plain strides).
    let run = 1usize << fixed.first().copied().unwrap_or(n_qubits);
    let shared = SharedAmps::new(amps);
    for_each_chunk(groups, parallelism.use_rayon(n_qubits), |range| {
        let mut v = [C64::new(0.0, 0.0); D];
        let mut g = range.start;
        while g < range.end {
            let lo = g & (run - 1);
            let len = (run - lo).min(range.end - g);
            let base = insert_zero_bits(g - lo, fixed) | control_mask | lo;
            for i in base..base + len {
                #[allow(clippy::needless_range_loop)] // `j` indexes `v` and `offsets` alike
                for j in 0..D {
                    // SAFETY: `i + offsets[j]` sets only bits below n_qubits, so it is < amps.len();
                    // distinct groups give disjoint index sets (their free bits differ), and each
                    // group belongs to exactly one chunk, hence to one task.
                    v[j] = unsafe { shared.get(i + offsets[j]) };
                }
                f(&mut v);
                #[allow(clippy::needless_range_loop)]
                for j in 0..D {
                    // SAFETY: as above.
                    unsafe { shared.set(i + offsets[j], v[j]) };
                }
            }
            g += len;
        }
    });
}

/// A dense matrix split into real and imaginary parts, column-major (`re[j][i]` is row `i`, column
/// `j`), so that the product with a group vectorises over rows: `y += M[:, j] * x_j`.
#[derive(Clone, Copy)]
struct DenseArray<const D: usize> {
    re: [[f64; D]; D],
    im: [[f64; D]; D],
}

impl<const D: usize> DenseArray<D> {
    fn new(m: &Matrix) -> Self {
        let mut re = [[0.0; D]; D];
        let mut im = [[0.0; D]; D];
        for j in 0..D {
            for i in 0..D {
                re[j][i] = m.get(i, j).re;
                im[j][i] = m.get(i, j).im;
            }
        }
        Self { re, im }
    }

    /// `v <- M v`. With `FMA`, products are fused multiply-adds (only call it where the CPU has FMA:
    /// without the instruction `mul_add` is a slow library call).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // four arrays indexed alike read clearer with indices
    fn apply<const FMA: bool>(&self, v: &mut [C64; D]) {
        #[inline(always)]
        fn mac<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
            if FMA { a.mul_add(b, c) } else { a * b + c }
        }
        let mut yre = [0.0; D];
        let mut yim = [0.0; D];
        for j in 0..D {
            let (xr, xi) = (v[j].re, v[j].im);
            for i in 0..D {
                yre[i] = mac::<FMA>(self.re[j][i], xr, yre[i]);
                yre[i] = mac::<FMA>(-self.im[j][i], xi, yre[i]);
                yim[i] = mac::<FMA>(self.re[j][i], xi, yim[i]);
                yim[i] = mac::<FMA>(self.im[j][i], xr, yim[i]);
            }
        }
        for i in 0..D {
            v[i] = C64::new(yre[i], yim[i]);
        }
    }
}

/// True when this CPU has AVX2 and FMA (checked once).
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static DETECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`apply_grouped`] with a dense matrix, compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA ([`has_avx2_fma`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_dense_avx2_fma<const D: usize>(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    a: &DenseArray<D>,
    parallelism: Parallelism,
) {
    apply_grouped::<D>(amps, n_qubits, targets, controls, parallelism, |v| a.apply::<true>(v))
}

/// Largest number of targets of a dense matrix the kernels accept (fused blocks are capped by it).
pub const MAX_DENSE_TARGETS: usize = 6;

/// Which implementation [`apply_dense`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseKernel {
    /// Portable code (SSE2 on x86-64), separate multiply and add.
    Portable,
    /// Compiled for AVX2 with fused multiply-adds; used when the CPU has both (measured 1.3-2x faster
    /// for fused 3- to 5-qubit blocks at 22-24 qubits).
    Avx2Fma,
}

impl DenseKernel {
    /// The fastest kernel this CPU runs.
    pub fn best() -> Self {
        if has_avx2_fma() { DenseKernel::Avx2Fma } else { DenseKernel::Portable }
    }
}

/// Applies a dense matrix on `targets` (at most [`MAX_DENSE_TARGETS`]) where all `controls` are 1,
/// with the fastest kernel for this CPU.
pub fn apply_dense(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    m: &Matrix,
    parallelism: Parallelism,
) {
    apply_dense_with(DenseKernel::best(), amps, n_qubits, targets, controls, m, parallelism)
}

/// [`apply_dense`] with a chosen kernel (for tests that compare the fast path with its portable twin).
/// An unsupported choice falls back to the portable kernel.
pub fn apply_dense_with(
    kernel: DenseKernel,
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    m: &Matrix,
    parallelism: Parallelism,
) {
    let fast = kernel == DenseKernel::Avx2Fma && has_avx2_fma();
    match targets.len() {
        1 => apply_dense_sized::<2>(fast, amps, n_qubits, targets, controls, m, parallelism),
        2 => apply_dense_sized::<4>(fast, amps, n_qubits, targets, controls, m, parallelism),
        3 => apply_dense_sized::<8>(fast, amps, n_qubits, targets, controls, m, parallelism),
        4 => apply_dense_sized::<16>(fast, amps, n_qubits, targets, controls, m, parallelism),
        5 => apply_dense_sized::<32>(fast, amps, n_qubits, targets, controls, m, parallelism),
        6 => apply_dense_sized::<64>(fast, amps, n_qubits, targets, controls, m, parallelism),
        k => panic!("apply_dense supports 1..={MAX_DENSE_TARGETS} targets, got {k}"),
    }
}

/// [`apply_dense_with`] for one matrix size. Kept out of line so that each call reserves the stack
/// of its own size only (a 64 x 64 matrix is 64 KiB; small ops must not pay for probing it).
#[inline(never)]
fn apply_dense_sized<const D: usize>(
    fast: bool,
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    m: &Matrix,
    parallelism: Parallelism,
) {
    let a = DenseArray::<D>::new(m);
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` implies the CPU supports AVX2 and FMA.
        return unsafe { apply_dense_avx2_fma::<D>(amps, n_qubits, targets, controls, &a, parallelism) };
    }
    let _ = fast;
    apply_grouped::<D>(amps, n_qubits, targets, controls, parallelism, |v| a.apply::<false>(v))
}

/// Applies a diagonal on few `targets` (at most 3) where all `controls` are 1. Target qubits whose
/// diagonal entry for bit 0 is exactly 1 are treated as controls, so amplitudes left unchanged are not
/// touched (`p`, `t`, `cz`, `cp` touch a half or a quarter of the state).
pub fn apply_small_diagonal(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    d: &[C64],
    parallelism: Parallelism,
) {
    let one = C64::new(1.0, 0.0);
    if targets.len() == 1 && d[0] == one {
        let mut all_controls = controls.to_vec();
        all_controls.push(targets[0]);
        let d1 = d[1];
        return apply_grouped::<1>(amps, n_qubits, &[], &all_controls, parallelism, |v| v[0] *= d1);
    }
    macro_rules! go {
        ($d:literal) => {{
            let mut a = [one; $d];
            a.copy_from_slice(d);
            apply_grouped::<$d>(amps, n_qubits, targets, controls, parallelism, |v| {
                for (x, s) in v.iter_mut().zip(&a) {
                    *x *= s;
                }
            })
        }};
    }
    match targets.len() {
        1 => go!(2),
        2 => go!(4),
        3 => go!(8),
        k => panic!("apply_small_diagonal supports 1..=3 targets, got {k}"),
    }
}

/// Multiplies amplitude `i` by `table[t(i)]`, where bit `b` of `t(i)` is bit `qubits[b]` of `i`.
pub fn apply_diagonal_table(
    amps: &mut [C64],
    n_qubits: usize,
    qubits: &[usize],
    table: &[C64],
    parallelism: Parallelism,
) {
    debug_assert_eq!(table.len(), 1 << qubits.len());
    let gather = |i: usize| qubits.iter().enumerate().fold(0usize, |t, (b, &q)| t | ((i >> q) & 1) << b);
    let body = |base: usize, chunk: &mut [C64]| {
        for (k, a) in chunk.iter_mut().enumerate() {
            *a *= table[gather(base + k)];
        }
    };
    if parallelism.use_rayon(n_qubits) {
        amps.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| body(c * CHUNK, chunk));
    } else {
        body(0, amps);
    }
}
