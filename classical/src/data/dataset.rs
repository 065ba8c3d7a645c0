//! The labelled image set and the operations every experiment needs: splits, subsets, class filters,
//! pooling to smaller images, and seeded minibatches.

use super::{DataError, invalid};
use crate::train::permutation;
use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};

/// Images `(n, c, h, w)` with one label in `0..classes` each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageDataset {
    /// The images.
    pub images: Array4<f32>,
    /// The class of each image.
    pub labels: Vec<usize>,
    /// Number of classes (labels are below it).
    pub classes: usize,
}

impl ImageDataset {
    /// A dataset after checking one label per image and every label below `classes`.
    pub fn new(images: Array4<f32>, labels: Vec<usize>, classes: usize) -> Result<Self, DataError> {
        if images.shape()[0] != labels.len() {
            return Err(invalid(
                "ImageDataset::new",
                format!("{} images but {} labels (shape {:?})", images.shape()[0], labels.len(), images.shape()),
            ));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
            return Err(invalid(
                "ImageDataset::new",
                format!("label {l} of sample {i} is not below {classes} classes"),
            ));
        }
        Ok(Self { images, labels, classes })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `(channels, height, width)` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        let s = self.images.shape();
        [s[1], s[2], s[3]]
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(invalid("subset", format!("index {bad} out of range for {} samples", self.len())));
        }
        Ok(Self {
            images: self.images.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        })
    }

    /// A seeded shuffle split into `(first, rest)` with `round(fraction * n)` samples first.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Self, Self), DataError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(invalid("split", format!("fraction {fraction} is not in [0, 1]")));
        }
        let order = permutation(self.len(), seed);
        let cut = (fraction * self.len() as f64).round() as usize;
        Ok((self.subset(&order[..cut])?, self.subset(&order[cut..])?))
    }

    /// A split that keeps each class's share: `round(fraction * n_c)` samples of each class `c` go
    /// first (order within a class is seeded).
    pub fn stratified_split(&self, fraction: f64, seed: u64) -> Result<(Self, Self), DataError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(invalid("stratified_split", format!("fraction {fraction} is not in [0, 1]")));
        }
        let order = permutation(self.len(), seed);
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        for c in 0..self.classes {
            let members: Vec<usize> = order.iter().copied().filter(|&i| self.labels[i] == c).collect();
            let cut = (fraction * members.len() as f64).round() as usize;
            first.extend_from_slice(&members[..cut]);
            rest.extend_from_slice(&members[cut..]);
        }
        let mut rank = vec![0; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        first.sort_by_key(|&i| rank[i]);
        rest.sort_by_key(|&i| rank[i]);
        Ok((self.subset(&first)?, self.subset(&rest)?))
    }

    /// Only the samples of `keep`, relabelled `0..keep.len()` in the order given (e.g. digits 3 and 6
    /// as a binary task, as in QuantumNAS).
    pub fn filter_classes(&self, keep: &[usize]) -> Result<Self, DataError> {
        if let Some(&bad) = keep.iter().find(|&&c| c >= self.classes) {
            return Err(invalid("filter_classes", format!("class {bad} is not below {} classes", self.classes)));
        }
        let indices: Vec<usize> = (0..self.len()).filter(|&i| keep.contains(&self.labels[i])).collect();
        let mut out = self.subset(&indices)?;
        for l in &mut out.labels {
            *l = keep.iter().position(|c| c == l).expect("kept class");
        }
        out.classes = keep.len();
        Ok(out)
    }

    /// Averages `factor x factor` blocks (images shrink by `factor`; e.g. 8x8 digits to 4x4 for a
    /// 16-feature quantum encoder). Height and width must be multiples of `factor`.
    pub fn avg_pool(&self, factor: usize) -> Result<Self, DataError> {
        let [c, h, w] = self.image_shape();
        if factor == 0 || h % factor != 0 || w % factor != 0 {
            return Err(invalid("avg_pool", format!("factor {factor} does not divide images of {h}x{w}")));
        }
        let (oh, ow) = (h / factor, w / factor);
        let scale = 1.0 / (factor * factor) as f32;
        let images = Array4::from_shape_fn((self.len(), c, oh, ow), |(n, ch, y, x)| {
            let mut sum = 0.0;
            for dy in 0..factor {
                for dx in 0..factor {
                    sum += self.images[[n, ch, y * factor + dy, x * factor + dx]];
                }
            }
            sum * scale
        });
        Ok(Self { images, labels: self.labels.clone(), classes: self.classes })
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// Minibatches of `batch_size` (the last may be smaller), in a seeded random order when `shuffle`
    /// is `Some(seed)`, in stored order otherwise.
    pub fn batches(&self, batch_size: usize, shuffle: Option<u64>) -> Result<Batches<'_>, DataError> {
        if batch_size == 0 {
            return Err(invalid("batches", "batch size must be positive"));
        }
        let order = match shuffle {
            Some(seed) => permutation(self.len(), seed),
            None => (0..self.len()).collect(),
        };
        Ok(Batches { data: self, order, batch_size, next: 0 })
    }
}

/// Iterator over `(images, labels)` minibatches of an [`ImageDataset`].
#[derive(Debug)]
pub struct Batches<'a> {
    data: &'a ImageDataset,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
}

impl Iterator for Batches<'_> {
    type Item = (Array4<f32>, Vec<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let idx = &self.order[self.next..end];
        self.next = end;
        Some((self.data.images.select(Axis(0), idx), idx.iter().map(|&i| self.data.labels[i]).collect()))
    }
}
