//! The log-mel front end of the DCASE 2020 task 2 baseline, which MLPerf Tiny's anomaly-detection
//! benchmark keeps: Hann-windowed frames of `n_fft` samples every `hop`, their power spectrum
//! `|FFT|^2`, `n_mels` triangular mel filters, `10 log10(energy + floor)` in decibels.
//!
//! The FFT is a plain iterative radix-2 Cooley-Tukey transform written here: the front end needs
//! one power-of-two size, a few hundred frames per clip, and bit-for-bit the same numbers on every
//! machine (no planner that picks an algorithm by CPU), which a 40-line transform gives without a
//! dependency.

use crate::data::{DataError, invalid};

/// What the front end computes; [`Default`] is the benchmark's (16 kHz, 1024-point frames every
/// 512 samples, 128 mel bands).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogMelSpec {
    /// Samples per second of the signal.
    pub sample_rate: f64,
    /// Frame length and FFT size (a power of two).
    pub n_fft: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// Mel bands.
    pub n_mels: usize,
}

impl Default for LogMelSpec {
    fn default() -> Self {
        Self { sample_rate: 16_000.0, n_fft: 1024, hop: 512, n_mels: 128 }
    }
}

/// The floor added to every band's energy before the logarithm: -100 dB, so that silence is finite.
pub const ENERGY_FLOOR: f64 = 1e-10;

/// In-place radix-2 decimation-in-time FFT of `(re, im)`: `X_k = sum_n x_n e^{-2 pi i k n / N}`.
/// The length must be a power of two and both slices equally long.
pub fn fft(re: &mut [f64], im: &mut [f64]) -> Result<(), DataError> {
    let n = re.len();
    if im.len() != n || !n.is_power_of_two() {
        return Err(invalid("fft", format!("needs two slices of one power-of-two length, got {n} and {}", im.len())));
    }
    // Bit-reversal permutation.
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = if bits == 0 { 0 } else { i.reverse_bits() >> (usize::BITS - bits) };
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = -std::f64::consts::TAU / len as f64;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let (wr, wi) = ((angle * k as f64).cos(), (angle * k as f64).sin());
                let (a, b) = (start + k, start + k + len / 2);
                let (tr, ti) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len *= 2;
    }
    Ok(())
}

/// The periodic Hann window of `n` samples, `0.5 - 0.5 cos(2 pi i / n)` (librosa's and scipy's
/// default for spectrograms).
pub fn hann(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()).collect()
}

/// The HTK mel scale, `2595 log10(1 + f / 700)`.
pub fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// The inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// `n_mels` triangular filters over the `n_fft / 2 + 1` bins from 0 Hz to Nyquist: filter `m` rises
/// from the `m`-th to the `(m+1)`-th of `n_mels + 2` points equally spaced in mel and falls to the
/// `(m+2)`-th, peak 1, evaluated at each bin's centre frequency. Row-major `(n_mels, bins)`.
pub fn mel_filterbank(spec: &LogMelSpec) -> Result<Vec<f64>, DataError> {
    check(spec)?;
    let bins = spec.n_fft / 2 + 1;
    let top = hz_to_mel(spec.sample_rate / 2.0);
    let edges: Vec<f64> = (0..spec.n_mels + 2).map(|i| mel_to_hz(top * i as f64 / (spec.n_mels + 1) as f64)).collect();
    let mut w = vec![0.0; spec.n_mels * bins];
    for m in 0..spec.n_mels {
        let (lo, centre, hi) = (edges[m], edges[m + 1], edges[m + 2]);
        for k in 0..bins {
            let f = k as f64 * spec.sample_rate / spec.n_fft as f64;
            w[m * bins + k] = ((f - lo) / (centre - lo)).min((hi - f) / (hi - centre)).max(0.0);
        }
    }
    Ok(w)
}

fn check(spec: &LogMelSpec) -> Result<(), DataError> {
    if !spec.n_fft.is_power_of_two() || spec.n_fft < 2 || spec.hop == 0 || spec.n_mels == 0 {
        return Err(invalid(
            "log_mel",
            format!(
                "n_fft {} must be a power of two >= 2, hop {} and n_mels {} positive",
                spec.n_fft, spec.hop, spec.n_mels
            ),
        ));
    }
    if !(spec.sample_rate > 0.0 && spec.sample_rate.is_finite()) {
        return Err(invalid("log_mel", format!("sample rate {} must be positive", spec.sample_rate)));
    }
    Ok(())
}

