//! The fixed-point MFCC of one frame, in integers only: the reference that `mcu-export/c/tl_mfcc.c`
//! matches bit for bit. Every step below is written the same way in the C; shifts of negative numbers
//! are arithmetic (Rust's `>>` on signed integers; gcc's documented behaviour in C), and `(v + 2^(s-1))
//! >> s` is the rounding right shift.
//!
//! 1. Window: `p[n] = x[n] w[n]` (int16 x q15 Hann, an exact int32 below 2^30).
//! 2. Block normalisation: with `b = floor(log2 max |p|)`, `e = 27 - b` and `v = p 2^e` (a rounding
//!    right shift when `e < 0`), so `max |v|` lies in `[2^27, 2^28]`: every frame uses the FFT's
//!    headroom, and `e` is remembered to undo it in the log domain.
//! 3. Real FFT of 512 points (`v` zero-padded from 480) as a 256-point complex FFT of `z[n] = v[2n] +
//!    i v[2n+1]` (radix-2, decimation in time after a bit-reversal permutation, q15 twiddles, every
//!    butterfly output halved with rounding: `(a +- t + 1) >> 1`), then the split
//!    `X[k] = (A + W^k D + 2) >> 2` with `A = Z[k] + conj Z[256-k]`, `D = -i (Z[k] - conj Z[256-k])` for
//!    `k = 0..=256`. The result is `DFT512(v) / 512`; a butterfly's outputs are never larger in modulus
//!    than its inputs (plus rounding), so with `|z| < 2^28.5` nothing reaches 2^31.
//! 4. Power: `P[k] = (Xr^2 + Xi^2) >> 8` in u64 (`< 2^49`; by Parseval the sum over bins is below
//!    2^48, so the mel sums below cannot overflow).
//! 5. Mel: `M[m] = sum_k w_q15[m][k] P[k]` (u64, `< 2^63`).
//! 6. Log: `L[m] = log2_q16(M[m]) - (49 + 2e) 2^16`, floored at `-20 * 2^16`: `log2` of the float
//!    energy of samples scaled to `[-1, 1)` (window 1.0, mel weight 1.0), in Q16. `log2_q16` takes the
//!    leading-one position as the integer part and interpolates the next 24 bits of the mantissa
//!    linearly in a 257-entry table of `log2(1 + i/256)`.
//! 7. DCT: `c[k] = (sum_m L[m] D[k][m] + 2^23) >> 24` with the q15 `D` of
//!    [`MfccTables::dct_q15`](super::tables::MfccTables) (`ln 2` folded in): natural-log MFCCs in Q7,
//!    saturated to int16.
//!
//! Where the constant 49 comes from: `p = x w 2^30` for `x` in `[-1, 1)`, `v = p 2^e`, `X = DFT(v) /
//! 512 = 2^(21 + e) DFT(x w)`, `P = 2^(34 + 2e) |DFT(x w)|^2` and `M = 2^(49 + 2e) E` for the float
//! mel energy `E`.

use super::tables::{LOG2_TABLE_BITS, MfccTables};
use super::{FFT_LEN, FRAME_LEN, LOG2_FLOOR, N_BINS, N_MEL, N_MFCC, Q7_FRAC_BITS};

/// Points of the complex FFT inside the 512-point real FFT.
const HALF: usize = FFT_LEN / 2;
/// Fraction bits of the log energies.
const LOG_FRAC_BITS: u32 = 16;
/// Bits the power spectrum drops before the mel sums.
const POWER_SHIFT: u32 = 8;
/// `log2 M - log2 E` before the normalisation shift: see the module docs.
const LOG_OFFSET: i32 = 49;
/// The normalised frame's leading bit.
const NORM_BIT: i32 = 27;

