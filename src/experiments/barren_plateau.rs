//! `barren_plateau`: gradient variance of random hardware-efficient circuits against the number of
//! qubits, for a global and a local cost (McClean et al., "Barren plateaus in quantum neural network
//! training landscapes", Nat. Commun. 9, 4812 (2018); Cerezo et al., "Cost function dependent barren
//! plateaus in shallow parametrized quantum circuits", Nat. Commun. 12, 1791 (2021)).
//!
//! The circuits follow McClean et al.: `RY(π/4)` on every qubit, then `L` layers of one rotation per
//! qubit, its axis drawn uniformly from {X, Y, Z} and its angle uniformly from `[0, 2π)`, followed by a
//! ladder of CZ gates on neighbouring qubits. Every sample draws new axes and angles from the seed.
//! Two depths: a shallow `L = 4` (the logarithmic-depth regime of Cerezo et al.) and a deep `L = 20`.
//!
//! Costs: the global `O_G = Z_0 Z_1 ... Z_{n−1}` and the local `O_L = (1/n) Σ_i Z_i`. For each qubit
//! count `n = 2, 4, ..., 14` (`2..8` quick) and each depth, the gradient of both by adjoint
//! differentiation at every sample gives `Var[∂C/∂θ_1]` (the first rotation) and the variance averaged
//! over all rotations. A least-squares fit of `ln Var = a − r n` gives the decay rate `r` per qubit
//! (`r = ln 2 ≈ 0.69` is the `2^{−n}` of a unitary 2-design); a fit of `ln Var = a − k ln n` gives the
//! exponent `k` of a power law, the better description of the local cost at shallow depth.

use super::{Experiment, ExperimentError, Metrics, RunContext};
use crate::experiments::variational::expectation_and_gradient;
use crate::plot::{LineChart, Series};
use rayon::prelude::*;
use serde_json::json;
use std::f64::consts::PI;
use std::fmt::Write;
use std::time::Instant;
use tinylab_classical::stats::{exponential_fit, mean, power_law_fit, sample_variance};
use tinylab_classical::tensor::{rng, uniform};
use tinylab_quantum::Circuit;
use tinylab_quantum::library::templates::random_rotation_layers;
use tinylab_quantum::pauli::{Pauli, PauliString, PauliSum};
use tinylab_quantum::qml::encoders::Rotation;
use tinylab_quantum::statevector::Parallelism;

/// Qubit counts of the full run.
const QUBITS: [usize; 7] = [2, 4, 6, 8, 10, 12, 14];
/// Qubit counts of `--quick`.
const QUICK_QUBITS: [usize; 4] = [2, 4, 6, 8];
/// Layers of the two circuit families: shallow and deep.
const DEPTHS: [usize; 2] = [4, 20];
/// Random circuits per qubit count and depth (full run).
const SAMPLES: usize = 200;
/// Random circuits per qubit count and depth with `--quick`.
const QUICK_SAMPLES: usize = 30;

/// The `barren_plateau` experiment (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct BarrenPlateau;

/// The two costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    Global,
    Local,
}

impl Cost {
    const ALL: [Cost; 2] = [Cost::Global, Cost::Local];

    fn name(self) -> &'static str {
        match self {
            Cost::Global => "global",
            Cost::Local => "local",
        }
    }

    /// `Z^{⊗n}` or `(1/n) Σ Z_i`.
    fn observable(self, n: usize) -> Result<PauliSum, ExperimentError> {
        Ok(match self {
            Cost::Global => {
                let all: Vec<(usize, Pauli)> = (0..n).map(|q| (q, Pauli::Z)).collect();
                PauliSum::new(vec![(1.0, PauliString::new(&all)?)])
            }
            Cost::Local => PauliSum::new(
                (0..n)
                    .map(|q| Ok((1.0 / n as f64, PauliString::new(&[(q, Pauli::Z)])?)))
                    .collect::<Result<_, ExperimentError>>()?,
            ),
        })
    }
}

/// One random circuit: the rotation axis and angle of every parameter, layer by layer, qubit by qubit.
struct Sample {
    axes: Vec<Rotation>,
    angles: Vec<f64>,
}

/// The axes a draw picks from, in order.
const AXES: [Rotation; 3] = [Rotation::X, Rotation::Y, Rotation::Z];

/// The statistics of one cost at one qubit count and depth.
#[derive(Debug, Clone, Copy)]
struct Variances {
    /// `Var[∂C/∂θ_1]` over the samples.
    first: f64,
    /// The per-parameter variance averaged over every parameter.
    mean: f64,
}

/// One qubit count at one depth.
struct Point {
    n: usize,
    layers: usize,
    /// In the order of [`Cost::ALL`].
    variances: [Variances; 2],
}

