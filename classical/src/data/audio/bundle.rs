//! The bundled keyword-spotting set (`classical/data/kws_bundle.bin.gz`): a few spoken keywords as
//! audio and a few hundred pre-computed int8 MFCC feature maps, so that tests and quick runs need no
//! speech synthesis. It is derived from the espeak-ng cache by [`build_bundle`] (an ignored test
//! checks the committed file against a rebuild).
//!
//! Format (little-endian, the whole gzip-compressed): the magic `TLKWS1\n`; `u16` voice count, then
//! per voice a `u8` length and its UTF-8 name; `u16` clip count, then per clip `u8` class, `u16`
//! voice, `u16` sample count and the int16 samples; `u16` feature count, then per feature map `u8`
//! class, `u16` voice (`0xFFFF` for silence, which has no voice) and the 49 x 10 int8 MFCCs of
//! [`mfcc_int8`](super::mfcc::mfcc_int8), frame-major.

use super::super::{DataError, format_err};
use super::augment::Augment;
use super::kws::{KWS_CLASSES, SILENCE, Utterance, load_cache};
use super::mfcc::{N_FRAMES, N_MFCC, mfcc_int8};
use crate::seed::derive;
use crate::train::permutation;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"TLKWS1\n";
const NAME: &str = "<embedded kws_bundle.bin.gz>";
const BUNDLE_GZ: &[u8] = include_bytes!("../../../data/kws_bundle.bin.gz");
/// The voice index of a sample without a voice (silence).
pub const NO_VOICE: u16 = u16::MAX;
/// Voices whose feature maps are bundled.
pub const BUNDLE_VOICES: usize = 32;
/// The seed of the bundle's voice choice and augmentation.
pub const BUNDLE_SEED: u64 = 17;

/// One bundled utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledClip {
    /// Its class (see [`KWS_CLASSES`]).
    pub class: usize,
    /// The voice (`accent+variant`).
    pub voice: String,
    /// The trimmed utterance, 16 kHz int16 (place it in a clip with
    /// [`centred_clip`](super::augment::centred_clip)).
    pub samples: Vec<i16>,
}

/// One bundled feature map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledFeatures {
    /// Its class.
    pub class: usize,
    /// The voice index into [`Bundle::voices`], `None` for silence.
    pub voice: Option<usize>,
    /// The 49 x 10 int8 MFCCs.
    pub mfcc: Vec<i8>,
}

/// The decoded bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Voice names.
    pub voices: Vec<String>,
    /// Utterances as audio.
    pub clips: Vec<BundledClip>,
    /// Pre-computed feature maps.
    pub features: Vec<BundledFeatures>,
}

/// The bundle shipped in the crate.
pub fn bundled() -> Result<Bundle, DataError> {
    let mut raw = Vec::new();
    GzDecoder::new(BUNDLE_GZ).read_to_end(&mut raw).map_err(|e| format_err(NAME, format!("gzip: {e}")))?;
    decode(&raw, NAME)
}

/// A reader over the bundle's bytes that names what is missing.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    name: &'a str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DataError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| {
            format_err(self.name, format!("truncated at byte {} reading {what} ({n} bytes)", self.pos))
        })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, DataError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, DataError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
}

