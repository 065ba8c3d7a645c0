//! The constant tables of the fixed-point MFCC, computed once in `f64` and rounded: the q15 Hann
//! window, the q15 twiddles of the 512-point real FFT, the mel filterbank (its `f64` weights for the
//! float reference, the same weights in q15 for the fixed-point path), the q15 DCT with `ln 2` folded
//! in, and the Q16 table of `log2(1 + i/256)`.
//!
//! The C front end (`mcu-export/c/tl_mfcc_tables.h`) holds these same integers, written by
//! `tinylab_mcu_export::mfcc::tables_header` from [`MfccTables`]; a test there checks the committed
//! header equals what this module computes, so the two implementations read identical tables.

use super::{FFT_LEN, FRAME_LEN, MEL_HIGH_HZ, MEL_LOW_HZ, N_BINS, N_MEL, N_MFCC, SAMPLE_RATE};
use std::f64::consts::{LN_2, PI};
use std::sync::OnceLock;

/// Entries of the log2 mantissa table less one: the top 8 fraction bits index it.
pub const LOG2_TABLE_BITS: u32 = 8;

/// One triangular mel filter over FFT bins `first_bin .. first_bin + weights.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilter<W> {
    /// The first FFT bin with a non-zero weight.
    pub first_bin: usize,
    /// The weights of consecutive bins from `first_bin` on.
    pub weights: Vec<W>,
}

/// Every table of the fixed-point MFCC (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct MfccTables {
    /// `round(32768 (1/2 - 1/2 cos(2 pi n / 480)))`, the periodic Hann window, saturated to 32767.
    pub window_q15: Vec<i16>,
    /// `round(32768 cos(2 pi k / 512))` for `k = 0..=256`, saturated to `[-32768, 32767]`.
    pub cos_q15: Vec<i16>,
    /// `round(32768 sin(2 pi k / 512))` for `k = 0..=256`, saturated likewise.
    pub sin_q15: Vec<i16>,
    /// The 40 mel filters with `f64` weights (see [`mel_filterbank`]).
    pub mel: Vec<MelFilter<f64>>,
    /// The same filters with weights `round(32768 w)` saturated to 32767, zero weights at both ends
    /// dropped.
    pub mel_q15: Vec<MelFilter<i16>>,
    /// `dct_q15[k][m] = round(32768 ln2 sqrt(2/40) cos(pi k (2m + 1) / 80))`: the DCT-II of
    /// TensorFlow's `mfccs_from_log_mel_spectrograms` applied to log2 energies (hence `ln 2`).
    pub dct_q15: Vec<[i16; N_MEL]>,
    /// `round(65536 log2(1 + i/256))` for `i = 0..=256` (the last is 65536).
    pub log2_q16: Vec<i32>,
}

impl MfccTables {
    /// The tables, computed on first use.
    pub fn get() -> &'static MfccTables {
        static TABLES: OnceLock<MfccTables> = OnceLock::new();
        TABLES.get_or_init(MfccTables::compute)
    }

    fn compute() -> MfccTables {
        let q15 = |v: f64| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        let window_q15 = hann(FRAME_LEN).into_iter().map(q15).collect();
        let angle = |k: usize| 2.0 * PI * k as f64 / FFT_LEN as f64;
        let cos_q15 = (0..=FFT_LEN / 2).map(|k| q15(angle(k).cos())).collect();
        let sin_q15 = (0..=FFT_LEN / 2).map(|k| q15(angle(k).sin())).collect();
        let mel = mel_filterbank();
        let mel_q15 = mel.iter().map(quantize_filter).collect();
        let dct_q15 =
            dct_matrix().into_iter().map(|row| std::array::from_fn(|m| q15(LN_2 * row[m]))).collect::<Vec<_>>();
        let n = 1usize << LOG2_TABLE_BITS;
        let log2_q16 = (0..=n).map(|i| (65536.0 * (1.0 + i as f64 / n as f64).log2()).round() as i32).collect();
        MfccTables { window_q15, cos_q15, sin_q15, mel, mel_q15, dct_q15, log2_q16 }
    }
}

/// The periodic Hann window of length `n`: `1/2 - 1/2 cos(2 pi i / n)` (scipy's `get_window("hann",
/// n)`, TensorFlow's `hann_window(periodic=True)`).
pub fn hann(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos()).collect()
}

/// The HTK mel scale: `2595 log10(1 + f / 700)`.
pub fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// The inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// The 40 triangular filters over the 257 bins of a 512-point FFT at 16 kHz between 20 Hz and 4 kHz,
/// as librosa's `filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20, fmax=4000, htk=True,
/// norm=None)`: 42 points equally spaced on the HTK mel scale, filter `m` rising linearly in Hz from
/// point `m` to 1 at point `m + 1` and falling to 0 at point `m + 2`, evaluated at the bin frequencies
/// `k * 16000 / 512`.
pub fn mel_filterbank() -> Vec<MelFilter<f64>> {
    let (lo, hi) = (hz_to_mel(MEL_LOW_HZ), hz_to_mel(MEL_HIGH_HZ));
    let points: Vec<f64> = (0..N_MEL + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MEL + 1) as f64)).collect();
    (0..N_MEL)
        .map(|m| {
            let (left, centre, right) = (points[m], points[m + 1], points[m + 2]);
            let w: Vec<f64> = (0..N_BINS)
                .map(|k| {
                    let f = k as f64 * SAMPLE_RATE as f64 / FFT_LEN as f64;
                    let rise = (f - left) / (centre - left);
                    let fall = (right - f) / (right - centre);
                    rise.min(fall).max(0.0)
                })
                .collect();
            trim(&w, |&v| v != 0.0)
        })
        .collect()
}

