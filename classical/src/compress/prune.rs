//! Fine-grained magnitude pruning (Han et al., "Learning both Weights and Connections for Efficient
//! Neural Networks", NeurIPS 2015): the weights of smallest magnitude are set to zero and a 0/1 mask
//! keeps them there through training (the forward pass multiplies by the mask, gradients are masked,
//! and the optimizers re-apply the mask after every step).
//!
//! Sparsity is reached exactly: a target `s` on `n` weights prunes `round(s n)` of them, the smallest
//! by magnitude of the current (masked) value, ties broken by position, so already-pruned weights stay
//! pruned as long as the target does not decrease. [`Target::Global`] ranks all selected weights
//! together (layers with many small weights lose more); [`Target::Uniform`] and [`Target::PerLayer`]
//! rank within each layer.
//!
//! The selection works on the parameter view ([`crate::nn::Module::visit_params_mut`]): by default the
//! weights of convolutions and linear layers ([`default_filter`]); any other filter (attention
//! projections, the angles of a quantum layer) works the same way.

use crate::error::{Result, arg_err};
use crate::nn::{Module, Param};
use std::collections::BTreeMap;

/// How much to prune.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Target {
    /// The same sparsity in every selected layer.
    Uniform(f64),
    /// A sparsity per parameter path; selected parameters not listed are left as they are.
    PerLayer(BTreeMap<String, f64>),
    /// One sparsity over all selected weights together.
    Global(f64),
}

/// The parameters pruned by default: tensors of two or more dimensions (convolution and linear
/// weights), not biases or normalisation scales.
pub fn default_filter(_name: &str, p: &Param) -> bool {
    p.value.ndim() >= 2
}

/// Non-zero and total counts of one parameter after pruning.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerSparsity {
    /// The parameter path.
    pub name: String,
    /// Entries in the tensor.
    pub total: usize,
    /// Entries whose effective value is non-zero.
    pub nonzero: usize,
}

impl LayerSparsity {
    /// Fraction of entries that are zero.
    pub fn sparsity(&self) -> f64 {
        1.0 - self.nonzero as f64 / self.total.max(1) as f64
    }
}

/// Sparsity of every selected parameter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SparsityReport {
    /// Per parameter, in the model's parameter order.
    pub layers: Vec<LayerSparsity>,
}

impl SparsityReport {
    /// Entries over all selected parameters.
    pub fn total(&self) -> usize {
        self.layers.iter().map(|l| l.total).sum()
    }

    /// Non-zero entries over all selected parameters.
    pub fn nonzero(&self) -> usize {
        self.layers.iter().map(|l| l.nonzero).sum()
    }

    /// Overall fraction of zeros.
    pub fn sparsity(&self) -> f64 {
        1.0 - self.nonzero() as f64 / self.total().max(1) as f64
    }

    /// `total / nonzero`: how many times fewer non-zero weights than dense.
    pub fn compression(&self) -> f64 {
        self.total() as f64 / self.nonzero().max(1) as f64
    }
}

fn check_sparsity(name: &str, s: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&s) {
        return Err(arg_err("prune", format!("sparsity {s} for `{name}` must lie in [0, 1]")));
    }
    Ok(())
}

/// `|w|` of the effective (masked) weight, as f32 bits ordered for ranking.
fn magnitudes(p: &Param) -> Vec<f32> {
    match &p.mask {
        Some(m) => p.value.iter().zip(m.iter()).map(|(w, m)| (w * m).abs()).collect(),
        None => p.value.iter().map(|w| w.abs()).collect(),
    }
}