impl Experiment for BarrenPlateau {
    fn name(&self) -> &'static str {
        "barren_plateau"
    }

    fn description(&self) -> &'static str {
        "barren plateaus: gradient variance of random hardware-efficient circuits against qubit count, for a \
         global and a local cost at shallow and deep depth, with fitted exponential decay rates"
    }

    fn run(&self, ctx: &mut RunContext) -> Result<Metrics, ExperimentError> {
        let (qubits, samples) = if ctx.quick { (&QUICK_QUBITS[..], QUICK_SAMPLES) } else { (&QUBITS[..], SAMPLES) };
        ctx.set_config("qubits", qubits.to_vec());
        ctx.set_config("layers", DEPTHS.to_vec());
        ctx.set_config("samples", samples);
        ctx.set_config(
            "circuit",
            "RY(pi/4) on all; per layer a rotation about a random axis (X, Y or Z) by a uniform angle in [0, 2pi) \
             on every qubit, then CZ(q, q+1) for q = 0..n-2",
        );
        ctx.set_config("costs", json!({"global": "Z_0 Z_1 ... Z_{n-1}", "local": "(1/n) sum_i Z_i"}));
        ctx.set_config("gradients", "adjoint (exact)");
        ctx.set_config(
            "fit",
            "least squares of ln(variance) against n (rate r in Var ~ exp(-r n)) and against ln n (k in Var ~ n^-k)",
        );

        let mut draws = rng(ctx.seed);
        let mut points = Vec::new();
        let mut metrics = Metrics::new();
        for &layers in &DEPTHS {
            for &n in qubits {
                let params = n * layers;
                let batch: Vec<Sample> = (0..samples)
                    .map(|_| Sample {
                        axes: (0..params).map(|_| AXES[((3.0 * uniform(&mut draws)) as usize).min(2)]).collect(),
                        angles: (0..params).map(|_| 2.0 * PI * uniform(&mut draws)).collect(),
                    })
                    .collect();
                let start = Instant::now();
                points.push(Point { n, layers, variances: variances(n, layers, &batch)? });
                metrics.insert_timing(format!("seconds_n{n}_l{layers}"), start.elapsed().as_secs_f64());
            }
        }

        record(&mut metrics, &points, qubits);
        plot(ctx, &points)?;
        ctx.note(table(&points));
        ctx.note(
            "Variances are unbiased sample variances over the random circuits (axes and angles redrawn per \
             sample). `mean` averages the variance over every rotation of the circuit (rotations whose \
             derivative is always zero, such as a final RZ before a Z measurement, included), `first` is the \
             variance of the derivative by the first rotation (qubit 0, layer 1). Rates come from points with \
             a positive variance; ln 2 = 0.693 is the 2^-n decay of a unitary 2-design. `power_law_exponent_*` \
             is k of a fit Var ~ n^-k: a polynomial decay (the local cost of shallow circuits, k near 2 \
             with the 1/n normalisation) shows a stable k and a fitted exponential rate that shrinks as n \
             grows.",
        );
        Ok(metrics)
    }
}

/// The random circuit of `sample` (McClean et al.'s construction, see
/// [`random_rotation_layers`]): one parameter per rotation, in layer-then-qubit order.
fn circuit(n: usize, layers: usize, sample: &Sample) -> Result<Circuit, ExperimentError> {
    let mut c = Circuit::new(n);
    random_rotation_layers(&mut c, layers, &sample.axes, "t")?;
    Ok(c)
}

/// The gradients of both costs for every sample (samples in parallel, collected in order), reduced
/// to variances in sample order so that the result does not depend on the thread count.
fn variances(n: usize, layers: usize, batch: &[Sample]) -> Result<[Variances; 2], ExperimentError> {
    let observables = [Cost::ALL[0].observable(n)?, Cost::ALL[1].observable(n)?];
    let gradients: Vec<[Vec<f64>; 2]> = batch
        .par_iter()
        .map(|sample| {
            let c = circuit(n, layers, sample)?;
            let grad =
                |o: &PauliSum| expectation_and_gradient(&c, o, &sample.angles, Parallelism::Sequential).map(|(_, g)| g);
            Ok([grad(&observables[0])?, grad(&observables[1])?])
        })
        .collect::<Result<_, ExperimentError>>()?;
    let n_params = n * layers;
    let stats = |cost: usize| -> Result<Variances, ExperimentError> {
        let per_param: Vec<f64> = (0..n_params)
            .map(|k| sample_variance(&gradients.iter().map(|g| g[cost][k]).collect::<Vec<_>>()))
            .collect::<Result<_, _>>()?;
        Ok(Variances { first: per_param.first().copied().unwrap_or(f64::NAN), mean: mean(&per_param)? })
    };
    Ok([stats(0)?, stats(1)?])
}

/// The decay rate `r` of `Var ∝ e^{−r n}` fitted to the points with a positive, finite variance;
/// NaN (recorded as null) when fewer than two such points at distinct `n` remain.
fn decay_rate(points: &[(f64, f64)]) -> f64 {
    let usable: Vec<(f64, f64)> =
        points.iter().copied().filter(|&(x, y)| x.is_finite() && y.is_finite() && y > 0.0).collect();
    exponential_fit(&usable).map_or(f64::NAN, |f| -f.rate)
}

