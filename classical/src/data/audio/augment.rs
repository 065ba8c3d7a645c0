//! Seeded augmentation of spoken keywords, after the Speech Commands / MLPerf Tiny recipe (Warden,
//! "Speech Commands", arXiv:1804.03209; the `input_data.py` of TensorFlow's speech_commands example:
//! a time shift of up to 100 ms and background noise in 80% of the clips at up to 0.1 of full scale).
//!
//! The recorded background files of Speech Commands are not available here, so the noise is
//! synthesised: white, pink (Voss-McCartney, 16 rows), brown (leaky integrated white noise) or mains
//! hum (50 or 60 Hz with decaying harmonics), each normalised to unit RMS and then scaled. Every draw
//! comes from a ChaCha8 stream of the seed given, so a clip's augmentation is a pure function of it.

use super::mfcc::CLIP_SAMPLES;
use crate::tensor::{rng, uniform};
use rand_chacha::ChaCha8Rng;

/// How clips are augmented.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// The utterance is moved from the centre of the clip by up to this many samples either way.
    pub max_shift: usize,
    /// The probability that a clip gets background noise.
    pub noise_probability: f64,
    /// The noise's RMS is uniform in `[0, max_noise_rms)` of full scale.
    pub max_noise_rms: f64,
}

impl Default for Augment {
    /// Speech Commands' defaults: 100 ms of shift, noise in 80% of clips, volume up to 0.1.
    fn default() -> Self {
        Self { max_shift: 1600, noise_probability: 0.8, max_noise_rms: 0.1 }
    }
}

impl Augment {
    /// No shift and no noise: the utterance centred in a silent clip.
    pub const NONE: Augment = Augment { max_shift: 0, noise_probability: 0.0, max_noise_rms: 0.0 };

    /// A 1 s clip of `utterance` (at most 1 s is used): centred, shifted and mixed with noise as drawn
    /// from `seed`. Samples saturate at the int16 range.
    pub fn clip(&self, utterance: &[i16], seed: u64) -> Vec<i16> {
        let mut r = rng(seed);
        let shift = if self.max_shift > 0 {
            (uniform(&mut r) * (2 * self.max_shift + 1) as f64) as isize - self.max_shift as isize
        } else {
            0
        };
        let mut clip = placed(utterance, centre_offset(utterance.len()) + shift);
        if uniform(&mut r) < self.noise_probability {
            let rms = uniform(&mut r) * self.max_noise_rms;
            mix(&mut clip, &background(&mut r), rms);
        }
        clip
    }

    /// A 1 s clip of background noise only (the "silence" class): noise of RMS uniform in `[0,
    /// max_noise_rms)` of full scale, or digital silence when the noise probability draw fails.
    pub fn silence(&self, seed: u64) -> Vec<i16> {
        self.clip(&[], seed)
    }
}

/// Where an utterance of `len` samples starts when centred in a clip (cut evenly when longer).
pub fn centre_offset(len: usize) -> isize {
    (CLIP_SAMPLES as isize - len as isize).div_euclid(2)
}

/// The utterance centred in a 1 s clip of zeros (the placement of the peer fixture too).
pub fn centred_clip(utterance: &[i16]) -> Vec<i16> {
    placed(utterance, centre_offset(utterance.len()))
}

/// A 1 s clip with `utterance` starting at sample `offset` (negative: its start is cut), zeros
/// elsewhere.
pub fn placed(utterance: &[i16], offset: isize) -> Vec<i16> {
    let mut clip = vec![0i16; CLIP_SAMPLES];
    for (i, &s) in utterance.iter().enumerate() {
        let j = offset + i as isize;
        if (0..CLIP_SAMPLES as isize).contains(&j) {
            clip[j as usize] = s;
        }
    }
    clip
}

/// Adds `noise` (unit RMS) at `rms` of full scale, saturating.
fn mix(clip: &mut [i16], noise: &[f64], rms: f64) {
    for (c, &n) in clip.iter_mut().zip(noise) {
        let v = f64::from(*c) + (n * rms * 32768.0).round();
        *c = v.clamp(-32768.0, 32767.0) as i16;
    }
}

