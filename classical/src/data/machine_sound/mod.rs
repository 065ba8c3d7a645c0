//! A seeded stand-in for the machine sounds of MLPerf Tiny's anomaly-detection benchmark (DCASE 2020
//! task 2, ToyADMOS / MIMII): one machine whose normal sound is a stationary tone with harmonics and
//! broadband noise, and four faults injected into it, featurised as the benchmark does.
//!
//! A normal clip is `g (sum_k a_k sin(2 pi k f0 t + phi_k) + sigma n(t))` with the fundamental `f0`
//! within a few percent of the machine's [`MachineSound::f0_hz`], harmonic amplitudes near `1 / k`,
//! seeded phases, a gain `g` near 1 and white noise `n`. A faulty clip is a normal one with one
//! [`Fault`]: clicks (short decaying noise bursts), an extra harmonic between two of the machine's,
//! amplitude modulation (a few hertz, deep), or a frequency drift (the fundamental gliding over the
//! clip). Features are the benchmark's: log-mel frames ([`logmel`], 128 bands of 1024-point frames
//! every 512 samples at 16 kHz) stacked five at a time into 640-value vectors, one per frame offset.
//! An autoencoder trained on normal vectors scores a clip by its mean reconstruction error.

pub mod logmel;

use super::{DataError, invalid};
use crate::data::synthetic::normal;
use crate::seed;
use crate::tensor::{rng, uniform};
use logmel::{LogMelSpec, log_mel, mel_filterbank};
use ndarray::Array4;
use rand_chacha::ChaCha8Rng;
use std::f64::consts::TAU;

/// A fault injected into a normal clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Short bursts of decaying noise at random instants (a loose part hitting the casing).
    Clicks,
    /// A tone between two harmonics of the fundamental (a new vibration mode).
    ExtraHarmonic,
    /// The whole sound's amplitude modulated at a few hertz (an unbalanced rotor).
    AmplitudeModulation,
    /// The fundamental, and with it every harmonic, gliding over the clip (a slipping belt).
    FrequencyDrift,
}

impl Fault {
    /// The four faults, in the order faulty test clips cycle through them.
    pub const ALL: [Fault; 4] =
        [Fault::Clicks, Fault::ExtraHarmonic, Fault::AmplitudeModulation, Fault::FrequencyDrift];

    /// A short name for metrics.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Clicks => "clicks",
            Fault::ExtraHarmonic => "extra_harmonic",
            Fault::AmplitudeModulation => "amplitude_modulation",
            Fault::FrequencyDrift => "frequency_drift",
        }
    }
}

/// The machine and its recordings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineSound {
    /// The front end (the benchmark's by default).
    pub spec: LogMelSpec,
    /// Seconds per clip (at least one frame plus `frames - 1` hops).
    pub clip_seconds: f64,
    /// Frames stacked into one feature vector (5 in the benchmark).
    pub frames: usize,
    /// Nominal fundamental in hertz; each clip draws `f0` within 2% (1 standard deviation) of it.
    pub f0_hz: f64,
    /// Harmonics of the normal sound, the fundamental included.
    pub harmonics: usize,
    /// Standard deviation of the white noise relative to the fundamental's amplitude.
    pub noise: f64,
    /// Scales every fault's strength (1 is the default: clicks twice the tone's amplitude, an extra
    /// harmonic at a fifth of it, 40-80% modulation depth, 6-12% drift).
    pub severity: f64,
}

impl Default for MachineSound {
    fn default() -> Self {
        Self {
            spec: LogMelSpec::default(),
            clip_seconds: 1.0,
            frames: 5,
            f0_hz: 150.0,
            harmonics: 6,
            noise: 0.05,
            severity: 1.0,
        }
    }
}

/// Training vectors from normal clips and test vectors from normal and faulty clips.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSoundSet {
    /// `(n, 1, frames, n_mels)` vectors of normal clips (decibels).
    pub train: Array4<f32>,
    /// `(clips * vectors_per_clip, 1, frames, n_mels)`: test clip `c`'s vectors are rows
    /// `c * vectors_per_clip ..`.
    pub test: Array4<f32>,
    /// Each test clip's fault (`None` for a normal one).
    pub test_faults: Vec<Option<Fault>>,
    /// Vectors each clip gives (all clips are equally long).
    pub vectors_per_clip: usize,
}

impl MachineSoundSet {
    /// One score per test clip: the mean of its vectors' scores (`vector_scores` in test order).
    pub fn clip_scores(&self, vector_scores: &[f64]) -> Result<Vec<f64>, DataError> {
        let per = self.vectors_per_clip;
        if vector_scores.len() != self.test_faults.len() * per {
            return Err(invalid(
                "clip_scores",
                format!("{} scores for {} clips of {per} vectors", vector_scores.len(), self.test_faults.len()),
            ));
        }
        Ok(vector_scores.chunks(per).map(|c| c.iter().sum::<f64>() / per as f64).collect())
    }
}

impl MachineSound {
    /// Samples per clip.
    pub fn clip_samples(&self) -> usize {
        (self.clip_seconds * self.spec.sample_rate).round() as usize
    }

