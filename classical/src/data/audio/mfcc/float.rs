//! The float (`f64`) reference of the same MFCC definition: what the fixed-point pipeline
//! approximates, and what the peer fixture (librosa + scipy, `benches/peers/kws_mfcc_librosa.py`)
//! checks independently.
//!
//! Per frame: `x[n] / 32768` times the periodic Hann window, zero-padded to 512, the DFT's power
//! `|X[k]|^2` for `k = 0..=256`, the mel energies `E[m] = sum_k w[m][k] |X[k]|^2` with the `f64`
//! filters of [`mel_filterbank`](super::tables::mel_filterbank), `ln max(E, 2^-20)`, and the DCT of
//! [`dct_matrix`](super::tables::dct_matrix).

use super::tables::{MfccTables, dct_matrix, hann};
use super::{FFT_LEN, FRAME_LEN, LOG2_FLOOR, N_BINS, N_MEL, N_MFCC};
use std::f64::consts::PI;

/// The natural-log mel energies of one frame, floored at `2^LOG2_FLOOR`.
pub(crate) fn frame_log_mel(frame: &[i16; FRAME_LEN]) -> [f64; N_MEL] {
    let w = hann(FRAME_LEN);
    let x: Vec<f64> = frame.iter().zip(&w).map(|(&s, &w)| f64::from(s) / 32768.0 * w).collect();
    let (cos, sin): (Vec<f64>, Vec<f64>) =
        (0..FFT_LEN).map(|i| (2.0 * PI * i as f64 / FFT_LEN as f64).sin_cos()).map(|(s, c)| (c, s)).unzip();
    let power: Vec<f64> = (0..N_BINS)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (n, &v) in x.iter().enumerate() {
                let i = (k * n) % FFT_LEN;
                re += v * cos[i];
                im -= v * sin[i];
            }
            re * re + im * im
        })
        .collect();
    let floor = 2f64.powi(LOG2_FLOOR);
    let mel = &MfccTables::get().mel;
    std::array::from_fn(|m| {
        let f = &mel[m];
        let e: f64 = f.weights.iter().zip(&power[f.first_bin..]).map(|(w, p)| w * p).sum();
        e.max(floor).ln()
    })
}

/// The first 10 MFCCs of one frame.
pub(crate) fn frame_mfcc(frame: &[i16; FRAME_LEN]) -> [f64; N_MFCC] {
    let l = frame_log_mel(frame);
    let d = dct_matrix();
    std::array::from_fn(|k| d[k].iter().zip(&l).map(|(a, b)| a * b).sum())
}
