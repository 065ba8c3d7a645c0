//! MFCC features of MLPerf Tiny's keyword spotting benchmark (Banbury et al., "MLPerf Tiny
//! Benchmark", NeurIPS 2021 Datasets and Benchmarks; the DS-CNN's front end of Zhang et al., "Hello
//! Edge: Keyword Spotting on Microcontrollers", 2017): 1 s of 16 kHz audio, 30 ms (480-sample)
//! frames every 20 ms (49 frames), a periodic Hann window, a 512-point FFT's power spectrum, 40 mel
//! filters from 20 Hz to 4 kHz, natural log, and the first 10 coefficients of TensorFlow's MFCC DCT:
//! a `(49, 10)` feature map per clip.
//!
//! Two implementations of the one definition:
//! - [`mfcc_q7`] / [`mfcc_int8`]: integers only (int16 samples, q15 window, twiddles, mel weights and
//!   DCT, a scaled-per-stage fixed-point real FFT, integer power and mel sums, a table log2); the
//!   steps and their bounds are in [`fixed`]'s docs. `mcu-export/c/tl_mfcc.c` is the same arithmetic
//!   in C99 for Cortex-M (no malloc, no float) and matches it bit for bit.
//! - [`mfcc_float`]: the `f64` reference of the same definition ([`float`]).
//!
//! Outputs: [`mfcc_q7`] gives int16 in Q7 (`value * 128`); [`mfcc_int8`] quantizes them with
//! [`INT8_SCALE`] (2/3) and [`INT8_ZERO_POINT`] (58) by [`q7_to_int8`]. Mel energies below
//! `2^LOG2_FLOOR` are floored, as MLPerf Tiny's `log(mel + 1e-6)` does.
//!
//! ```
//! use tinylab_classical::data::audio::mfcc::{mfcc_float, mfcc_q7, N_FRAMES, N_MFCC};
//! let tone: Vec<i16> = (0..16000).map(|n| (8000.0 * (n as f64 * 0.3).sin()) as i16).collect();
//! let q7 = mfcc_q7(&tone).unwrap(); // (49 * 10) int16, frame-major
//! let f = mfcc_float(&tone).unwrap();
//! assert_eq!(q7.len(), N_FRAMES * N_MFCC);
//! assert!((q7[0] as f64 / 128.0 - f[0]).abs() < 0.05);
//! ```

pub mod fixed;
pub mod float;
pub mod tables;

use super::super::{DataError, invalid};
pub use tables::MfccTables;

/// Samples per second of the input.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples of one clip (1 s).
pub const CLIP_SAMPLES: usize = 16_000;
/// Samples of one frame (30 ms).
pub const FRAME_LEN: usize = 480;
/// Samples between frame starts (20 ms).
pub const FRAME_STRIDE: usize = 320;
/// Frames of one clip: `1 + (16000 - 480) / 320`.
pub const N_FRAMES: usize = 1 + (CLIP_SAMPLES - FRAME_LEN) / FRAME_STRIDE;
/// Points of the FFT (frames are zero-padded from 480).
pub const FFT_LEN: usize = 512;
/// Bins of the one-sided spectrum.
pub const N_BINS: usize = FFT_LEN / 2 + 1;
/// Mel filters.
pub const N_MEL: usize = 40;
/// The lower edge of the filterbank.
pub const MEL_LOW_HZ: f64 = 20.0;
/// The upper edge of the filterbank.
pub const MEL_HIGH_HZ: f64 = 4000.0;
/// Coefficients kept per frame.
pub const N_MFCC: usize = 10;
/// Mel energies (of samples scaled to `[-1, 1)`) are floored at `2^LOG2_FLOOR` (about 1e-6, the
/// epsilon of MLPerf Tiny's `log(mel + 1e-6)`; a full-scale tone's band energy is about 1e4).
pub const LOG2_FLOOR: i32 = -20;
/// Fraction bits of [`mfcc_q7`]'s output.
pub const Q7_FRAC_BITS: u32 = 7;
/// The integer multiplier of [`q7_to_int8`]: `q = ((c_q7 * 768 + 2^15) >> 16) + zero point`, i.e.
/// one int8 step is `65536 / (128 * 768) = 2/3` of an MFCC unit.
pub const INT8_MULTIPLIER: i32 = 768;
/// The scale of [`mfcc_int8`]'s output: `value = INT8_SCALE * (q - INT8_ZERO_POINT)` (exactly 2/3).
pub const INT8_SCALE: f32 = 2.0 / 3.0;
/// The zero point of [`mfcc_int8`]'s output: int8 covers MFCC values in `[-124.7, 46]`, from the
/// all-floor frame (`c0 = 40 ln(2^-20) sqrt(2/40) = -124.0`) to loud speech.
pub const INT8_ZERO_POINT: i32 = 58;

/// The frame `t` of a clip.
fn frame(audio: &[i16], t: usize) -> &[i16; FRAME_LEN] {
    audio[t * FRAME_STRIDE..t * FRAME_STRIDE + FRAME_LEN].try_into().expect("a frame inside the clip")
}