    /// Feature vectors per clip: frames minus `frames - 1`.
    pub fn vectors_per_clip(&self) -> usize {
        let n = self.clip_samples();
        if n < self.spec.n_fft {
            return 0;
        }
        (1 + (n - self.spec.n_fft) / self.spec.hop.max(1)).saturating_sub(self.frames.saturating_sub(1))
    }

    fn check(&self) -> Result<(), DataError> {
        if self.frames == 0 || self.harmonics == 0 || self.vectors_per_clip() == 0 {
            return Err(invalid(
                "machine_sound",
                format!(
                    "{} s clips at {} Hz give no vector of {} frames ({} harmonics)",
                    self.clip_seconds, self.spec.sample_rate, self.frames, self.harmonics
                ),
            ));
        }
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !(ok(self.noise) && ok(self.severity) && self.f0_hz > 0.0 && ok(self.f0_hz)) {
            return Err(invalid(
                "machine_sound",
                format!(
                    "noise {}, severity {}, f0 {} must be finite, f0 positive",
                    self.noise, self.severity, self.f0_hz
                ),
            ));
        }
        let top = self.f0_hz * 1.3 * (self.harmonics as f64 + 1.0);
        if top >= self.spec.sample_rate / 2.0 {
            return Err(invalid("machine_sound", format!("harmonics up to {top} Hz exceed Nyquist")));
        }
        Ok(())
    }

