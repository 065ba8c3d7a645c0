//! IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//!
//! Layout (LeCun et al., <http://yann.lecun.com/exdb/mnist/>): two zero bytes, a type code (0x08
//! unsigned byte, 0x09 signed byte, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), the number of
//! dimensions, each dimension as a big-endian `u32`, then the values big-endian in row-major order.

use super::{DataError, ImageDataset, format_err};
use flate2::read::GzDecoder;
use ndarray::Array4;
use std::io::Read;
use std::path::Path;

/// An IDX array: its dimensions and values converted to `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The dimensions.
    pub dims: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// The most bytes a gzip-compressed IDX file may expand to (MNIST's largest file is 47 MB): a small
/// file that inflates without bound (a "zip bomb") is an error, not an exhausted memory.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Reads an IDX file, decompressing it first when it starts with the gzip magic.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    read_idx_limited(path, MAX_INFLATED_BYTES)
}

fn read_idx_limited(path: &Path, limit: u64) -> Result<IdxArray, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    decode_idx_limited(&raw, path, limit)
}

/// Parses IDX bytes held in memory (an embedded file), decompressing them first when they start with
/// the gzip magic; `name` names the source in errors.
pub fn decode_idx(raw: &[u8], name: &Path) -> Result<IdxArray, DataError> {
    decode_idx_limited(raw, name, MAX_INFLATED_BYTES)
}

fn decode_idx_limited(raw: &[u8], path: &Path, limit: u64) -> Result<IdxArray, DataError> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return parse_idx(raw, path);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw).take(limit + 1).read_to_end(&mut out).map_err(|e| format_err(path, format!("gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(format_err(path, format!("gzip expands beyond {limit} bytes")));
    }
    parse_idx(&out, path)
}

/// Parses IDX bytes; `path` names the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_err(path, "not an IDX file (the first two bytes must be zero)"));
    }
    let width = match bytes[2] {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        other => return Err(format_err(path, format!("unknown IDX type code 0x{other:02x}"))),
    };
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(format_err(
            path,
            format!("header of {ndims} dimensions needs {header} bytes, file has {}", bytes.len()),
        ));
    }
    let dims: Vec<usize> =
        bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize).collect();
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let expected = count.and_then(|c| c.checked_mul(width)).and_then(|b| b.checked_add(header));
    if expected != Some(bytes.len()) {
        return Err(format_err(
            path,
            format!("dimensions {dims:?} of {width}-byte values need {expected:?} bytes, file has {}", bytes.len()),
        ));
    }
    let body = &bytes[header..];
    let data: Vec<f32> = match bytes[2] {
        0x08 => body.iter().map(|&b| b as f32).collect(),
        0x09 => body.iter().map(|&b| b as i8 as f32).collect(),
        0x0B => body.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]]) as f32).collect(),
        0x0C => body.chunks_exact(4).map(|c| i32::from_be_bytes(c.try_into().expect("4")) as f32).collect(),
        0x0D => body.chunks_exact(4).map(|c| f32::from_be_bytes(c.try_into().expect("4"))).collect(),
        _ => body.chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().expect("8")) as f32).collect(),
    };
    Ok(IdxArray { dims, data })
}

/// MNIST-style images (`n x h x w` unsigned bytes, scaled to `[0, 1]`) and labels (`n` bytes) as a
/// dataset of `(n, 1, h, w)` with `classes` classes.
pub fn load_idx_pair(images: &Path, labels: &Path, classes: usize) -> Result<ImageDataset, DataError> {
    idx_pair(read_idx(images)?, images, read_idx(labels)?, labels, classes)
}