fn check_clip(op: &'static str, audio: &[i16]) -> Result<(), DataError> {
    if audio.len() != CLIP_SAMPLES {
        return Err(invalid(
            op,
            format!("a clip must have {CLIP_SAMPLES} samples (1 s at 16 kHz), got {}", audio.len()),
        ));
    }
    Ok(())
}

/// The fixed-point MFCCs of a 1 s clip in Q7, frame-major: `out[t * 10 + k]` is coefficient `k` of
/// frame `t` times 128. Bit-exact with `tl_mfcc_q7` of `mcu-export/c/tl_mfcc.c`.
pub fn mfcc_q7(audio: &[i16]) -> Result<Vec<i16>, DataError> {
    check_clip("mfcc_q7", audio)?;
    let t = MfccTables::get();
    Ok((0..N_FRAMES).flat_map(|i| fixed::frame_mfcc_q7(frame(audio, i), t)).collect())
}

/// One Q7 value in the int8 quantization of [`INT8_SCALE`] and [`INT8_ZERO_POINT`]:
/// `clamp(((q7 * INT8_MULTIPLIER + 2^15) >> 16) + INT8_ZERO_POINT, -128, 127)`.
pub fn q7_to_int8(q7: i16) -> i8 {
    (((i32::from(q7) * INT8_MULTIPLIER + (1 << 15)) >> 16) + INT8_ZERO_POINT).clamp(-128, 127) as i8
}

/// The fixed-point MFCCs of a 1 s clip as int8 ([`mfcc_q7`] through [`q7_to_int8`]), frame-major.
/// Bit-exact with `tl_mfcc_int8` of `mcu-export/c/tl_mfcc.c`.
pub fn mfcc_int8(audio: &[i16]) -> Result<Vec<i8>, DataError> {
    Ok(mfcc_q7(audio)?.into_iter().map(q7_to_int8).collect())
}

/// The float reference MFCCs of a 1 s clip, frame-major (see [`float`]).
pub fn mfcc_float(audio: &[i16]) -> Result<Vec<f64>, DataError> {
    check_clip("mfcc_float", audio)?;
    Ok((0..N_FRAMES).flat_map(|i| float::frame_mfcc(frame(audio, i))).collect())
}

/// The fixed-point natural-log mel energies of a 1 s clip (`(49, 40)`, frame-major), as `f64`: the
/// stage before the DCT, for checks that a tone's energy lands in its band.
pub fn log_mel_fixed(audio: &[i16]) -> Result<Vec<f64>, DataError> {
    check_clip("log_mel_fixed", audio)?;
    let t = MfccTables::get();
    let to_ln = std::f64::consts::LN_2 / 65536.0;
    Ok((0..N_FRAMES).flat_map(|i| fixed::frame_log_mel(frame(audio, i), t)).map(|l| f64::from(l) * to_ln).collect())
}

/// The float reference of [`log_mel_fixed`].
pub fn log_mel_float(audio: &[i16]) -> Result<Vec<f64>, DataError> {
    check_clip("log_mel_float", audio)?;
    Ok((0..N_FRAMES).flat_map(|i| float::frame_log_mel(frame(audio, i))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_lengths_are_refused() {
        for f in [|a: &[i16]| mfcc_q7(a).map(|_| ()), |a: &[i16]| mfcc_float(a).map(|_| ())] {
            let err = f(&[0; 15999]).unwrap_err().to_string();
            assert!(err.contains("16000 samples") && err.contains("15999"), "{err}");
        }
        assert!(mfcc_int8(&[]).is_err() && log_mel_fixed(&[0; 16001]).is_err() && log_mel_float(&[1]).is_err());
    }

    #[test]
    fn silence_is_the_floor_in_both_implementations() {
        // Every band at ln 2^-20: c0 = 40 ln(2^-20) sqrt(2/40) = -123.997, the rest 0.
        let want = 40.0 * (-20.0 * std::f64::consts::LN_2) * (2.0f64 / 40.0).sqrt();
        let f = mfcc_float(&[0; CLIP_SAMPLES]).unwrap();
        let q = mfcc_q7(&[0; CLIP_SAMPLES]).unwrap();
        for t in 0..N_FRAMES {
            assert!((f[t * N_MFCC] - want).abs() < 1e-9);
            assert!((f64::from(q[t * N_MFCC]) / 128.0 - want).abs() < 0.01, "{}", q[t * N_MFCC]);
            assert!(q[t * N_MFCC + 1..(t + 1) * N_MFCC].iter().all(|&v| v == 0));
        }
        // The int8 grid: -124.0 is q = -128 exactly (the bottom of the range).
        assert_eq!(q7_to_int8(q[0]), -128);
        assert_eq!(q7_to_int8(0), INT8_ZERO_POINT as i8);
        assert_eq!(q7_to_int8(i16::MAX), 127);
        // 1.5 units are 2.25 steps of 2/3, 0.5 units 0.75 steps, -0.5 units -0.75 steps.
        assert_eq!(q7_to_int8(192), INT8_ZERO_POINT as i8 + 2);
        assert_eq!(q7_to_int8(64), INT8_ZERO_POINT as i8 + 1);
        assert_eq!(q7_to_int8(-64), INT8_ZERO_POINT as i8 - 1);
    }
}