    /// One clip's samples, drawn from `r`.
    pub fn clip(&self, fault: Option<Fault>, r: &mut ChaCha8Rng) -> Result<Vec<f32>, DataError> {
        self.check()?;
        let sr = self.spec.sample_rate;
        let n = self.clip_samples();
        let jitter = |r: &mut ChaCha8Rng, s: f64| 1.0 + s * normal(r) as f64;
        let f0 = self.f0_hz * jitter(r, 0.02);
        let gain = jitter(r, 0.1);
        let tones: Vec<(f64, f64)> =
            (1..=self.harmonics).map(|k| (jitter(r, 0.1) / k as f64, TAU * uniform(r))).collect();
        let sev = self.severity;
        // The fault's parameters, drawn before the samples so every clip uses the generator alike.
        let (drift, depth, rate, am_phase) = (
            sev * (0.06 + 0.06 * uniform(r)),
            sev * (0.4 + 0.4 * uniform(r)),
            2.0 + 6.0 * uniform(r),
            TAU * uniform(r),
        );
        let drift = if uniform(r) < 0.5 { -drift } else { drift };
        let extra = (2 + (uniform(r) * (self.harmonics - 1).max(1) as f64) as usize) as f64 - 0.5;
        let extra_amp = sev * (0.15 + 0.1 * uniform(r));
        let duration = n as f64 / sr;
        let mut phase_f0 = 0.0f64;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f64 / sr;
            let f = match fault {
                Some(Fault::FrequencyDrift) => f0 * (1.0 + drift * t / duration),
                _ => f0,
            };
            let mut v: f64 =
                tones.iter().enumerate().map(|(k, &(a, p))| a * ((k + 1) as f64 * phase_f0 + p).sin()).sum();
            if fault == Some(Fault::ExtraHarmonic) {
                v += extra_amp * (extra * phase_f0).sin();
            }
            if fault == Some(Fault::AmplitudeModulation) {
                v *= 1.0 + depth * (TAU * rate * t + am_phase).sin();
            }
            v += self.noise * normal(r) as f64;
            out.push(gain * v);
            phase_f0 += TAU * f / sr;
        }
        if fault == Some(Fault::Clicks) {
            // About 8 clicks a second, each a burst of noise decaying over 2 ms.
            let clicks = ((8.0 * duration).round() as usize).max(1);
            let decay = 0.002 * sr;
            for _ in 0..clicks {
                let at = (uniform(r) * n as f64) as usize % n;
                let amp = 2.0 * sev * (0.5 + 0.5 * uniform(r)) * gain;
                for (j, s) in out[at..n.min(at + (8.0 * decay) as usize)].iter_mut().enumerate() {
                    *s += amp * (-(j as f64) / decay).exp() * normal(r) as f64;
                }
            }
        }
        Ok(out.into_iter().map(|v| v as f32).collect())
    }

    /// The feature vectors of one clip: `(vectors_per_clip, frames * n_mels)` row-major, vector `j`
    /// being frames `j .. j + frames`.
    pub fn vectors(&self, clip: &[f32], filterbank: &[f64]) -> Result<Vec<f32>, DataError> {
        let frames = log_mel(clip, &self.spec, filterbank)?;
        let per = frames.len().saturating_sub(self.frames - 1);
        let mut out = Vec::with_capacity(per * self.frames * self.spec.n_mels);
        for j in 0..per {
            for row in &frames[j..j + self.frames] {
                out.extend_from_slice(row);
            }
        }
        Ok(out)
    }

    /// `train_clips` normal clips for training, then `test_normal` normal and `test_faulty` faulty
    /// test clips (faults cycling through [`Fault::ALL`]), featurised. Clip `i` of split `s` is drawn
    /// from `seed::derive(seed, &[s, i])`, so sets of different sizes share their first clips.
    pub fn dataset(
        &self,
        train_clips: usize,
        test_normal: usize,
        test_faulty: usize,
        seed: u64,
    ) -> Result<MachineSoundSet, DataError> {
        self.check()?;
        if train_clips == 0 || test_normal + test_faulty == 0 {
            return Err(invalid("machine_sound", "needs at least one training and one test clip"));
        }
        let fb = mel_filterbank(&self.spec)?;
        let per = self.vectors_per_clip();
        let width = self.frames * self.spec.n_mels;
        let featurise = |split: u64, faults: &[Option<Fault>]| -> Result<Array4<f32>, DataError> {
            let mut data = Vec::with_capacity(faults.len() * per * width);
            for (i, &fault) in faults.iter().enumerate() {
                let clip = self.clip(fault, &mut rng(seed::derive(seed, &[split, i as u64])))?;
                data.extend(self.vectors(&clip, &fb)?);
            }
            Array4::from_shape_vec((faults.len() * per, 1, self.frames, self.spec.n_mels), data)
                .map_err(|e| invalid("machine_sound", e.to_string()))
        };
        let test_faults: Vec<Option<Fault>> = (0..test_normal)
            .map(|_| None)
            .chain((0..test_faulty).map(|i| Some(Fault::ALL[i % Fault::ALL.len()])))
            .collect();
        Ok(MachineSoundSet {
            train: featurise(0, &vec![None; train_clips])?,
            test: featurise(1, &test_faults)?,
            test_faults,
            vectors_per_clip: per,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> MachineSound {
        MachineSound { clip_seconds: 0.25, ..MachineSound::default() }
    }

    #[test]
    fn the_set_is_seeded_and_shaped_as_the_benchmark() {
        let m = small();
        // 4000 samples: 1 + (4000 - 1024) / 512 = 6 frames, 2 vectors of 5 frames.
        assert_eq!(m.vectors_per_clip(), 2);
        let a = m.dataset(3, 2, 4, 11).unwrap();
        assert_eq!(a.train.shape(), &[6, 1, 5, 128]);
        assert_eq!(a.test.shape(), &[12, 1, 5, 128]);
        assert_eq!(a.test_faults[..3], [None, None, Some(Fault::Clicks)]);
        assert_eq!(a, m.dataset(3, 2, 4, 11).unwrap());
        assert_ne!(a.train, m.dataset(3, 2, 4, 12).unwrap().train);
        // A larger set begins with the same clips.
        let b = m.dataset(4, 2, 4, 11).unwrap();
        assert_eq!(b.train.slice(ndarray::s![..6, .., .., ..]), a.train);
        // Vector 1 is vector 0 shifted by one frame.
        let v0 = a.train.slice(ndarray::s![0, 0, 1.., ..]);
        let v1 = a.train.slice(ndarray::s![1, 0, ..4, ..]);
        assert_eq!(v0, v1);
    }

    #[test]
    fn faults_change_the_spectrum_where_they_should() {
        let m = MachineSound { noise: 0.0, ..small() };
        let fb = mel_filterbank(&m.spec).unwrap();
        let mean_frame = |fault| {
            let clip = m.clip(fault, &mut rng(5)).unwrap();
            let frames = log_mel(&clip, &m.spec, &fb).unwrap();
            (0..m.spec.n_mels)
                .map(|b| frames.iter().map(|f| f[b]).sum::<f32>() / frames.len() as f32)
                .collect::<Vec<_>>()
        };
        let normal_frame = mean_frame(None);
        let extra = mean_frame(Some(Fault::ExtraHarmonic));
        let clicks = mean_frame(Some(Fault::Clicks));
        // The same generator state: the tones agree, so the difference is the fault alone. An extra
        // tone raises some band far above the noiseless floor; clicks raise the high bands.
        let max_rise = |f: &[f32]| f.iter().zip(&normal_frame).map(|(a, b)| a - b).fold(f32::MIN, f32::max);
        assert!(max_rise(&extra) > 20.0, "{}", max_rise(&extra));
        assert!(clicks[120] > normal_frame[120] + 20.0, "{} vs {}", clicks[120], normal_frame[120]);
        let fm = m.clip(Some(Fault::AmplitudeModulation), &mut rng(5)).unwrap();
        let nm = m.clip(None, &mut rng(5)).unwrap();
        assert_ne!(fm, nm);
    }

    #[test]
    fn clip_scores_average_each_clips_vectors_and_check_lengths() {
        let set = small().dataset(1, 1, 1, 0).unwrap();
        assert_eq!(set.clip_scores(&[1.0, 3.0, 5.0, 9.0]).unwrap(), vec![2.0, 7.0]);
        assert!(set.clip_scores(&[1.0]).is_err());
        assert!(MachineSound { clip_seconds: 0.01, ..MachineSound::default() }.dataset(1, 1, 0, 0).is_err());
        assert!(small().dataset(0, 1, 0, 0).is_err());
    }
}