/// The exponent `k` of `Var ∝ n^{−k}` fitted to the points with a positive `n` and a positive,
/// finite variance; NaN as for [`decay_rate`].
fn power_law_exponent(points: &[(f64, f64)]) -> f64 {
    let usable: Vec<(f64, f64)> =
        points.iter().copied().filter(|&(x, y)| x.is_finite() && x > 0.0 && y.is_finite() && y > 0.0).collect();
    power_law_fit(&usable).map_or(f64::NAN, |f| -f.exponent)
}

/// The series of one cost and depth: `(n, variance)`.
fn curve(points: &[Point], layers: usize, cost: usize, pick: fn(&Variances) -> f64) -> Vec<(f64, f64)> {
    points.iter().filter(|p| p.layers == layers).map(|p| (p.n as f64, pick(&p.variances[cost]))).collect()
}

/// Variances per point and fitted rates per cost and depth.
fn record(metrics: &mut Metrics, points: &[Point], qubits: &[usize]) {
    metrics.insert("qubits", qubits.to_vec());
    for &layers in &DEPTHS {
        for (c, cost) in Cost::ALL.iter().enumerate() {
            let tag = format!("{}_l{layers}", cost.name());
            let means = curve(points, layers, c, |v| v.mean);
            let firsts = curve(points, layers, c, |v| v.first);
            metrics.insert(format!("variance_mean_{tag}"), means.iter().map(|p| p.1).collect::<Vec<_>>());
            metrics.insert(format!("variance_first_{tag}"), firsts.iter().map(|p| p.1).collect::<Vec<_>>());
            metrics.insert(format!("decay_rate_mean_{tag}"), decay_rate(&means));
            metrics.insert(format!("decay_rate_first_{tag}"), decay_rate(&firsts));
            metrics.insert(format!("power_law_exponent_mean_{tag}"), power_law_exponent(&means));
        }
    }
}

/// Mean-over-parameters and first-parameter variance against `n`, log scale, one line per cost and
/// depth (points with a zero variance left out).
fn plot(ctx: &mut RunContext, points: &[Point]) -> Result<(), ExperimentError> {
    let lines = |pick: fn(&Variances) -> f64| -> Vec<Series> {
        let mut out = Vec::new();
        for &layers in &DEPTHS {
            for (c, cost) in Cost::ALL.iter().enumerate() {
                let pts: Vec<(f64, f64)> =
                    curve(points, layers, c, pick).into_iter().filter(|p| p.1.is_finite() && p.1 > 0.0).collect();
                let rate = decay_rate(&pts);
                let fit = if rate.is_nan() { String::new() } else { format!(", rate {rate:.3}/qubit") };
                if !pts.is_empty() {
                    out.push(Series::new(format!("{} cost, L = {layers}{fit}", cost.name()), pts));
                }
            }
        }
        out
    };
    ctx.plot(
        "gradient_variance",
        &LineChart {
            title: "Barren plateaus: variance of ∂C/∂θ (mean over parameters) against qubits".into(),
            x_label: "qubits n".into(),
            y_label: "Var[∂C/∂θ_k], mean over k".into(),
            series: lines(|v| v.mean),
            log_y: true,
            markers: true,
        },
    )?;
    ctx.plot(
        "gradient_variance_first",
        &LineChart {
            title: "Barren plateaus: variance of ∂C/∂θ_1 against qubits".into(),
            x_label: "qubits n".into(),
            y_label: "Var[∂C/∂θ_1]".into(),
            series: lines(|v| v.first),
            log_y: true,
            markers: true,
        },
    )?;
    Ok(())
}

/// A Markdown table of the variances for the report's notes.
fn table(points: &[Point]) -> String {
    let mut s =
        String::from("| L | n | global, mean | global, θ_1 | local, mean | local, θ_1 |\n|---|---|---|---|---|---|\n");
    for p in points {
        let [g, l] = p.variances;
        let _ = writeln!(
            s,
            "| {} | {} | {:.3e} | {:.3e} | {:.3e} | {:.3e} |",
            p.layers, p.n, g.mean, g.first, l.mean, l.first
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_of_exact_decays_and_unfittable_curves() {
        let points: Vec<(f64, f64)> = (1..6).map(|n| (n as f64, 3.0 * (-0.7 * n as f64).exp())).collect();
        assert!((decay_rate(&points) - 0.7).abs() < 1e-12);
        assert!(decay_rate(&[(1.0, 0.0), (2.0, 1.0)]).is_nan(), "one usable point");
        let power: Vec<(f64, f64)> = (1..6).map(|n| (n as f64, 0.5 * (n as f64).powf(-2.0))).collect();
        assert!((power_law_exponent(&power) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn circuits_have_one_parameter_per_rotation() {
        let sample = Sample { axes: [AXES, AXES].concat(), angles: vec![0.1; 6] };
        assert_eq!(circuit(3, 2, &sample).unwrap().n_params(), 6);
    }
}