/// The non-zero stretch of `w` (by `nonzero`) as a filter; an all-zero `w` gives an empty filter.
fn trim<W: Copy>(w: &[W], nonzero: impl Fn(&W) -> bool) -> MelFilter<W> {
    match (w.iter().position(&nonzero), w.iter().rposition(&nonzero)) {
        (Some(a), Some(b)) => MelFilter { first_bin: a, weights: w[a..=b].to_vec() },
        _ => MelFilter { first_bin: 0, weights: Vec::new() },
    }
}

/// A filter's weights in q15 (saturated to 32767), zero weights at the ends dropped.
fn quantize_filter(f: &MelFilter<f64>) -> MelFilter<i16> {
    let q: Vec<i16> = f.weights.iter().map(|&w| (w * 32768.0).round().min(32767.0) as i16).collect();
    let t = trim(&q, |&v| v != 0);
    MelFilter { first_bin: f.first_bin + t.first_bin, weights: t.weights }
}

/// The first 10 rows of TensorFlow's MFCC DCT over 40 log-mel energies
/// (`tf.signal.mfccs_from_log_mel_spectrograms`: the unnormalised DCT-II times `1 / sqrt(2 * 40)`):
/// `sqrt(2/40) cos(pi k (2m + 1) / 80)`. It equals the orthonormal DCT-II except that row 0 is
/// `sqrt 2` larger.
pub fn dct_matrix() -> Vec<[f64; N_MEL]> {
    let scale = (2.0 / N_MEL as f64).sqrt();
    (0..N_MFCC)
        .map(|k| std::array::from_fn(|m| scale * (PI * k as f64 * (2 * m + 1) as f64 / (2 * N_MEL) as f64).cos()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_their_closed_forms() {
        let t = MfccTables::get();
        assert_eq!(t.window_q15.len(), FRAME_LEN);
        assert_eq!(t.window_q15[0], 0);
        assert_eq!(t.window_q15[FRAME_LEN / 2], 32767); // 1.0 saturated
        assert_eq!(t.window_q15[FRAME_LEN / 4], 16384); // 1/2 exactly
        assert_eq!((t.cos_q15[0], t.sin_q15[0]), (32767, 0));
        assert_eq!((t.cos_q15[128], t.sin_q15[128]), (0, 32767));
        assert_eq!((t.cos_q15[256], t.sin_q15[256]), (-32768, 0));
        assert_eq!(t.cos_q15[64], 23170); // cos(pi/4) = 0.70710678 * 32768 = 23170.48
        assert_eq!((t.log2_q16[0], t.log2_q16[128], t.log2_q16[256]), (0, 38336, 65536)); // 65536 log2 1.5 = 38336.3
        // Row 0 of the DCT: ln2 sqrt(1/20) = 0.15499 -> 5079 everywhere.
        assert!(t.dct_q15[0].iter().all(|&v| v == 5079), "{:?}", t.dct_q15[0]);
    }

    #[test]
    fn mel_filters_follow_the_mel_points() {
        let mel = mel_filterbank();
        assert_eq!(mel.len(), N_MEL);
        // Every filter covers at least one bin, and filters start in increasing order.
        assert!(mel.iter().all(|f| !f.weights.is_empty()));
        assert!(mel.windows(2).all(|p| p[0].first_bin <= p[1].first_bin));
        // The first filter starts above 20 Hz (bin 1 = 31.25 Hz), the last ends below 4 kHz (bin 128).
        assert_eq!(mel[0].first_bin, 1);
        let last = &mel[N_MEL - 1];
        assert!(last.first_bin + last.weights.len() <= 128);
        // Adjacent triangles of a mel filterbank sum to 1 between the first and last centres.
        let centre = |m: usize| mel_to_hz(hz_to_mel(20.0) + (hz_to_mel(4000.0) - hz_to_mel(20.0)) * m as f64 / 41.0);
        for k in 0..N_BINS {
            let f = k as f64 * 31.25;
            if f > centre(1) && f < centre(40) {
                let sum: f64 = mel
                    .iter()
                    .filter(|m| k >= m.first_bin && k < m.first_bin + m.weights.len())
                    .map(|m| m.weights[k - m.first_bin])
                    .sum();
                assert!((sum - 1.0).abs() < 1e-9, "bin {k}: {sum}");
            }
        }
        assert!((hz_to_mel(mel_to_hz(1234.5)) - 1234.5).abs() < 1e-9);
    }
}