/// The dataset of an image array and a label array already read (see [`load_idx_pair`]); `images` and
/// `labels` name the sources in errors.
pub fn idx_pair(
    img: IdxArray,
    images: &Path,
    lab: IdxArray,
    labels: &Path,
    classes: usize,
) -> Result<ImageDataset, DataError> {
    if img.dims.len() != 3 {
        return Err(format_err(images, format!("images must have 3 dimensions (n, h, w), found {:?}", img.dims)));
    }
    if lab.dims.len() != 1 || lab.dims[0] != img.dims[0] {
        return Err(format_err(labels, format!("labels {:?} do not match {} images", lab.dims, img.dims[0])));
    }
    // `l as usize` would read -1 (signed types) and NaN (float types) as class 0 and 2.5 as 2.
    if let Some((i, &l)) = lab.data.iter().enumerate().find(|&(_, &l)| !(l >= 0.0 && l.fract() == 0.0)) {
        return Err(format_err(labels, format!("label {l} of sample {i} is not a class index (an integer >= 0)")));
    }
    let labels_usize: Vec<usize> = lab.data.iter().map(|&l| l as usize).collect();
    if let Some((i, &l)) = labels_usize.iter().enumerate().find(|&(_, &l)| l >= classes) {
        return Err(format_err(labels, format!("label {l} of sample {i} is not below {classes}")));
    }
    // Pixels are unsigned bytes; other type codes could hold NaN or values outside [0, 255].
    if let Some((i, &v)) = img.data.iter().enumerate().find(|&(_, &v)| !(0.0..=255.0).contains(&v)) {
        return Err(format_err(images, format!("pixel {i} = {v} is not an unsigned byte value in [0, 255]")));
    }
    let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
    let pixels = img.data.into_iter().map(|v| v / 255.0).collect();
    let images_arr = Array4::from_shape_vec((n, 1, h, w), pixels).map_err(|e| format_err(images, e.to_string()))?;
    ImageDataset::new(images_arr, labels_usize, classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(code: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn parses_every_type_code() {
        let p = Path::new("t.idx");
        assert_eq!(parse_idx(&idx_bytes(0x08, &[3], &[0, 7, 255]), p).unwrap().data, vec![0.0, 7.0, 255.0]);
        assert_eq!(parse_idx(&idx_bytes(0x09, &[1], &[0xff]), p).unwrap().data, vec![-1.0]);
        assert_eq!(parse_idx(&idx_bytes(0x0B, &[1], &[0xff, 0xfe]), p).unwrap().data, vec![-2.0]);
        assert_eq!(parse_idx(&idx_bytes(0x0D, &[1], &1.5f32.to_be_bytes()), p).unwrap().data, vec![1.5]);
        assert_eq!(parse_idx(&idx_bytes(0x0E, &[1], &(-0.25f64).to_be_bytes()), p).unwrap().data, vec![-0.25]);
        let a = parse_idx(&idx_bytes(0x08, &[2, 2, 1], &[1, 2, 3, 4]), p).unwrap();
        assert_eq!(a.dims, vec![2, 2, 1]);
    }

    #[test]
    fn malformed_files_are_errors() {
        let p = Path::new("bad.idx");
        let e = |b: &[u8]| parse_idx(b, p).unwrap_err().to_string();
        assert!(e(&[1, 0, 8, 1]).contains("first two bytes"));
        assert!(e(&idx_bytes(0x07, &[1], &[0])).contains("type code 0x07"));
        assert!(e(&idx_bytes(0x08, &[4], &[0, 1])).contains("file has 10"));
        assert!(e(&[0, 0, 8, 2, 0, 0]).contains("header"));
        assert!(e(&idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[])).contains("bad.idx"));
    }

    #[test]
    fn loads_an_image_label_pair_from_disk() {
        let dir = std::env::temp_dir().join(format!("tinylab-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ip, lp) = (dir.join("img.idx"), dir.join("lab.idx"));
        std::fs::write(&ip, idx_bytes(0x08, &[2, 2, 2], &[0, 255, 51, 0, 0, 0, 0, 255])).unwrap();
        std::fs::write(&lp, idx_bytes(0x08, &[2], &[3, 9])).unwrap();
        let d = load_idx_pair(&ip, &lp, 10).unwrap();
        assert_eq!(d.images.shape(), &[2, 1, 2, 2]);
        assert_eq!(d.labels, vec![3, 9]);
        assert_eq!(d.images[[0, 0, 1, 0]], 0.2);
        std::fs::write(&lp, idx_bytes(0x08, &[2], &[3, 11])).unwrap();
        assert!(load_idx_pair(&ip, &lp, 10).unwrap_err().to_string().contains("label 11"));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Regression: a gzip file inflated without a bound (2 KB of gzip can hold 2 MB of zeros).
    #[test]
    fn gzip_that_expands_too_far_is_refused() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("tinylab-idx-bomb-{}.idx.gz", std::process::id()));
        let body = vec![0u8; 1 << 20];
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&idx_bytes(0x08, &[1 << 20], &body)).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let e = read_idx_limited(&path, 1 << 16).unwrap_err().to_string();
        assert!(e.contains("expands beyond 65536") && e.contains("bomb"), "{e}");
        assert_eq!(read_idx(&path).unwrap().data.len(), 1 << 20);
        std::fs::remove_file(&path).ok();
    }

    /// Regression: labels stored as signed bytes (`0x09`, `[0xff]` = -1) or floats (`0x0D`, NaN or
    /// 2.5) were cast with `as usize` and read as classes 0 and 2; pixels stored as f32 could be NaN.
    #[test]
    fn labels_that_are_not_class_indices_and_pixels_that_are_not_bytes_are_refused() {
        let dir = std::env::temp_dir().join(format!("tinylab-idx-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ip, lp) = (dir.join("img.idx"), dir.join("lab.idx"));
        std::fs::write(&ip, idx_bytes(0x08, &[1, 1, 1], &[7])).unwrap();
        for (code, body) in
            [(0x09, vec![0xff]), (0x0D, f32::NAN.to_be_bytes().to_vec()), (0x0D, 2.5f32.to_be_bytes().to_vec())]
        {
            std::fs::write(&lp, idx_bytes(code, &[1], &body)).unwrap();
            let e = load_idx_pair(&ip, &lp, 10).unwrap_err().to_string();
            assert!(e.contains("lab.idx") && e.contains("not a class index"), "{e}");
        }
        std::fs::write(&lp, idx_bytes(0x08, &[1], &[3])).unwrap();
        std::fs::write(&ip, idx_bytes(0x0D, &[1, 1, 1], &f32::NAN.to_be_bytes())).unwrap();
        let e = load_idx_pair(&ip, &lp, 10).unwrap_err().to_string();
        assert!(e.contains("img.idx") && e.contains("pixel 0"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
