//! Sensitivity analysis: how much accuracy each layer loses when it alone is pruned to a given sparsity
//! (Han et al. 2015, figure 5), and a per-layer sparsity allocation read off those curves: the largest
//! sparsity whose accuracy drop stays within a tolerance.

use super::prune::{Target, prune_magnitude};
use crate::error::Result;
use crate::nn::{Module, Param};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Accuracy against sparsity for one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCurve {
    /// The parameter path.
    pub name: String,
    /// Number of weights.
    pub size: usize,
    /// `(sparsity, accuracy)` pairs in scan order.
    pub points: Vec<(f64, f32)>,
}

/// Curves of every selected layer and the unpruned accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    /// Accuracy of the model as given.
    pub baseline: f32,
    /// One curve per selected parameter, in parameter order.
    pub layers: Vec<LayerCurve>,
}

/// Prunes each selected parameter alone to each of `sparsities`, measures `accuracy(model)`, and
/// restores the parameter (value and mask) before moving on: the model is left as it came.
pub fn sensitivity_scan(
    model: &mut dyn Module,
    sparsities: &[f64],
    filter: &dyn Fn(&str, &Param) -> bool,
    accuracy: &mut dyn FnMut(&mut dyn Module) -> Result<f32>,
) -> Result<Sensitivity> {
    let baseline = accuracy(model)?;
    let mut names = Vec::new();
    model.visit_params("", &mut |name, p| {
        if filter(&name, p) {
            names.push((name, p.len()));
        }
    });
    let mut layers = Vec::new();
    for (name, size) in names {
        let mut saved: Option<(Tensor, Option<Tensor>)> = None;
        model.visit_params_mut("", &mut |n, p| {
            if n == name {
                saved = Some((p.value.clone(), p.mask.clone()));
            }
        });
        let mut points = Vec::with_capacity(sparsities.len());
        for &s in sparsities {
            prune_magnitude(model, &Target::PerLayer(BTreeMap::from([(name.clone(), s)])), filter)?;
            points.push((s, accuracy(model)?));
            if let Some((value, mask)) = &saved {
                model.visit_params_mut("", &mut |n, p| {
                    if n == name {
                        p.value = value.clone();
                        p.mask = mask.clone();
                    }
                });
            }
        }
        layers.push(LayerCurve { name, size, points });
    }
    Ok(Sensitivity { baseline, layers })
}

impl Sensitivity {
    /// Per layer, the largest scanned sparsity whose accuracy is at least `baseline - tolerance`, and at
    /// all smaller scanned sparsities too (0 when even the first point fails).
    pub fn allocate(&self, tolerance: f32) -> BTreeMap<String, f64> {
        self.layers
            .iter()
            .map(|l| {
                let mut best = 0.0;
                for &(s, acc) in &l.points {
                    if acc + tolerance < self.baseline {
                        break;
                    }
                    best = s;
                }
                (l.name.clone(), best)
            })
            .collect()
    }

    /// The overall sparsity an allocation gives over the scanned layers.
    pub fn overall_sparsity(&self, allocation: &BTreeMap<String, f64>) -> f64 {
        let (pruned, total) = self.layers.iter().fold((0.0, 0usize), |(p, t), l| {
            let s = allocation.get(&l.name).copied().unwrap_or(0.0);
            (p + (s * l.size as f64).round(), t + l.size)
        });
        pruned / total.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::prune::default_filter;

    #[test]
    fn scan_restores_the_model_and_allocation_reads_the_curves() {
        let mut model = crate::nn::zoo::mlp(&[4, 6, 3], 5).unwrap();
        let before = crate::nn::state_dict(&mut model);
        // "Accuracy" = fraction of non-zero weights in the first layer: pruning it hurts, the second not.
        let mut acc = |m: &mut dyn Module| -> Result<f32> {
            let p = crate::nn::named_params(m).into_iter().find(|(n, _)| n == "1.weight").unwrap().1;
            Ok(p.effective_value().iter().filter(|v| **v != 0.0).count() as f32 / p.len() as f32)
        };
        let sens = sensitivity_scan(&mut model, &[0.25, 0.5, 0.75], &default_filter, &mut acc).unwrap();
        assert_eq!(crate::nn::state_dict(&mut model), before);
        assert!(crate::nn::named_params(&model).iter().all(|(_, p)| p.mask.is_none()));
        assert_eq!(sens.baseline, 1.0);
        assert_eq!(sens.layers[0].points, vec![(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]);
        assert!(sens.layers[1].points.iter().all(|p| p.1 == 1.0));
        let alloc = sens.allocate(0.3);
        assert_eq!((alloc["1.weight"], alloc["3.weight"]), (0.25, 0.75));
        let overall = sens.overall_sparsity(&alloc);
        assert!((overall - (6.0 + 14.0) / 42.0).abs() < 1e-12, "{overall}");
    }
}