/// The log-mel spectrogram of `signal`: one row of `n_mels` decibel values per frame, frames
/// starting every `hop` samples while a whole frame fits (no padding), so
/// `1 + (len - n_fft) / hop` rows. `filterbank` is [`mel_filterbank`]`(spec)` (made once by the
/// caller for many clips). Errors on a signal shorter than one frame.
pub fn log_mel(signal: &[f32], spec: &LogMelSpec, filterbank: &[f64]) -> Result<Vec<Vec<f32>>, DataError> {
    check(spec)?;
    let bins = spec.n_fft / 2 + 1;
    if filterbank.len() != spec.n_mels * bins {
        return Err(invalid(
            "log_mel",
            format!("filterbank of {} weights, expected {}", filterbank.len(), spec.n_mels * bins),
        ));
    }
    if signal.len() < spec.n_fft {
        return Err(invalid(
            "log_mel",
            format!("signal of {} samples is shorter than one frame ({})", signal.len(), spec.n_fft),
        ));
    }
    let window = hann(spec.n_fft);
    let frames = 1 + (signal.len() - spec.n_fft) / spec.hop;
    let (mut re, mut im) = (vec![0.0; spec.n_fft], vec![0.0; spec.n_fft]);
    let mut out = Vec::with_capacity(frames);
    for t in 0..frames {
        let frame = &signal[t * spec.hop..t * spec.hop + spec.n_fft];
        for (i, (&x, &w)) in frame.iter().zip(&window).enumerate() {
            re[i] = x as f64 * w;
            im[i] = 0.0;
        }
        fft(&mut re, &mut im)?;
        let power: Vec<f64> = (0..bins).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
        let row = filterbank
            .chunks(bins)
            .map(|f| {
                let e: f64 = f.iter().zip(&power).map(|(w, p)| w * p).sum();
                (10.0 * (e + ENERGY_FLOOR).log10()) as f32
            })
            .collect();
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_the_direct_dft() {
        let n = 16;
        let x: Vec<f64> = (0..n).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        fft(&mut re, &mut im).unwrap();
        for k in 0..n {
            let (mut sr, mut si) = (0.0, 0.0);
            for (j, &v) in x.iter().enumerate() {
                let a = -std::f64::consts::TAU * (k * j) as f64 / n as f64;
                sr += v * a.cos();
                si += v * a.sin();
            }
            assert!((re[k] - sr).abs() < 1e-9 && (im[k] - si).abs() < 1e-9, "bin {k}");
        }
        assert!(fft(&mut [0.0; 3], &mut [0.0; 3]).is_err());
    }

    #[test]
    fn a_tone_lands_in_the_filter_around_its_frequency() {
        let spec = LogMelSpec::default();
        let fb = mel_filterbank(&spec).unwrap();
        let f = 1000.0;
        let signal: Vec<f32> =
            (0..4096).map(|i| (std::f64::consts::TAU * f * i as f64 / spec.sample_rate).sin() as f32).collect();
        let frames = log_mel(&signal, &spec, &fb).unwrap();
        assert_eq!(frames.len(), 1 + (4096 - 1024) / 512);
        let row = &frames[0];
        let peak = (0..spec.n_mels).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        // The filter whose centre is nearest to 1 kHz in mel.
        let top = hz_to_mel(8000.0);
        let centre = |m: usize| mel_to_hz(top * (m + 1) as f64 / (spec.n_mels + 1) as f64);
        let nearest =
            (0..spec.n_mels).min_by(|&a, &b| (centre(a) - f).abs().total_cmp(&(centre(b) - f).abs())).unwrap();
        assert!(peak.abs_diff(nearest) <= 1, "peak band {peak}, nearest centre {nearest}");
        // A pure tone: the band 20 filters away sees only the window's side lobes.
        assert!(row[peak] > row[(peak + 20) % spec.n_mels] + 40.0);
    }

    #[test]
    fn mel_scale_round_trips_and_silence_hits_the_floor() {
        for hz in [0.0, 100.0, 1000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        assert!((hz_to_mel(1000.0) - 999.985).abs() < 0.01);
        let spec = LogMelSpec::default();
        let fb = mel_filterbank(&spec).unwrap();
        let frames = log_mel(&[0.0; 1024], &spec, &fb).unwrap();
        assert!(frames[0].iter().all(|&v| (v + 100.0).abs() < 1e-4));
        assert!(log_mel(&[0.0; 100], &spec, &fb).is_err());
        // Every filter reaches at least one bin.
        assert!(fb.chunks(513).all(|f| f.iter().any(|&w| w > 0.0)));
    }
}
