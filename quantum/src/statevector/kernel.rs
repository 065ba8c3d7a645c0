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

use crate::error::{QuantumError, Result};
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

/// Checks what every kernel needs: `amps.len() == 2^n_qubits`, and the target and control qubits
/// distinct and below `n_qubits`.
pub fn check_layout(amps: &[C64], n_qubits: usize, targets: &[usize], controls: &[usize]) -> Result<()> {
    if n_qubits >= usize::BITS as usize || amps.len() != 1usize << n_qubits {
        return Err(QuantumError::SizeMismatch {
            what: format!("amplitudes of a {n_qubits}-qubit state"),
            expected: 1usize.checked_shl(n_qubits as u32).unwrap_or(0),
            got: amps.len(),
        });
    }
    let qubits: Vec<usize> = targets.iter().chain(controls).copied().collect();
    check_qubits(&qubits, n_qubits, "kernel")
}

/// Checks that `qubits` are below `n_qubits` and distinct; `what` names the operation in the error.
pub(crate) fn check_qubits(qubits: &[usize], n_qubits: usize, what: &str) -> Result<()> {
    for (i, &q) in qubits.iter().enumerate() {
        if q >= n_qubits {
            return Err(QuantumError::QubitOutOfRange { qubit: q, n_qubits });
        }
        if qubits[..i].contains(&q) {
            return Err(QuantumError::RepeatedQubit { gate: what.into(), qubit: q });
        }
    }
    Ok(())
}

/// Checks a kernel's target count `k` is in `1..=max` (`takes` names the kernel: "dense kernels
/// take") and that its matrix or diagonal (`what`) has `2^k` entries per side.
fn check_targets(takes: &str, k: usize, max: usize, what: &str, size: usize) -> Result<()> {
    if !(1..=max).contains(&k) {
        return Err(QuantumError::Unsupported(format!("{takes} 1 to {max} targets, got {k}")));
    }
    if size != 1 << k {
        return Err(QuantumError::SizeMismatch { what: format!("{what} on {k} targets"), expected: 1 << k, got: size });
    }
    Ok(())
}

/// Applies `f` to every group of `D = 2^targets.len()` amplitudes whose `controls` are all 1.
///
/// Within a group, position `j` holds the amplitude whose target bits spell `j` (bit `b` of `j` is
/// qubit `targets[b]`). Errors (changing nothing) when [`check_layout`] fails or `D` is not
/// `2^targets.len()`.
pub fn apply_grouped<const D: usize>(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    parallelism: Parallelism,
    f: impl Fn(&mut [C64; D]) + Sync,
) -> Result<()> {
    check_layout(amps, n_qubits, targets, controls)?;
    if targets.len() >= usize::BITS as usize || 1usize << targets.len() != D {
        return Err(QuantumError::SizeMismatch {
            what: "group of the targets".into(),
            expected: D,
            got: 1 << targets.len(),
        });
    }
    // SAFETY: checked just above.
    unsafe { apply_grouped_unchecked::<D>(amps, n_qubits, targets, controls, parallelism, f) };
    Ok(())
}