/// Decodes uncompressed bundle bytes (see the module docs).
pub fn decode(data: &[u8], name: &str) -> Result<Bundle, DataError> {
    let mut c = Cursor { data, pos: 0, name };
    if c.take(MAGIC.len(), "the magic")? != MAGIC {
        return Err(format_err(name, "not a tinylab kws bundle (bad magic)"));
    }
    let n_voices = c.u16("the voice count")? as usize;
    let mut voices = Vec::with_capacity(n_voices);
    for i in 0..n_voices {
        let len = c.u8("a voice name length")? as usize;
        let s = c.take(len, "a voice name")?;
        voices.push(String::from_utf8(s.to_vec()).map_err(|_| format_err(name, format!("voice {i} is not UTF-8")))?);
    }
    let class = |c: &mut Cursor, i: usize| -> Result<usize, DataError> {
        let k = c.u8("a class")? as usize;
        if k >= KWS_CLASSES.len() {
            return Err(format_err(name, format!("sample {i}: class {k} is not below {}", KWS_CLASSES.len())));
        }
        Ok(k)
    };
    let voice = |c: &mut Cursor, i: usize| -> Result<Option<usize>, DataError> {
        match c.u16("a voice index")? {
            NO_VOICE => Ok(None),
            v if (v as usize) < n_voices => Ok(Some(v as usize)),
            v => Err(format_err(name, format!("sample {i}: voice {v} of {n_voices}"))),
        }
    };
    let n_clips = c.u16("the clip count")? as usize;
    let mut clips = Vec::with_capacity(n_clips);
    for i in 0..n_clips {
        let class = class(&mut c, i)?;
        let v = voice(&mut c, i)?.ok_or_else(|| format_err(name, format!("clip {i} has no voice")))?;
        let n = c.u16("a sample count")? as usize;
        let bytes = c.take(2 * n, "samples")?;
        let samples = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        clips.push(BundledClip { class, voice: voices[v].clone(), samples });
    }
    let n_features = c.u16("the feature count")? as usize;
    let mut features = Vec::with_capacity(n_features);
    for i in 0..n_features {
        let class = class(&mut c, i)?;
        let voice = voice(&mut c, i)?;
        let mfcc = c.take(N_FRAMES * N_MFCC, "a feature map")?.iter().map(|&b| b as i8).collect();
        features.push(BundledFeatures { class, voice, mfcc });
    }
    if c.pos != data.len() {
        return Err(format_err(name, format!("{} bytes after the last feature map", data.len() - c.pos)));
    }
    Ok(Bundle { voices, clips, features })
}

/// Encodes a bundle (uncompressed; see the module docs).
pub fn encode(b: &Bundle) -> Result<Vec<u8>, DataError> {
    let too_many = |what: &str, n: usize| format_err("bundle", format!("{n} {what} do not fit the format"));
    let mut out = MAGIC.to_vec();
    let u16_of =
        |n: usize, what: &str| u16::try_from(n).ok().filter(|&v| v != NO_VOICE).ok_or_else(|| too_many(what, n));
    out.extend(u16_of(b.voices.len(), "voices")?.to_le_bytes());
    for v in &b.voices {
        out.push(u8::try_from(v.len()).map_err(|_| too_many("bytes of a voice name", v.len()))?);
        out.extend(v.as_bytes());
    }
    let index = |name: &str| {
        b.voices.iter().position(|v| v == name).ok_or_else(|| format_err("bundle", format!("unknown voice {name}")))
    };
    out.extend(u16_of(b.clips.len(), "clips")?.to_le_bytes());
    for c in &b.clips {
        out.push(c.class as u8);
        out.extend((index(&c.voice)? as u16).to_le_bytes());
        out.extend(u16_of(c.samples.len(), "samples")?.to_le_bytes());
        c.samples.iter().for_each(|s| out.extend(s.to_le_bytes()));
    }
    out.extend(u16_of(b.features.len(), "feature maps")?.to_le_bytes());
    for f in &b.features {
        out.push(f.class as u8);
        out.extend(f.voice.map_or(NO_VOICE, |v| v as u16).to_le_bytes());
        out.extend(f.mfcc.iter().map(|&v| v as u8));
    }
    Ok(out)
}

/// Gzip of [`encode`].
pub fn encode_gz(b: &Bundle) -> Result<Vec<u8>, DataError> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let io = |e: std::io::Error| format_err("bundle", format!("gzip: {e}"));
    gz.write_all(&encode(b)?).map_err(io)?;
    gz.finish().map_err(io)
}

