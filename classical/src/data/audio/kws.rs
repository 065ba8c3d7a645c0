//! The spoken-keyword data set: MLPerf Tiny's 12 keyword-spotting classes (the 10 Speech Commands
//! keywords, "silence" and "unknown"; Banbury et al. 2021, Warden 2018) spoken by espeak-ng voices,
//! as `(N, 1, 49, 10)` MFCC feature maps ([`mfcc`](super::mfcc)) in an [`ImageDataset`].
//!
//! Two forms, one API ([`kws_dataset`]):
//! - full: the utterances synthesised by `scripts/gen_kws.sh` into the cache ([`default_cache_dir`]:
//!   8 English accents x 11 voice variants = 88 voices; each keyword in 2 speeds x 2 pitches per
//!   voice, 20 other words once per voice), placed in 1 s clips with seeded shift and background
//!   noise ([`Augment`]) and passed through the fixed-point MFCC;
//! - quick: the feature maps bundled in the crate ([`bundle`](super::bundle), 32 voices x 12 classes),
//!   for CI and machines without the cache.
//!
//! Train and test are split by voice: a seeded share of the voices is held out, so the test set
//! only has voices the model never heard. The "unknown" class of each split takes as many clips of
//! other words as an average keyword has, and "silence" (background noise only) as many again, as
//! in MLPerf Tiny's balanced test set.

use super::super::{DataError, ImageDataset, format_err, invalid};
use super::augment::Augment;
use super::bundle::bundled;
use super::mfcc::{INT8_SCALE, INT8_ZERO_POINT, N_FRAMES, N_MFCC, mfcc_int8};
use crate::seed::derive;
use crate::train::permutation;
use ndarray::Array4;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The class names in label order, as MLPerf Tiny's KWS (`get_dataset.py`'s `word_labels`).
pub const KWS_CLASSES: [&str; 12] =
    ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown"];
/// The label of background noise without speech.
pub const SILENCE: usize = 10;
/// The label of words that are not keywords.
pub const UNKNOWN: usize = 11;
/// The environment variable naming the cache directory instead of [`default_cache_dir`].
pub const KWS_DIR_ENV: &str = "TINYLAB_KWS_DIR";
/// Where the synthesised clips come from, for reports and the README.
pub const KWS_SOURCE: &str = "spoken keywords synthesised with espeak-ng 1.51 (GPL-3.0-or-later software) and \
     resampled with sox by scripts/gen_kws.sh; the clips and features derived from them are CC0-1.0";

/// One utterance of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// The word spoken.
    pub word: String,
    /// Its class: the keyword's index in [`KWS_CLASSES`], or [`UNKNOWN`].
    pub class: usize,
    /// The voice, `accent+variant`.
    pub voice: String,
    /// The file stem (`<voice>_s<speed>_p<pitch>`).
    pub name: String,
    /// Trimmed 16 kHz int16 samples (at most 1 s).
    pub samples: Vec<i16>,
}

/// `$TINYLAB_KWS_DIR`, or `$XDG_CACHE_HOME/tinylab/kws/v1`, or `~/.cache/tinylab/kws/v1` (where
/// `scripts/gen_kws.sh` writes by default).
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(KWS_DIR_ENV) {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tinylab").join("kws").join("v1"))
}

/// Every utterance under `dir` (`<word>/<voice>_s<speed>_p<pitch>.raw`, raw s16le), sorted by word
/// and file name. Words that are not keywords are [`UNKNOWN`].
pub fn load_cache(dir: &Path) -> Result<Vec<Utterance>, DataError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| DataError::Io { path: p, source }
    };
    let mut words: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    words.sort();
    let mut out = Vec::new();
    for wdir in words {
        let word = wdir.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let class = KWS_CLASSES[..SILENCE].iter().position(|k| *k == word).unwrap_or(UNKNOWN);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&wdir)
            .map_err(io(&wdir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "raw"))
            .collect();
        files.sort();
        for f in files {
            let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let voice = name.split('_').next().unwrap_or_default().to_string();
            let bytes = std::fs::read(&f).map_err(io(&f))?;
            if bytes.is_empty() || bytes.len() % 2 != 0 || bytes.len() > 2 * 16000 {
                return Err(format_err(&f, format!("{} bytes: not 1..=16000 int16 samples", bytes.len())));
            }
            let samples = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
            out.push(Utterance { word: word.clone(), class, voice, name, samples });
        }
    }
    if out.is_empty() {
        return Err(format_err(dir, "no utterances (run scripts/gen_kws.sh)"));
    }
    Ok(out)
}

