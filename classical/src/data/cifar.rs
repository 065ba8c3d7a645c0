//! CIFAR-10 binary batches (`data_batch_1.bin` ... `test_batch.bin`, Krizhevsky 2009).
//!
//! Each record is one label byte followed by 3072 pixel bytes: the red, green and blue 32x32 planes,
//! each row-major. A batch file is a whole number of records.

use super::{DataError, ImageDataset, format_err};
use ndarray::Array4;
use std::path::Path;

/// Bytes of one record.
pub const RECORD_BYTES: usize = 1 + 3 * 32 * 32;

/// The ten class names in label order.
pub const CLASS_NAMES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Parses the records of one batch file into `(n, 3, 32, 32)` images in `[0, 1]`.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<ImageDataset, DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(format_err(
            path,
            format!("{} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records", bytes.len()),
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (RECORD_BYTES - 1));
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        if record[0] > 9 {
            return Err(format_err(path, format!("record {i}: label {} is not below 10", record[0])));
        }
        labels.push(record[0] as usize);
        pixels.extend(record[1..].iter().map(|&b| b as f32 / 255.0));
    }
    let images = Array4::from_shape_vec((n, 3, 32, 32), pixels).map_err(|e| format_err(path, e.to_string()))?;
    ImageDataset::new(images, labels, 10)
}

/// Reads one batch file.
pub fn load_batch(path: &Path) -> Result<ImageDataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    parse_batch(&bytes, path)
}

/// The training set (`data_batch_1..=5.bin`) or the test set (`test_batch.bin`) of a
/// `cifar-10-batches-bin` directory.
pub fn load_dir(dir: &Path, train: bool) -> Result<ImageDataset, DataError> {
    let files: Vec<String> =
        if train { (1..=5).map(|i| format!("data_batch_{i}.bin")).collect() } else { vec!["test_batch.bin".into()] };
    let parts = files.iter().map(|f| load_batch(&dir.join(f))).collect::<Result<Vec<_>, _>>()?;
    let views: Vec<_> = parts.iter().map(|p| p.images.view()).collect();
    let images = ndarray::concatenate(ndarray::Axis(0), &views).map_err(|e| format_err(dir, e.to_string()))?;
    let labels = parts.iter().flat_map(|p| p.labels.iter().copied()).collect();
    ImageDataset::new(images, labels, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_planes_in_channel_order() {
        let mut rec = vec![0u8; RECORD_BYTES];
        rec[0] = 7;
        rec[1] = 255; // red (0, 0)
        rec[1 + 1024 + 33] = 51; // green (1, 1)
        let d = parse_batch(&rec, Path::new("b.bin")).unwrap();
        assert_eq!(d.labels, vec![7]);
        assert_eq!(d.images[[0, 0, 0, 0]], 1.0);
        assert_eq!(d.images[[0, 1, 1, 1]], 0.2);
        assert_eq!(d.images[[0, 2, 0, 0]], 0.0);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let p = Path::new("b.bin");
        assert!(parse_batch(&[0; 100], p).unwrap_err().to_string().contains("whole number"));
        let mut rec = vec![0u8; RECORD_BYTES];
        rec[0] = 12;
        assert!(parse_batch(&rec, p).unwrap_err().to_string().contains("label 12"));
        assert!(load_batch(Path::new("/nonexistent/x.bin")).is_err());
    }
}