/// [`apply_grouped`] without its checks.
///
/// # Safety
/// `amps.len() == 2^n_qubits`, the qubits of `targets` and `controls` are distinct and below
/// `n_qubits`, and `D == 2^targets.len()`: the kernel reads and writes through raw pointers at
/// indices built from those qubits.
#[inline(always)]
pub(crate) unsafe fn apply_grouped_unchecked<const D: usize>(
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

/// Proof that this CPU has AVX2 and FMA: only [`Avx2Fma::detect`] makes one, after asking the CPU.
#[derive(Debug, Clone, Copy)]
struct Avx2Fma(());

impl Avx2Fma {
    /// The token, when the CPU has both features.
    fn detect() -> Option<Self> {
        has_avx2_fma().then_some(Avx2Fma(()))
    }
}

/// [`apply_grouped`] with a dense matrix, compiled for AVX2 + FMA (the token proves the CPU has
/// them).
///
/// # Safety
/// The layout preconditions of [`apply_grouped_unchecked`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_dense_avx2_fma<const D: usize>(
    _cpu: Avx2Fma,
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    a: &DenseArray<D>,
    parallelism: Parallelism,
) {
    // SAFETY: the caller's layout guarantees.
    unsafe { apply_grouped_unchecked::<D>(amps, n_qubits, targets, controls, parallelism, |v| a.apply::<true>(v)) }
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

/// Applies a dense matrix on `targets` (1 to [`MAX_DENSE_TARGETS`]) where all `controls` are 1,
/// with the fastest kernel for this CPU. Errors, changing nothing, on a bad layout
/// ([`check_layout`]), a target count outside that range or a matrix of another size.
pub fn apply_dense(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    m: &Matrix,
    parallelism: Parallelism,
) -> Result<()> {
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
) -> Result<()> {
    check_layout(amps, n_qubits, targets, controls)?;
    check_targets("dense kernels take", targets.len(), MAX_DENSE_TARGETS, "matrix", m.dim())?;
    // SAFETY: checked just above.
    unsafe { apply_dense_unchecked(kernel, amps, n_qubits, targets, controls, m, parallelism) };
    Ok(())
}

/// [`apply_dense_with`] without its checks.
///
/// # Safety
/// The preconditions of [`apply_grouped_unchecked`], `targets.len()` in `1..=MAX_DENSE_TARGETS` and
/// `m` of dimension `2^targets.len()`.
pub(crate) unsafe fn apply_dense_unchecked(
    kernel: DenseKernel,
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    m: &Matrix,
    parallelism: Parallelism,
) {
    let cpu = if kernel == DenseKernel::Avx2Fma { Avx2Fma::detect() } else { None };
    // SAFETY (every arm): the caller's guarantees; the arm matches D to the target count.
    unsafe {
        match targets.len() {
            1 => apply_dense_sized::<2>(cpu, amps, n_qubits, targets, controls, m, parallelism),
            2 => apply_dense_sized::<4>(cpu, amps, n_qubits, targets, controls, m, parallelism),
            3 => apply_dense_sized::<8>(cpu, amps, n_qubits, targets, controls, m, parallelism),
            4 => apply_dense_sized::<16>(cpu, amps, n_qubits, targets, controls, m, parallelism),
            5 => apply_dense_sized::<32>(cpu, amps, n_qubits, targets, controls, m, parallelism),
            _ => apply_dense_sized::<64>(cpu, amps, n_qubits, targets, controls, m, parallelism),
        }
    }
}

/// [`apply_dense_unchecked`] for one matrix size. Kept out of line so that each call reserves the
/// stack of its own size only (a 64 x 64 matrix is 64 KiB; small ops must not pay for probing it).
///
/// # Safety
/// As [`apply_dense_unchecked`], with `D == 2^targets.len()`.
#[inline(never)]
unsafe fn apply_dense_sized<const D: usize>(
    cpu: Option<Avx2Fma>,
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    m: &Matrix,
    parallelism: Parallelism,
) {
    let a = DenseArray::<D>::new(m);
    #[cfg(target_arch = "x86_64")]
    if let Some(cpu) = cpu {
        // SAFETY: the token proves AVX2 and FMA; the layout is the caller's guarantee.
        return unsafe { apply_dense_avx2_fma::<D>(cpu, amps, n_qubits, targets, controls, &a, parallelism) };
    }
    let _ = cpu;
    // SAFETY: the caller's guarantees.
    unsafe { apply_grouped_unchecked::<D>(amps, n_qubits, targets, controls, parallelism, |v| a.apply::<false>(v)) }
}

/// Applies a diagonal on few `targets` (1 to 3) where all `controls` are 1. Target qubits whose
/// diagonal entry for bit 0 is exactly 1 are treated as controls, so amplitudes left unchanged are not
/// touched (`p`, `t`, `cz`, `cp` touch a half or a quarter of the state). Errors, changing nothing, on
/// a bad layout, a target count outside 1 to 3 or a diagonal of another length.
pub fn apply_small_diagonal(
    amps: &mut [C64],
    n_qubits: usize,
    targets: &[usize],
    controls: &[usize],
    d: &[C64],
    parallelism: Parallelism,
) -> Result<()> {
    check_layout(amps, n_qubits, targets, controls)?;
    check_targets("the small diagonal kernel takes", targets.len(), 3, "diagonal", d.len())?;
    // SAFETY: checked just above.
    unsafe { apply_small_diagonal_unchecked(amps, n_qubits, targets, controls, d, parallelism) };
    Ok(())
}

/// [`apply_small_diagonal`] without its checks.
///
/// # Safety
/// The preconditions of [`apply_grouped_unchecked`], 1 to 3 targets and `d.len() == 2^targets.len()`.
pub(crate) unsafe fn apply_small_diagonal_unchecked(
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
        // SAFETY: the caller's guarantees; the target joins the (distinct) controls.
        return unsafe {
            apply_grouped_unchecked::<1>(amps, n_qubits, &[], &all_controls, parallelism, |v| v[0] *= d1)
        };
    }
    macro_rules! go {
        ($d:literal) => {{
            let mut a = [one; $d];
            a.copy_from_slice(d);
            // SAFETY: the caller's guarantees; the arm matches D to the target count.
            unsafe {
                apply_grouped_unchecked::<$d>(amps, n_qubits, targets, controls, parallelism, |v| {
                    for (x, s) in v.iter_mut().zip(&a) {
                        *x *= s;
                    }
                })
            }
        }};
    }
    match targets.len() {
        1 => go!(2),
        2 => go!(4),
        _ => go!(8),
    }
}