/// Where [`kws_dataset`] reads from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KwsSource {
    /// The cache at [`default_cache_dir`] when it holds utterances, the bundle otherwise.
    #[default]
    Auto,
    /// The cache at this directory (full form); an error when it is missing.
    Cache(PathBuf),
    /// The bundled feature maps (quick form).
    Bundled,
}

/// Which form a [`KwsData`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KwsForm {
    /// The synthesised cache, augmented and featurised here.
    Full,
    /// The bundled feature maps.
    Quick,
}

/// Options of [`kws_dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct KwsOptions {
    /// Where the data comes from.
    pub source: KwsSource,
    /// The share of voices held out for the test set.
    pub test_voice_fraction: f64,
    /// The seed of the voice split, the unknown-word picks and the augmentation.
    pub seed: u64,
    /// The augmentation of the full form (the quick form's features were augmented when bundled).
    pub augment: Augment,
    /// Augmented copies of every training utterance (full form).
    pub train_copies: usize,
}

impl Default for KwsOptions {
    /// Auto source, a fifth of the voices held out, seed 0, Speech Commands augmentation, one copy.
    fn default() -> Self {
        Self {
            source: KwsSource::Auto,
            test_voice_fraction: 0.2,
            seed: 0,
            augment: Augment::default(),
            train_copies: 1,
        }
    }
}

/// A split keyword-spotting set.
#[derive(Debug, Clone)]
pub struct KwsData {
    /// Training feature maps `(N, 1, 49, 10)`: MFCCs in their natural units (the int8 features
    /// dequantized with [`INT8_SCALE`] and [`INT8_ZERO_POINT`]), labels in [`KWS_CLASSES`] order.
    pub train: ImageDataset,
    /// Test feature maps of the held-out voices.
    pub test: ImageDataset,
    /// The training voices.
    pub train_voices: Vec<String>,
    /// The held-out voices.
    pub test_voices: Vec<String>,
    /// Full or quick.
    pub form: KwsForm,
}

/// The seeded voice split: the first `round(fraction * n)` voices of a permutation are held out.
fn split_voices(voices: &[String], fraction: f64, seed: u64) -> Result<Vec<bool>, DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(invalid("kws_dataset", format!("test_voice_fraction {fraction} is not in [0, 1)")));
    }
    let n_test = ((fraction * voices.len() as f64).round() as usize).max(usize::from(fraction > 0.0));
    let mut test = vec![false; voices.len()];
    for &i in &permutation(voices.len(), derive(seed, &[0]))[..n_test.min(voices.len())] {
        test[i] = true;
    }
    Ok(test)
}

/// int8 feature maps to a dataset in MFCC units.
fn to_dataset(maps: &[Vec<i8>], labels: Vec<usize>) -> Result<ImageDataset, DataError> {
    let values: Vec<f32> =
        maps.iter().flatten().map(|&q| (i32::from(q) - INT8_ZERO_POINT) as f32 * INT8_SCALE).collect();
    let images = Array4::from_shape_vec((maps.len(), 1, N_FRAMES, N_MFCC), values)
        .map_err(|e| invalid("kws_dataset", e.to_string()))?;
    ImageDataset::new(images, labels, KWS_CLASSES.len())
}