/// Steps 1 and 2: the windowed frame in int32 with its maximum in `[2^27, 2^28]`, and the shift `e`
/// applied; `None` for a frame that is zero after windowing.
pub(crate) fn window_normalise(frame: &[i16; FRAME_LEN], t: &MfccTables) -> Option<([i32; FRAME_LEN], i32)> {
    let mut p = [0i32; FRAME_LEN];
    let mut max = 0u32;
    for ((p, &x), &w) in p.iter_mut().zip(frame).zip(&t.window_q15) {
        *p = i32::from(x) * i32::from(w);
        max = max.max(p.unsigned_abs());
    }
    if max == 0 {
        return None;
    }
    let e = NORM_BIT - (31 - max.leading_zeros() as i32);
    if e >= 0 {
        p.iter_mut().for_each(|v| *v <<= e);
    } else {
        let s = -e;
        p.iter_mut().for_each(|v| *v = (*v + (1 << (s - 1))) >> s);
    }
    Some((p, e))
}

/// `(re + i im) (cos - i sin)` in q15 with rounding: the product with the twiddle `W^k` of table
/// index `k` (products in i64, each component rounded once).
fn twiddle(re: i32, im: i32, k: usize, t: &MfccTables) -> (i32, i32) {
    let (c, s) = (i64::from(t.cos_q15[k]), i64::from(t.sin_q15[k]));
    let (re, im) = (i64::from(re), i64::from(im));
    (((re * c + im * s + (1 << 14)) >> 15) as i32, ((im * c - re * s + (1 << 14)) >> 15) as i32)
}

/// Step 3: bins `0..=256` of `DFT512(v) / 512` as `(re, im)`.
pub(crate) fn real_fft(v: &[i32; FRAME_LEN], t: &MfccTables) -> [(i32, i32); N_BINS] {
    let sample = |i: usize| if i < FRAME_LEN { v[i] } else { 0 };
    let mut z = [(0i32, 0i32); HALF];
    for (n, z) in z.iter_mut().enumerate() {
        // Bit-reversal permutation of the 8-bit index.
        let r = (n as u8).reverse_bits() as usize;
        *z = (sample(2 * r), sample(2 * r + 1));
    }
    let mut half = 1;
    while half < HALF {
        let step = HALF / half; // W_{2 half}^j = W_512^{j * 256 / half}
        for start in (0..HALF).step_by(2 * half) {
            for j in 0..half {
                let (a, b) = (z[start + j], z[start + j + half]);
                let (tr, ti) = twiddle(b.0, b.1, j * step, t);
                z[start + j] = ((a.0 + tr + 1) >> 1, (a.1 + ti + 1) >> 1);
                z[start + j + half] = ((a.0 - tr + 1) >> 1, (a.1 - ti + 1) >> 1);
            }
        }
        half *= 2;
    }
    let mut x = [(0i32, 0i32); N_BINS];
    for (k, x) in x.iter_mut().enumerate() {
        let (zk, zn) = (z[k % HALF], z[(HALF - k) % HALF]);
        let (ar, ai) = (i64::from(zk.0) + i64::from(zn.0), i64::from(zk.1) - i64::from(zn.1));
        let (dr, di) = (zk.1 + zn.1, zn.0 - zk.0);
        let (cr, ci) = twiddle(dr, di, k, t);
        *x = (((ar + i64::from(cr) + 2) >> 2) as i32, ((ai + i64::from(ci) + 2) >> 2) as i32);
    }
    x
}

/// Steps 4 and 5: the mel energies `M[m]` of a spectrum.
pub(crate) fn mel_energies(x: &[(i32, i32); N_BINS], t: &MfccTables) -> [u64; N_MEL] {
    let power: Vec<u64> = x
        .iter()
        .map(|&(re, im)| {
            let (re, im) = (i64::from(re), i64::from(im));
            ((re * re) as u64 + (im * im) as u64) >> POWER_SHIFT
        })
        .collect();
    std::array::from_fn(|m| {
        let f = &t.mel_q15[m];
        f.weights.iter().zip(&power[f.first_bin..]).map(|(&w, &p)| w as u64 * p).sum()
    })
}

/// `log2(x)` in Q16 for `x > 0`: the position of the leading one, plus the table of `log2(1 + f)`
/// linearly interpolated at the 24 mantissa bits below it.
pub(crate) fn log2_q16(x: u64, t: &MfccTables) -> i32 {
    debug_assert!(x > 0);
    let lead = 63 - x.leading_zeros();
    let norm = x << (63 - lead);
    let frac = ((norm >> 32) as u32) & 0x7FFF_FFFF; // 31 bits below the leading one
    let i = (frac >> (31 - LOG2_TABLE_BITS)) as usize;
    let r = i64::from((frac >> 7) & 0xFFFF); // the next 16 bits
    let (lo, hi) = (i64::from(t.log2_q16[i]), i64::from(t.log2_q16[i + 1]));
    ((lead as i32) << LOG_FRAC_BITS) + (lo + (((hi - lo) * r + (1 << 15)) >> 16)) as i32
}