/// Multiplies amplitude `i` by `table[t(i)]`, where bit `b` of `t(i)` is bit `qubits[b]` of `i`.
/// Errors, changing nothing, on a bad layout or a table of another length than `2^qubits.len()`.
pub fn apply_diagonal_table(
    amps: &mut [C64],
    n_qubits: usize,
    qubits: &[usize],
    table: &[C64],
    parallelism: Parallelism,
) -> Result<()> {
    check_layout(amps, n_qubits, qubits, &[])?;
    if qubits.len() >= usize::BITS as usize || table.len() != 1 << qubits.len() {
        return Err(QuantumError::SizeMismatch {
            what: format!("diagonal table on {} qubits", qubits.len()),
            expected: 1usize.checked_shl(qubits.len() as u32).unwrap_or(0),
            got: table.len(),
        });
    }
    apply_diagonal_table_unchecked(amps, n_qubits, qubits, table, parallelism);
    Ok(())
}

/// [`apply_diagonal_table`] without its checks (safe code: a bad table panics on its index, it
/// never reads out of bounds); for callers that built the table themselves.
pub(crate) fn apply_diagonal_table_unchecked(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    /// The public kernels refuse, changing nothing, every layout their raw-pointer loops could not
    /// survive: a qubit beyond the state (the release-build write past the slice this used to be), a
    /// repeated qubit, a state of another length, too many targets, a matrix, diagonal or table of
    /// another size.
    #[test]
    fn public_kernels_check_their_preconditions() {
        let zero = C64::new(0.0, 0.0);
        let mut amps = vec![C64::new(0.5, 0.0); 4];
        let before = amps.clone();
        let m1 = Matrix::identity(2);
        let m2 = Matrix::identity(4);
        let auto = Parallelism::Auto;
        assert!(matches!(
            apply_dense(&mut amps, 2, &[5], &[], &m1, auto),
            Err(QuantumError::QubitOutOfRange { qubit: 5, .. })
        ));
        assert!(apply_dense(&mut amps, 2, &[0], &[0], &m1, auto).is_err());
        assert!(apply_dense(&mut amps, 3, &[0], &[], &m1, auto).is_err());
        assert!(apply_dense(&mut amps, 2, &[0], &[], &m2, auto).is_err());
        assert!(apply_dense(&mut amps, 2, &[], &[], &m1, auto).is_err());
        let mut big = vec![zero; 1 << 8];
        assert!(apply_dense(&mut big, 8, &[0, 1, 2, 3, 4, 5, 6], &[], &Matrix::identity(128), auto).is_err());
        assert!(apply_small_diagonal(&mut amps, 2, &[3], &[], &[zero, zero], auto).is_err());
        assert!(apply_small_diagonal(&mut amps, 2, &[0], &[], &[zero], auto).is_err());
        assert!(apply_small_diagonal(&mut big, 8, &[0, 1, 2, 3], &[], &[zero; 16], auto).is_err());
        assert!(apply_diagonal_table(&mut amps, 2, &[0, 1], &[zero; 3], auto).is_err());
        assert!(apply_diagonal_table(&mut amps, 2, &[0, 9], &[zero; 4], auto).is_err());
        assert!(apply_grouped::<4>(&mut amps, 2, &[0], &[], auto, |_| {}).is_err());
        assert!(apply_grouped::<2>(&mut amps, 2, &[2], &[], auto, |_| {}).is_err());
        assert_eq!(amps, before, "a refused call changed the state");
        // And the valid calls still work: X on qubit 1 of |00> + ... swaps halves.
        let x = Matrix::from_rows(vec![zero, C64::new(1.0, 0.0), C64::new(1.0, 0.0), zero]).unwrap();
        let mut s = vec![C64::new(1.0, 0.0), zero, zero, zero];
        apply_dense(&mut s, 2, &[1], &[], &x, auto).unwrap();
        assert_eq!(s[2], C64::new(1.0, 0.0));
    }
}