/// The keyword-spotting set of `opts` (see the module docs): train and test [`ImageDataset`]s of
/// `(N, 1, 49, 10)` MFCCs with 12-class labels, split by voice.
pub fn kws_dataset(opts: &KwsOptions) -> Result<KwsData, DataError> {
    if opts.train_copies == 0 {
        return Err(invalid("kws_dataset", "train_copies must be at least 1"));
    }
    let cache = match &opts.source {
        KwsSource::Bundled => None,
        KwsSource::Cache(d) => Some(d.clone()),
        KwsSource::Auto => default_cache_dir().filter(|d| d.join("yes").is_dir()),
    };
    match cache {
        Some(dir) => full(&load_cache(&dir)?, opts),
        None => quick(opts),
    }
}

/// The quick form: the bundled feature maps split by voice (silence maps are split by their index,
/// in the same proportion).
fn quick(opts: &KwsOptions) -> Result<KwsData, DataError> {
    let b = bundled()?;
    let test_voice = split_voices(&b.voices, opts.test_voice_fraction, opts.seed)?;
    let n_silence = b.features.iter().filter(|f| f.voice.is_none()).count();
    let silence_test =
        split_voices(&vec![String::new(); n_silence], opts.test_voice_fraction, derive(opts.seed, &[1]))?;
    let (mut tr, mut te) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut s = 0;
    for f in &b.features {
        let is_test = match f.voice {
            Some(v) => test_voice[v],
            None => {
                s += 1;
                silence_test[s - 1]
            }
        };
        let side = if is_test { &mut te } else { &mut tr };
        side.0.push(f.mfcc.clone());
        side.1.push(f.class);
    }
    let names =
        |want: bool| b.voices.iter().zip(&test_voice).filter(|(_, t)| **t == want).map(|(v, _)| v.clone()).collect();
    Ok(KwsData {
        train: to_dataset(&tr.0, tr.1)?,
        test: to_dataset(&te.0, te.1)?,
        train_voices: names(false),
        test_voices: names(true),
        form: KwsForm::Quick,
    })
}

/// What one sample of the full form is made of.
#[derive(Clone, Copy)]
enum Source {
    Utterance(usize),
    Silence,
}

/// The samples of one split: every keyword utterance of its voices, as many unknown-word utterances
/// (seeded pick) and silence clips as the average keyword has.
fn split_samples(utts: &[Utterance], in_split: impl Fn(&Utterance) -> bool, seed: u64) -> Vec<(usize, Source)> {
    let mut out: Vec<(usize, Source)> = Vec::new();
    let mut unknown = Vec::new();
    for (i, u) in utts.iter().enumerate().filter(|(_, u)| in_split(u)) {
        if u.class == UNKNOWN { unknown.push(i) } else { out.push((u.class, Source::Utterance(i))) }
    }
    let per_class = out.len().div_ceil(SILENCE);
    let order = permutation(unknown.len(), derive(seed, &[1]));
    out.extend(order.iter().take(per_class).map(|&j| (UNKNOWN, Source::Utterance(unknown[j]))));
    out.extend((0..per_class).map(|_| (SILENCE, Source::Silence)));
    out
}

