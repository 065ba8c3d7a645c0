//! The bundled 8x8 handwritten digits.

use super::{DataError, ImageDataset, format_err};
use flate2::read::GzDecoder;
use ndarray::Array4;
use std::io::Read;

/// Where the bundled digits come from, for reports and the README.
pub const DIGITS_SOURCE: &str = "UCI ML optical recognition of handwritten digits (optdigits) test set, 1797 \
     images of 8x8 with 17 grey levels, as shipped by scikit-learn (sklearn/datasets/data/digits.csv.gz); \
     CC BY 4.0, Alpaydin & Kaynak 1998";

const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
const NAME: &str = "<embedded digits.csv.gz>";

/// The 1797 digits as `(1797, 1, 8, 8)` images scaled to `[0, 1]` (grey level / 16), labels 0..=9.
pub fn digits() -> Result<ImageDataset, DataError> {
    let mut text = String::new();
    GzDecoder::new(DIGITS_CSV_GZ).read_to_string(&mut text).map_err(|e| format_err(NAME, format!("gzip: {e}")))?;
    parse_digits_csv(&text)
}

/// Parses rows of 64 grey levels (0..=16) followed by the label (0..=9).
fn parse_digits_csv(text: &str) -> Result<ImageDataset, DataError> {
    let mut pixels = Vec::with_capacity(1797 * 64);
    let mut labels = Vec::with_capacity(1797);
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(format_err(NAME, format!("line {}: {} fields, expected 65", line_no + 1, fields.len())));
        }
        for (col, f) in fields.iter().enumerate() {
            let v: u8 = f.trim().parse().map_err(|_| {
                format_err(NAME, format!("line {}, field {}: {f:?} is not an integer", line_no + 1, col + 1))
            })?;
            let limit = if col == 64 { 9 } else { 16 };
            if v > limit {
                return Err(format_err(NAME, format!("line {}, field {}: {v} exceeds {limit}", line_no + 1, col + 1)));
            }
            if col == 64 {
                labels.push(v as usize);
            } else {
                pixels.push(v as f32 / 16.0);
            }
        }
    }
    let n = labels.len();
    let images = Array4::from_shape_vec((n, 1, 8, 8), pixels).map_err(|e| format_err(NAME, e.to_string()))?;
    ImageDataset::new(images, labels, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_digits_match_the_published_counts() {
        let d = digits().unwrap();
        assert_eq!(d.images.shape(), &[1797, 1, 8, 8]);
        // Class counts of the optdigits test set as published (sklearn's load_digits).
        assert_eq!(d.class_counts(), vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert!(d.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // First image, first row: 0 0 5 13 9 1 0 0.
        let row: Vec<f32> = (0..8).map(|x| d.images[[0, 0, 0, x]] * 16.0).collect();
        assert_eq!(row, vec![0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn malformed_rows_are_reported_with_their_line() {
        let err = parse_digits_csv("1,2,3\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("3 fields"), "{err}");
        let mut row = vec!["0"; 64];
        row.push("12");
        let err = parse_digits_csv(&row.join(",")).unwrap_err().to_string();
        assert!(err.contains("exceeds 9"), "{err}");
    }
}