/// Step 6: log2 of the float mel energies in Q16, floored at [`LOG2_FLOOR`].
pub(crate) fn log_mel(m: &[u64; N_MEL], e: i32, t: &MfccTables) -> [i32; N_MEL] {
    let floor = LOG2_FLOOR << LOG_FRAC_BITS;
    std::array::from_fn(|i| {
        if m[i] == 0 { floor } else { (log2_q16(m[i], t) - ((LOG_OFFSET + 2 * e) << LOG_FRAC_BITS)).max(floor) }
    })
}

/// Step 7: the first 10 MFCCs in Q7.
pub(crate) fn dct_q7(l: &[i32; N_MEL], t: &MfccTables) -> [i16; N_MFCC] {
    let shift = LOG_FRAC_BITS + 15 - Q7_FRAC_BITS;
    std::array::from_fn(|k| {
        let acc: i64 = l.iter().zip(&t.dct_q15[k]).map(|(&l, &d)| i64::from(l) * i64::from(d)).sum();
        ((acc + (1 << (shift - 1))) >> shift).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
    })
}

/// The Q16 log2 mel energies of one frame (steps 1 to 6; every band at the floor for a zero frame).
pub(crate) fn frame_log_mel(frame: &[i16; FRAME_LEN], t: &MfccTables) -> [i32; N_MEL] {
    match window_normalise(frame, t) {
        None => [LOG2_FLOOR << LOG_FRAC_BITS; N_MEL],
        Some((v, e)) => log_mel(&mel_energies(&real_fft(&v, t), t), e, t),
    }
}

/// The Q7 MFCCs of one frame (steps 1 to 7).
pub(crate) fn frame_mfcc_q7(frame: &[i16; FRAME_LEN], t: &MfccTables) -> [i16; N_MFCC] {
    dct_q7(&frame_log_mel(frame, t), t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_is_exact_at_powers_of_two_and_close_elsewhere() {
        let t = MfccTables::get();
        for p in 0..64 {
            assert_eq!(log2_q16(1u64 << p, t), p << 16);
        }
        for &x in &[3u64, 5, 1000, 123_456_789, u64::MAX, (1 << 40) + 12345] {
            let want = (x as f64).log2() * 65536.0;
            assert!((log2_q16(x, t) as f64 - want).abs() < 1.5, "{x}: {} vs {want}", log2_q16(x, t));
        }
    }

    #[test]
    fn fft_of_a_cosine_is_two_lines() {
        // v[n] = 2^27 cos(2 pi 16 n / 512) over all 512 points would give X[16] = 2^27 / 2; over 480
        // points (zero-padded) the bin is 480/512 of that, and a bin-centred tone leaks little.
        let t = MfccTables::get();
        let v: [i32; FRAME_LEN] = std::array::from_fn(|n| {
            ((1u64 << 27) as f64 * (2.0 * std::f64::consts::PI * 16.0 * n as f64 / 512.0).cos()).round() as i32
        });
        let x = real_fft(&v, t);
        let want = (1u64 << 26) as f64 * 480.0 / 512.0;
        // The float DFT of the same samples.
        let dft = |k: usize| {
            let (mut re, mut im) = (0.0, 0.0);
            for (n, &s) in v.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * n) as f64 / 512.0;
                re += s as f64 * a.cos();
                im += s as f64 * a.sin();
            }
            (re / 512.0, im / 512.0)
        };
        assert!((x[16].0 as f64 - want).abs() / want < 1e-3, "{:?} vs {want}", x[16]);
        for k in [0, 1, 15, 16, 17, 100, 255, 256] {
            let (re, im) = dft(k);
            assert!((x[k].0 as f64 - re).abs() < 2e-4 * want && (x[k].1 as f64 - im).abs() < 2e-4 * want, "bin {k}");
        }
    }
}