/// Augments and featurises `samples` (in parallel; every clip's draws come from its own seed).
fn featurise(
    utts: &[Utterance],
    samples: &[(usize, Source)],
    aug: &Augment,
    seed: u64,
) -> Result<(Vec<Vec<i8>>, Vec<usize>), DataError> {
    let maps = samples
        .par_iter()
        .enumerate()
        .map(|(i, &(_, src))| {
            let s = derive(seed, &[i as u64]);
            let clip = match src {
                Source::Utterance(u) => aug.clip(&utts[u].samples, s),
                Source::Silence => aug.silence(s),
            };
            mfcc_int8(&clip)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((maps, samples.iter().map(|s| s.0).collect()))
}

/// The full form from the cache's utterances.
fn full(utts: &[Utterance], opts: &KwsOptions) -> Result<KwsData, DataError> {
    let mut voices: Vec<String> = utts.iter().map(|u| u.voice.clone()).collect();
    voices.sort_unstable();
    voices.dedup();
    let test_voice = split_voices(&voices, opts.test_voice_fraction, opts.seed)?;
    let is_test = |u: &Utterance| test_voice[voices.binary_search(&u.voice).expect("a listed voice")];
    let train_samples = split_samples(utts, |u| !is_test(u), derive(opts.seed, &[2]));
    let test_samples = split_samples(utts, is_test, derive(opts.seed, &[3]));
    let (mut maps, mut labels) = (Vec::new(), Vec::new());
    for copy in 0..opts.train_copies {
        let (m, l) = featurise(utts, &train_samples, &opts.augment, derive(opts.seed, &[4, copy as u64]))?;
        maps.extend(m);
        labels.extend(l);
    }
    let (test_maps, test_labels) = featurise(utts, &test_samples, &opts.augment, derive(opts.seed, &[5]))?;
    let names =
        |want: bool| voices.iter().zip(&test_voice).filter(|(_, t)| **t == want).map(|(v, _)| v.clone()).collect();
    Ok(KwsData {
        train: to_dataset(&maps, labels)?,
        test: to_dataset(&test_maps, test_labels)?,
        train_voices: names(false),
        test_voices: names(true),
        form: KwsForm::Full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> KwsData {
        kws_dataset(&KwsOptions { source: KwsSource::Bundled, ..KwsOptions::default() }).unwrap()
    }

    #[test]
    fn the_quick_form_is_split_by_voice() {
        let d = quick();
        assert_eq!(d.form, KwsForm::Quick);
        assert_eq!(d.train.image_shape(), [1, N_FRAMES, N_MFCC]);
        assert_eq!(d.train.classes, 12);
        // 32 voices, a fifth (6) held out; one map per voice and class, silence split alike.
        assert_eq!((d.train_voices.len(), d.test_voices.len()), (26, 6));
        assert!(d.train_voices.iter().all(|v| !d.test_voices.contains(v)));
        assert_eq!(d.test.class_counts(), vec![6; 12]);
        assert_eq!(d.train.class_counts(), vec![26; 12]);
        // Features are MFCCs in their units: the int8 grid of step 2/3 within [-124.7, 46].
        assert!(d.train.images.iter().all(|&v| (-124.7..=46.0).contains(&v)));
        let c0_mean = d.train.images.slice(ndarray::s![.., 0, .., 0]).mean().unwrap();
        assert!(c0_mean < 0.0 && c0_mean > -124.0, "{c0_mean}");
        // Another seed holds out other voices; the same seed the same ones.
        let other = kws_dataset(&KwsOptions { source: KwsSource::Bundled, seed: 1, ..KwsOptions::default() }).unwrap();
        assert_ne!(other.test_voices, d.test_voices);
        assert_eq!(quick().test_voices, d.test_voices);
        assert!(
            kws_dataset(&KwsOptions { test_voice_fraction: 1.0, source: KwsSource::Bundled, ..KwsOptions::default() })
                .is_err()
        );
    }

    /// A tiny cache in a temporary directory: 5 voices, 2 keywords and 2 other words, tones as
    /// "speech".
    fn tiny_cache() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tl-kws-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (w, word) in ["yes", "no", "cat", "dog"].iter().enumerate() {
            std::fs::create_dir_all(dir.join(word)).unwrap();
            for v in 0..5 {
                for s in [140, 180] {
                    let f = 200.0 * (w + 1) as f64 + 10.0 * v as f64;
                    let samples: Vec<u8> = (0..6000)
                        .flat_map(|n| {
                            ((8000.0 * (f * n as f64 / 16000.0 * std::f64::consts::TAU).sin()) as i16).to_le_bytes()
                        })
                        .collect();
                    std::fs::write(dir.join(word).join(format!("en-us+m{v}_s{s}_p50.raw")), samples).unwrap();
                }
            }
        }
        dir
    }

    #[test]
    fn the_full_form_reads_the_cache_balances_and_augments() {
        let dir = tiny_cache();
        let utts = load_cache(&dir).unwrap();
        assert_eq!(utts.len(), 40);
        assert_eq!(utts.iter().filter(|u| u.class == UNKNOWN).count(), 20);
        assert_eq!(utts[0].voice, "en-us+m0");
        let opts = KwsOptions { source: KwsSource::Cache(dir.clone()), train_copies: 2, ..KwsOptions::default() };
        let d = kws_dataset(&opts).unwrap();
        assert_eq!(d.form, KwsForm::Full);
        assert_eq!(d.test_voices.len(), 1);
        // Test: 1 voice x 2 keywords x 2 files = 4 keyword clips; unknown and silence ceil(4 / 10) = 1 each.
        let mut want = vec![0; 12];
        want[3] = 2; // "no"
        want[9] = 2; // "yes"
        want[SILENCE] = 1;
        want[UNKNOWN] = 1;
        assert_eq!(d.test.class_counts(), want);
        // Train: 4 voices x 2 x 2 = 16, 2 unknown, 2 silence, twice (two augmented copies).
        assert_eq!(d.train.len(), 2 * 20);
        let half = d.train.len() / 2;
        assert_ne!(
            d.train.images.slice(ndarray::s![..half, .., .., ..]),
            d.train.images.slice(ndarray::s![half.., .., .., ..])
        );
        // Seeded: the same options give the same features.
        assert_eq!(kws_dataset(&opts).unwrap().train, d.train);
        // A cache without clips is a clear error.
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = kws_dataset(&KwsOptions { source: KwsSource::Cache(empty), ..KwsOptions::default() }).unwrap_err();
        assert!(err.to_string().contains("gen_kws.sh"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The full form from the espeak-ng cache (`scripts/gen_kws.sh`; fails without it): counts per
    /// class and how many int8 features saturate.
    #[test]
    #[ignore = "needs the espeak-ng cache of scripts/gen_kws.sh"]
    #[allow(clippy::print_stderr)]
    fn the_full_form_from_the_cache() {
        let dir = default_cache_dir().expect("a cache directory");
        let utts = load_cache(&dir).unwrap();
        let d = kws_dataset(&KwsOptions { source: KwsSource::Cache(dir), ..KwsOptions::default() }).unwrap();
        let mut per_word = std::collections::BTreeMap::new();
        for u in &utts {
            *per_word.entry(u.word.as_str()).or_insert(0) += 1;
        }
        let lo = (-128 - INT8_ZERO_POINT) as f32 * INT8_SCALE;
        let hi = (127 - INT8_ZERO_POINT) as f32 * INT8_SCALE;
        let sat = d.train.images.iter().filter(|&&v| v <= lo || v >= hi).count();
        for k in 0..N_MFCC {
            let col = d.train.images.slice(ndarray::s![.., 0, .., k]);
            let (l, h) = (col.iter().filter(|&&v| v <= lo).count(), col.iter().filter(|&&v| v >= hi).count());
            let (mn, mx) = col.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            eprintln!("coefficient {k}: min {mn} max {mx}, at the int8 limits: low {l} high {h}");
        }
        eprintln!("{} utterances: {per_word:?}", utts.len());
        eprintln!("voices: {} train, {} test ({:?})", d.train_voices.len(), d.test_voices.len(), d.test_voices);
        eprintln!("train {:?}\ntest {:?}", d.train.class_counts(), d.test.class_counts());
        eprintln!("int8 features at the limits of the int8 range: {sat} of {}", d.train.images.len());
        assert_eq!(d.train_voices.len() + d.test_voices.len(), 88);
        assert_eq!(d.test.class_counts()[..SILENCE], vec![4 * d.test_voices.len(); SILENCE]);
    }
}
