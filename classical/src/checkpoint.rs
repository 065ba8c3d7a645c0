//! Versioned, checksummed checkpoints.
//!
//! A checkpoint file is a fixed header followed by a payload:
//!
//! | bytes | content |
//! |-------|---------|
//! | 8 | magic `TINYLAB\0` |
//! | 4 | format version, little-endian `u32` ([`FORMAT_VERSION`]) |
//! | 2 | length of the kind string, little-endian `u16` |
//! | k | the kind string (UTF-8), e.g. `"train_state"` |
//! | 8 | payload length, little-endian `u64` |
//! | 4 | CRC-32 (IEEE) of the payload, little-endian `u32` |
//! | n | payload: the value encoded with `postcard` |
//!
//! The payload is binary so that every `f32` (NaN and infinities included) comes back with the same
//! bits; the kind string stops a model checkpoint from being read as an optimizer state; the length
//! and checksum turn a truncated or corrupted file into a [`CheckpointError`] naming the file, never a
//! panic or a silently wrong model. Writes go to a temporary file in the same directory that is then
//! renamed over the target, so an interrupted save leaves the previous checkpoint intact.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The magic bytes every checkpoint starts with.
pub const MAGIC: &[u8; 8] = b"TINYLAB\0";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What can go wrong reading or writing a checkpoint. Every variant names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The file could not be read, written or renamed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not start with the checkpoint magic.
    #[error("checkpoint {path}: not a tinylab checkpoint (bad magic bytes)")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a format version this build does not read.
    #[error("checkpoint {path}: format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The file holds a different kind of state than the caller asked for.
    #[error("checkpoint {path}: holds a {found:?}, expected a {expected:?}")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// Kind asked for.
        expected: String,
        /// Kind in the file.
        found: String,
    },
    /// The file ends before the header or payload does.
    #[error("checkpoint {path}: truncated ({found} bytes, the header says {expected})")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The payload's checksum does not match the header.
    #[error("checkpoint {path}: corrupt (CRC-32 {found:08x}, the header says {expected:08x})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Checksum in the header.
        expected: u32,
        /// Checksum of the payload read.
        found: u32,
    },
    /// The payload could not be decoded as the requested type, or the value could not be encoded.
    #[error("checkpoint {path}: payload does not decode as a {kind:?}: {source}")]
    Payload {
        /// The file.
        path: PathBuf,
        /// Kind asked for.
        kind: String,
        /// The codec error.
        source: postcard::Error,
    },
    /// A kind string longer than the header can hold.
    #[error("checkpoint {path}: kind string of {len} bytes is too long")]
    KindTooLong {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// Encodes `value` as a checkpoint of `kind` into bytes.
pub fn to_bytes<T: Serialize>(kind: &str, value: &T) -> Result<Vec<u8>, CheckpointError> {
    let path = PathBuf::from("<memory>");
    let kind_len =
        u16::try_from(kind.len()).map_err(|_| CheckpointError::KindTooLong { path: path.clone(), len: kind.len() })?;
    let payload = postcard::to_stdvec(value).map_err(|source| CheckpointError::Payload {
        path,
        kind: kind.to_string(),
        source,
    })?;
    let mut out = Vec::with_capacity(26 + kind.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&kind_len.to_le_bytes());
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes a checkpoint of `kind` from bytes; `path` only names the source in errors.
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8], kind: &str, path: &Path) -> Result<T, CheckpointError> {
    let path_buf = || path.to_path_buf();
    let truncated = |expected: usize| CheckpointError::Truncated {
        path: path_buf(),
        expected: expected as u64,
        found: bytes.len() as u64,
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CheckpointError::NotACheckpoint { path: path_buf() });
    }
    let mut pos = MAGIC.len();
    let mut take = |n: usize| -> Result<&[u8], CheckpointError> {
        let slice = bytes.get(pos..pos + n).ok_or_else(|| truncated(pos + n))?;
        pos += n;
        Ok(slice)
    };
    let version = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(CheckpointError::UnsupportedVersion {
            path: path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let kind_len = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes")) as usize;
    let found_kind = String::from_utf8_lossy(take(kind_len)?).into_owned();
    if found_kind != kind {
        return Err(CheckpointError::WrongKind { path: path_buf(), expected: kind.to_string(), found: found_kind });
    }
    let payload_len = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let expected_crc = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
    let header_len = MAGIC.len() + 4 + 2 + kind_len + 8 + 4;
    let total = (header_len as u64).saturating_add(payload_len);
    if total != bytes.len() as u64 {
        return Err(CheckpointError::Truncated { path: path_buf(), expected: total, found: bytes.len() as u64 });
    }
    let payload = &bytes[header_len..];
    let found_crc = crc32fast::hash(payload);
    if found_crc != expected_crc {
        return Err(CheckpointError::Corrupt { path: path_buf(), expected: expected_crc, found: found_crc });
    }
    postcard::from_bytes(payload).map_err(|source| CheckpointError::Payload {
        path: path_buf(),
        kind: kind.to_string(),
        source,
    })
}

/// Writes `value` as a checkpoint of `kind` to `path`, atomically (temporary file + rename).
pub fn save<T: Serialize>(path: &Path, kind: &str, value: &T) -> Result<(), CheckpointError> {
    let bytes = to_bytes(kind, value).map_err(|e| match e {
        CheckpointError::Payload { kind, source, .. } => {
            CheckpointError::Payload { path: path.to_path_buf(), kind, source }
        }
        CheckpointError::KindTooLong { len, .. } => CheckpointError::KindTooLong { path: path.to_path_buf(), len },
        other => other,
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(path))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(&bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Reads a checkpoint of `kind` from `path`.
pub fn load<T: DeserializeOwned>(path: &Path, kind: &str) -> Result<T, CheckpointError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    from_bytes(&bytes, kind, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        step: u64,
        weights: Vec<f32>,
    }

    fn sample() -> State {
        State { step: 7, weights: vec![1.5, -0.0, f32::NAN, f32::INFINITY, 1e-40] }
    }

    #[test]
    fn round_trip_keeps_every_bit() {
        let bytes = to_bytes("state", &sample()).unwrap();
        let back: State = from_bytes(&bytes, "state", Path::new("x")).unwrap();
        let bits = |s: &State| s.weights.iter().map(|w| w.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&sample()));
        assert_eq!(back.step, 7);
    }

    #[test]
    fn every_corruption_is_a_typed_error() {
        let bytes = to_bytes("state", &sample()).unwrap();
        let p = Path::new("ck.bin");
        let load = |b: &[u8]| from_bytes::<State>(b, "state", p).unwrap_err();
        assert!(matches!(load(b"hello world, not a checkpoint"), CheckpointError::NotACheckpoint { .. }));
        assert!(matches!(load(&bytes[..bytes.len() - 3]), CheckpointError::Truncated { .. }));
        assert!(matches!(load(&bytes[..10]), CheckpointError::Truncated { .. }));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 0x40;
        assert!(matches!(load(&flipped), CheckpointError::Corrupt { .. }));
        let mut version = bytes.clone();
        version[8] = 9;
        assert!(matches!(load(&version), CheckpointError::UnsupportedVersion { found: 9, .. }));
        let err = from_bytes::<State>(&bytes, "model", p).unwrap_err();
        assert!(matches!(err, CheckpointError::WrongKind { .. }));
        assert!(err.to_string().contains("ck.bin"), "{err}");
        // A well-formed file whose payload is another type.
        let other = to_bytes("state", &"just a string").unwrap();
        assert!(matches!(load(&other), CheckpointError::Payload { .. }));
    }

    #[test]
    fn save_then_load_through_the_file_system() {
        let dir = std::env::temp_dir().join(format!("tinylab-ck-{}", std::process::id()));
        let path = dir.join("nested").join("a.ckpt");
        save(&path, "state", &sample()).unwrap();
        let back: State = load(&path, "state").unwrap();
        assert_eq!(back.step, 7);
        let missing = load::<State>(&dir.join("missing.ckpt"), "state").unwrap_err();
        assert!(matches!(missing, CheckpointError::Io { .. }));
        std::fs::remove_dir_all(&dir).ok();
    }
}