/// The bundle derived from the espeak-ng cache at `dir` (see `scripts/gen_kws.sh`):
/// [`BUNDLE_VOICES`] voices drawn with [`BUNDLE_SEED`]; as audio, the first voice's utterance of each
/// keyword (speed 140, pitch 35) and of one unknown word; as features, for every chosen voice one
/// augmented clip ([`Augment::default`]) of each keyword and of one unknown word, and as many
/// silence clips, all drawn with [`BUNDLE_SEED`].
pub fn build_bundle(dir: &Path) -> Result<Bundle, DataError> {
    let utts = load_cache(dir)?;
    let mut names: Vec<&str> = utts.iter().map(|u| u.voice.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() < BUNDLE_VOICES {
        return Err(format_err(dir, format!("{} voices, the bundle takes {BUNDLE_VOICES}", names.len())));
    }
    let order = permutation(names.len(), derive(BUNDLE_SEED, &[0]));
    let voices: Vec<String> = order[..BUNDLE_VOICES].iter().map(|&i| names[i].to_string()).collect();
    let of = |voice: &str, class: usize| -> Vec<&Utterance> {
        utts.iter().filter(|u| u.voice == voice && u.class == class).collect()
    };
    let missing = |v: &str, c: usize| format_err(dir, format!("no utterance of class {} by {v}", KWS_CLASSES[c]));
    let mut clips = Vec::new();
    for class in (0..KWS_CLASSES.len()).filter(|&c| c != SILENCE) {
        let u = of(&voices[0], class);
        let u =
            u.iter().find(|u| u.name.ends_with("_s140_p35")).or(u.first()).ok_or_else(|| missing(&voices[0], class))?;
        clips.push(BundledClip { class, voice: u.voice.clone(), samples: u.samples.clone() });
    }
    let aug = Augment::default();
    let mut features = Vec::new();
    for (vi, voice) in voices.iter().enumerate() {
        for class in 0..KWS_CLASSES.len() {
            let seed = derive(BUNDLE_SEED, &[1, vi as u64, class as u64]);
            let (clip, voice) = if class == SILENCE {
                (aug.silence(seed), None)
            } else {
                let u = of(voice, class);
                if u.is_empty() {
                    return Err(missing(voice, class));
                }
                let pick = u[(derive(seed, &[2]) % u.len() as u64) as usize];
                (aug.clip(&pick.samples, seed), Some(vi))
            };
            features.push(BundledFeatures { class, voice, mfcc: mfcc_int8(&clip)? });
        }
    }
    Ok(Bundle { voices, clips, features })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_round_trips_and_names_what_is_wrong() {
        let b = Bundle {
            voices: vec!["en-us+f1".into(), "en-gb+m3".into()],
            clips: vec![BundledClip { class: 9, voice: "en-gb+m3".into(), samples: vec![-32768, 0, 32767] }],
            features: vec![
                BundledFeatures { class: 10, voice: None, mfcc: vec![-128; N_FRAMES * N_MFCC] },
                BundledFeatures { class: 3, voice: Some(0), mfcc: (0..490).map(|i| i as i8).collect() },
            ],
        };
        let bytes = encode(&b).unwrap();
        assert_eq!(decode(&bytes, "t").unwrap(), b);
        let err = decode(&bytes[..bytes.len() - 1], "t").unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("feature map"), "{err}");
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(decode(&bad, "t").unwrap_err().to_string().contains("magic"));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra, "t").unwrap_err().to_string().contains("after the last"));
        let mut gz = Vec::new();
        GzDecoder::new(&encode_gz(&b).unwrap()[..]).read_to_end(&mut gz).unwrap();
        assert_eq!(gz, bytes);
    }

    #[test]
    fn the_bundled_set_is_what_build_bundle_describes() {
        let b = bundled().unwrap();
        assert_eq!(b.voices.len(), BUNDLE_VOICES);
        // One utterance of every class but silence, all by the first voice, each under 1 s.
        assert_eq!(b.clips.iter().map(|c| c.class).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
        assert!(b.clips.iter().all(|c| c.voice == b.voices[0] && c.samples.len() > 2000 && c.samples.len() <= 16000));
        // One feature map per voice and class; silence has no voice.
        assert_eq!(b.features.len(), BUNDLE_VOICES * KWS_CLASSES.len());
        for (i, f) in b.features.iter().enumerate() {
            assert_eq!(f.class, i % KWS_CLASSES.len());
            assert_eq!(f.voice, if f.class == SILENCE { None } else { Some(i / KWS_CLASSES.len()) });
        }
        // Real feature maps: c0 (the log energy) differs between clips.
        let c0: Vec<i8> = b.features.iter().map(|f| f.mfcc[0]).collect();
        assert!(c0.iter().min() < c0.iter().max());
    }

    /// Rebuilds the bundle from the espeak-ng cache (needs `scripts/gen_kws.sh` to have run; fails
    /// without it) and compares it with the committed one; `TINYLAB_UPDATE_FIXTURES=1` rewrites
    /// `classical/data/kws_bundle.bin.gz` instead.
    #[test]
    #[ignore = "needs the espeak-ng cache of scripts/gen_kws.sh"]
    fn the_bundle_rebuilds_from_the_cache() {
        let dir = super::super::kws::default_cache_dir().expect("a cache directory");
        let built = build_bundle(&dir).unwrap();
        if std::env::var("TINYLAB_UPDATE_FIXTURES").is_ok_and(|v| v == "1") {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kws_bundle.bin.gz");
            std::fs::write(&path, encode_gz(&built).unwrap()).unwrap();
            return;
        }
        assert_eq!(bundled().unwrap(), built);
    }
}
