//! Fashion-MNIST (Xiao, Rasul and Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking
//! Machine Learning Algorithms", arXiv:1708.07747, 2017): 28x28 grey images of ten kinds of clothing,
//! in MNIST's IDX format.
//!
//! A stratified subset (1,000 training and 200 test images per class) is bundled so that experiments
//! run on a fresh clone; `scripts/gen_fashion_mnist_subset.py` writes it from the full set with a
//! seeded pick. The full set (60,000 + 10,000) is read from a directory holding the four
//! `*-idx?-ubyte.gz` files: the user's, or the one Debian's `dataset-fashion-mnist` package installs
//! ([`FASHION_MNIST_INSTALLED_DIR`]).

use super::idx::{decode_idx, idx_pair, load_idx_pair};
use super::{DataError, ImageDataset};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where Fashion-MNIST comes from, for reports and the README.
pub const FASHION_MNIST_SOURCE: &str = "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747, \
     github.com/zalandoresearch/fashion-mnist), MIT licence; bundled: a seeded stratified subset of 1,000 \
     training and 200 test images per class (scripts/gen_fashion_mnist_subset.py)";

/// The directory of Debian's `dataset-fashion-mnist` package.
pub const FASHION_MNIST_INSTALLED_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

const TRAIN_IMAGES: &[u8] = include_bytes!("../../data/fashion_mnist/train-images-idx3-ubyte.gz");
const TRAIN_LABELS: &[u8] = include_bytes!("../../data/fashion_mnist/train-labels-idx1-ubyte.gz");
const TEST_IMAGES: &[u8] = include_bytes!("../../data/fashion_mnist/t10k-images-idx3-ubyte.gz");
const TEST_LABELS: &[u8] = include_bytes!("../../data/fashion_mnist/t10k-labels-idx1-ubyte.gz");

/// Which copy of Fashion-MNIST to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FashionSource {
    /// The bundled stratified subset (10,000 training, 2,000 test images).
    Bundled,
    /// The full set from a directory with `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
    /// `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz` (plain, uncompressed files with
    /// those names less `.gz` are read too).
    Dir(PathBuf),
}

impl FashionSource {
    /// The full set from [`FASHION_MNIST_INSTALLED_DIR`] when its files are there, the bundled subset
    /// otherwise.
    pub fn installed_or_bundled() -> Self {
        let dir = PathBuf::from(FASHION_MNIST_INSTALLED_DIR);
        if dir.join("train-images-idx3-ubyte.gz").is_file() { Self::Dir(dir) } else { Self::Bundled }
    }
}

/// The training and test splits of Fashion-MNIST as `(n, 1, 28, 28)` images in `[0, 1]` (byte / 255),
/// labels 0..=9 ([`FASHION_MNIST_CLASSES`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FashionMnist {
    /// The training split.
    pub train: ImageDataset,
    /// The test split.
    pub test: ImageDataset,
}

/// Reads Fashion-MNIST from `source`; errors name the file and what was wrong.
pub fn fashion_mnist(source: &FashionSource) -> Result<FashionMnist, DataError> {
    match source {
        FashionSource::Bundled => Ok(FashionMnist {
            train: embedded(TRAIN_IMAGES, "train-images-idx3-ubyte.gz", TRAIN_LABELS, "train-labels-idx1-ubyte.gz")?,
            test: embedded(TEST_IMAGES, "t10k-images-idx3-ubyte.gz", TEST_LABELS, "t10k-labels-idx1-ubyte.gz")?,
        }),
        FashionSource::Dir(dir) => Ok(FashionMnist { train: from_dir(dir, "train")?, test: from_dir(dir, "t10k")? }),
    }
}

fn embedded(images: &[u8], image_name: &str, labels: &[u8], label_name: &str) -> Result<ImageDataset, DataError> {
    let (ip, lp) =
        (PathBuf::from(format!("<embedded {image_name}>")), PathBuf::from(format!("<embedded {label_name}>")));
    idx_pair(decode_idx(images, &ip)?, &ip, decode_idx(labels, &lp)?, &lp, 10)
}

/// The split `prefix` (`train` or `t10k`) from `dir`, preferring the gzip files.
fn from_dir(dir: &Path, prefix: &str) -> Result<ImageDataset, DataError> {
    let file = |kind: &str| {
        let gz = dir.join(format!("{prefix}-{kind}-ubyte.gz"));
        if gz.is_file() { gz } else { dir.join(format!("{prefix}-{kind}-ubyte")) }
    };
    load_idx_pair(&file("images-idx3"), &file("labels-idx1"), 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sum of all pixel bytes of a split (the images are byte / 255, so `v * 255` is exact after
    /// rounding).
    fn byte_sum(d: &ImageDataset) -> u64 {
        d.images.iter().map(|&v| (v * 255.0).round() as u64).sum()
    }

    /// The numbers `scripts/gen_fashion_mnist_subset.py` printed when it wrote the bundle (Python's
    /// own IDX reading, independent of this loader).
    #[test]
    fn bundled_subset_is_balanced_and_matches_the_generator() {
        let d = fashion_mnist(&FashionSource::Bundled).unwrap();
        assert_eq!(d.train.images.shape(), &[10_000, 1, 28, 28]);
        assert_eq!(d.test.images.shape(), &[2_000, 1, 28, 28]);
        assert_eq!(d.train.class_counts(), vec![1000; 10]);
        assert_eq!(d.test.class_counts(), vec![200; 10]);
        assert_eq!(byte_sum(&d.train), 571_517_424);
        assert_eq!(byte_sum(&d.test), 115_119_008);
        assert_eq!(d.train.labels[..10], [9, 1, 6, 8, 5, 6, 9, 3, 6, 0]);
        assert_eq!(d.test.labels[..10], [4, 7, 1, 2, 0, 9, 0, 7, 6, 1]);
        assert!(d.train.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    /// The full set when Debian's package is installed: the published 6,000 / 1,000 images per class,
    /// and the pixel byte sums Python's gzip reading gives (3,431,114,169 and 573,469,082).
    #[test]
    #[ignore = "reads the 70,000 images of the installed package (about 10 s in debug)"]
    fn the_installed_full_set_has_the_published_counts() {
        let source = FashionSource::installed_or_bundled();
        if source == FashionSource::Bundled {
            return; // The package is not installed.
        }
        let d = fashion_mnist(&source).unwrap();
        assert_eq!(d.train.class_counts(), vec![6000; 10]);
        assert_eq!(d.test.class_counts(), vec![1000; 10]);
        assert_eq!(byte_sum(&d.train), 3_431_114_169);
        assert_eq!(byte_sum(&d.test), 573_469_082);
        assert_eq!(d.train.labels[..10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    }

    #[test]
    fn a_missing_directory_names_the_file() {
        let e = fashion_mnist(&FashionSource::Dir(PathBuf::from("/nonexistent/fm"))).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/fm/train-images-idx3-ubyte"), "{e}");
    }
}