/// A standard normal draw (Box-Muller).
fn normal(r: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - uniform(r);
    let u2 = uniform(r);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// One second of a seeded background noise of a seeded kind, normalised to unit RMS.
fn background(r: &mut ChaCha8Rng) -> Vec<f64> {
    let kind = (uniform(r) * 4.0) as usize;
    let mut x: Vec<f64> = match kind {
        0 => (0..CLIP_SAMPLES).map(|_| normal(r)).collect(),
        1 => {
            // Voss-McCartney: row j is redrawn every 2^j samples; their sum falls off as 1/f.
            let mut rows = [0.0f64; 16];
            rows.iter_mut().for_each(|v| *v = normal(r));
            (0..CLIP_SAMPLES)
                .map(|n| {
                    let j = (n.max(1)).trailing_zeros() as usize;
                    if j < rows.len() {
                        rows[j] = normal(r);
                    }
                    rows.iter().sum::<f64>() + normal(r)
                })
                .collect()
        }
        2 => {
            let mut acc = 0.0;
            (0..CLIP_SAMPLES)
                .map(|_| {
                    acc = 0.995 * acc + normal(r);
                    acc
                })
                .collect()
        }
        _ => {
            let f0 = if uniform(r) < 0.5 { 50.0 } else { 60.0 };
            let phases: Vec<f64> = (0..6).map(|_| uniform(r) * std::f64::consts::TAU).collect();
            (0..CLIP_SAMPLES)
                .map(|n| {
                    let t = n as f64 / CLIP_SAMPLES as f64;
                    let hum: f64 = phases
                        .iter()
                        .enumerate()
                        .map(|(h, &p)| (std::f64::consts::TAU * f0 * (h + 1) as f64 * t + p).sin() / (h + 1) as f64)
                        .sum();
                    hum + 0.05 * normal(r)
                })
                .collect()
        }
    };
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    x.iter_mut().for_each(|v| *v -= mean);
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
    x.iter_mut().for_each(|v| *v /= rms.max(1e-12));
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_centres_and_cuts() {
        let u: Vec<i16> = (1..=4).collect();
        let c = centred_clip(&u);
        assert_eq!(&c[7998..8002], &[1, 2, 3, 4]);
        assert_eq!(c.iter().filter(|&&v| v != 0).count(), 4);
        let c = placed(&u, -2);
        assert_eq!(&c[..3], &[3, 4, 0]);
        let c = placed(&u, CLIP_SAMPLES as isize - 1);
        assert_eq!(c[CLIP_SAMPLES - 1], 1);
        let long: Vec<i16> = (0..20000).map(|i| i as i16).collect();
        assert_eq!(centred_clip(&long)[0], 2000); // 4000 samples too many: 2000 cut at each end
    }

    #[test]
    fn augmentation_is_seeded_and_bounded() {
        let u: Vec<i16> = (0..6000).map(|i| ((i as f64 * 0.05).sin() * 10000.0) as i16).collect();
        let a = Augment::default();
        assert_eq!(a.clip(&u, 7), a.clip(&u, 7));
        assert_ne!(a.clip(&u, 7), a.clip(&u, 8));
        assert_eq!(Augment::NONE.clip(&u, 7), centred_clip(&u));
        // Noise at most 0.1 of full scale RMS.
        for seed in 0..20 {
            let s = a.silence(seed);
            let rms = (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt() / 32768.0;
            assert!(rms < 0.1 + 1e-3, "seed {seed}: {rms}");
        }
        // Shifts cover both directions within 1600 samples: the first non-zero sample of the
        // noiseless shifted clip.
        let quiet = Augment { noise_probability: 0.0, ..a };
        let starts: Vec<isize> = (0..40)
            .map(|s| quiet.clip(&u, s).iter().position(|&v| v != 0).unwrap() as isize - centre_offset(u.len()) - 1)
            .collect();
        assert!(starts.iter().all(|&d| d.abs() <= 1601), "{starts:?}");
        assert!(starts.iter().any(|&d| d < -100) && starts.iter().any(|&d| d > 100), "{starts:?}");
    }
}