/// Indices of the `k` smallest values (ties by index).
fn smallest(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Sets `p`'s mask to prune exactly the entries `pruned` and zeroes them in the stored value.
fn set_mask(p: &mut Param, pruned: &[usize]) {
    let mut mask = crate::tensor::ones(p.value.shape());
    {
        let flat = mask.as_slice_mut().expect("fresh tensors are contiguous");
        for &i in pruned {
            flat[i] = 0.0;
        }
    }
    p.value = crate::tensor::into_contiguous(std::mem::take(&mut p.value)) * &mask;
    p.mask = Some(mask);
}

/// Prunes `model`'s selected parameters by magnitude to `target`; returns the sparsity afterwards.
pub fn prune_magnitude(
    model: &mut dyn Module,
    target: &Target,
    filter: &dyn Fn(&str, &Param) -> bool,
) -> Result<SparsityReport> {
    match target {
        Target::Uniform(s) => {
            check_sparsity("every layer", *s)?;
            model.visit_params_mut("", &mut |name, p| {
                if filter(&name, p) {
                    let k = (s * p.len() as f64).round() as usize;
                    set_mask(p, &smallest(&magnitudes(p), k));
                }
            });
        }
        Target::PerLayer(map) => {
            for (name, s) in map {
                check_sparsity(name, *s)?;
            }
            let mut seen = 0;
            model.visit_params_mut("", &mut |name, p| {
                if let Some(s) = map.get(&name) {
                    seen += 1;
                    let k = (s * p.len() as f64).round() as usize;
                    set_mask(p, &smallest(&magnitudes(p), k));
                }
            });
            if seen != map.len() {
                let mut names = Vec::new();
                model.visit_params("", &mut |name, _| names.push(name));
                let missing: Vec<&String> = map.keys().filter(|k| !names.contains(k)).collect();
                return Err(arg_err("prune", format!("no parameters named {missing:?}")));
            }
        }
        Target::Global(s) => {
            check_sparsity("the model", *s)?;
            let mut all = Vec::new();
            let mut sizes = Vec::new();
            model.visit_params("", &mut |name, p| {
                if filter(&name, p) {
                    all.extend(magnitudes(p));
                    sizes.push(p.len());
                }
            });
            let k = (s * all.len() as f64).round() as usize;
            let mut per_layer: Vec<Vec<usize>> = vec![Vec::new(); sizes.len()];
            let offsets: Vec<usize> = sizes.iter().scan(0, |acc, &n| Some(std::mem::replace(acc, *acc + n))).collect();
            for i in smallest(&all, k) {
                let layer = offsets.partition_point(|&o| o <= i) - 1;
                per_layer[layer].push(i - offsets[layer]);
            }
            let mut layer = 0;
            model.visit_params_mut("", &mut |name, p| {
                if filter(&name, p) {
                    set_mask(p, &per_layer[layer]);
                    layer += 1;
                }
            });
        }
    }
    Ok(sparsity_report(model, filter))
}

/// The sparsity of the selected parameters (zeros of the effective value, masked or not).
pub fn sparsity_report(model: &dyn Module, filter: &dyn Fn(&str, &Param) -> bool) -> SparsityReport {
    let mut layers = Vec::new();
    model.visit_params("", &mut |name, p| {
        if filter(&name, p) {
            let nonzero = magnitudes(p).iter().filter(|&&m| m != 0.0).count();
            layers.push(LayerSparsity { name, total: p.len(), nonzero });
        }
    });
    SparsityReport { layers }
}

/// Removes every mask, keeping the pruned entries at zero in the stored values (the model is then an
/// ordinary dense model whose zeros may be regrown by training).
pub fn remove_masks(model: &mut dyn Module) {
    model.visit_params_mut("", &mut |_, p| {
        if let Some(m) = p.mask.take() {
            p.value *= &m;
        }
    });
}

/// The masks of every masked parameter by path (to carry a sparsity pattern over to another copy of
/// the model, as lottery-ticket rewinding does).
pub fn masks(model: &dyn Module) -> BTreeMap<String, crate::tensor::Tensor> {
    let mut out = BTreeMap::new();
    model.visit_params("", &mut |name, p| {
        if let Some(m) = &p.mask {
            out.insert(name, m.clone());
        }
    });
    out
}

/// Installs `masks` (by path; shapes must agree) and zeroes the masked entries.
pub fn set_masks(model: &mut dyn Module, masks: &BTreeMap<String, crate::tensor::Tensor>) -> Result<()> {
    let mut error = None;
    let mut seen = 0;
    model.visit_params_mut("", &mut |name, p| {
        if let Some(m) = masks.get(&name) {
            seen += 1;
            if m.shape() != p.value.shape() {
                error.get_or_insert(crate::error::shape_err("set_masks", p.value.shape(), m.shape(), name));
                return;
            }
            p.value *= m;
            p.mask = Some(m.clone());
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if seen != masks.len() {
        return Err(arg_err("set_masks", format!("{} masks given, {seen} parameters matched", masks.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::zoo;

    #[test]
    fn uniform_pruning_hits_each_layer_exactly() {
        let mut model = zoo::reference_cnn(1, 8, 10, 3).unwrap();
        let report = prune_magnitude(&mut model, &Target::Uniform(0.7), &default_filter).unwrap();
        for l in &report.layers {
            assert_eq!(l.total - l.nonzero, (0.7 * l.total as f64).round() as usize, "{}", l.name);
        }
        // The smallest surviving magnitude is at least the largest pruned one.
        for (_, p) in crate::nn::named_params(&model) {
            if let Some(m) = &p.mask {
                assert!(p.value.iter().zip(m.iter()).all(|(w, m)| *m == 1.0 || *w == 0.0));
            }
        }
    }

    #[test]
    fn global_pruning_ranks_all_layers_together() {
        let mut model = zoo::mlp(&[16, 32, 8], 1).unwrap();
        // Make the second layer's weights tiny: global pruning must take them first.
        model.visit_params_mut("", &mut |name, p| {
            if name == "3.weight" {
                p.value.mapv_inplace(|w| w * 1e-3);
            }
        });
        let report = prune_magnitude(&mut model, &Target::Global(0.4), &default_filter).unwrap();
        let total = report.total();
        assert_eq!(total - report.nonzero(), (0.4 * total as f64).round() as usize);
        assert_eq!(report.layers[1].nonzero, 0, "the tiny layer (256 of the 307 pruned) goes first");
    }

    #[test]
    fn bad_targets_are_errors() {
        let mut model = zoo::mlp(&[4, 2], 1).unwrap();
        assert!(prune_magnitude(&mut model, &Target::Uniform(1.5), &default_filter).is_err());
        let map = BTreeMap::from([("nope.weight".to_string(), 0.5)]);
        assert!(prune_magnitude(&mut model, &Target::PerLayer(map), &default_filter).is_err());
    }
}
