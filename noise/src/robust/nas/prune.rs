//! Iterative quantum pruning (Wang et al., QuantumNAS, HPCA 2022, Sec. 3.4): the rotation angles of
//! smallest magnitude are set to zero by the shared magnitude-pruning pass of the classical crate
//! ([`prune_magnitude`], masks kept through fine-tuning), the SubCircuit is fine-tuned, and the
//! sparsity rises step by step. A gate whose angles are all zero is the identity and is removed from
//! the circuit ([`drop_identity_gates`]): fewer gates on the device, less noise.
//!
//! Angles are periodic, so before each ranking they are wrapped into `[-π, π)` ([`wrap_angle`]):
//! "near zero" then means near a multiple of `2π`. Wrapping changes no expectation value: for `rx`,
//! `ry`, `rz`, `rzz` a shift by `2π` multiplies the gate by `-1`, and for `u3` a shift of `θ` does the
//! same while shifts of `φ` or `λ` leave the matrix unchanged (global phases only).

use super::model::SuperCircuitModel;
use super::train::{Labelled, Sampling, TrainSettings, train};
use crate::error::{NoiseError, Result};
use std::f64::consts::PI;
use tinylab_classical::compress::prune::{Target, prune_magnitude};
use tinylab_classical::nn::Module;
use tinylab_classical::seed;
use tinylab_quantum::circuit::{GateApplication, Instruction};
use tinylab_quantum::matrix::{C64, Matrix};
use tinylab_quantum::ops::{OpMatrix, lower_gate};
use tinylab_quantum::{Angle, Circuit};

/// `x` moved by a multiple of `2π` into `[-π, π)`.
pub fn wrap_angle(x: f64) -> f64 {
    let wrapped = (x + PI).rem_euclid(2.0 * PI) - PI;
    // Rounding can land on π itself; that is -π's twin.
    if wrapped >= PI { wrapped - 2.0 * PI } else { wrapped }
}

/// Wraps every weight of the active SubCircuit into `[-π, π)` (see [`wrap_angle`]).
pub fn wrap_active_angles(model: &mut SuperCircuitModel) -> Result<()> {
    let mut weights = model.weights();
    for &i in &model.active().super_index {
        weights[i] = wrap_angle(weights[i]);
    }
    model.set_weights(&weights)
}

/// One step of [`iterative_prune`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PruneStep {
    /// The sparsity asked for.
    pub target: f64,
    /// Angles of the SubCircuit that are exactly zero after the step.
    pub pruned: usize,
    /// Angles of the SubCircuit.
    pub total: usize,
    /// Mean training loss of each fine-tuning epoch.
    pub fine_tune_losses: Vec<f64>,
    /// The SubCircuit's weights after fine-tuning (pruned ones exactly zero).
    pub weights: Vec<f64>,
}

impl PruneStep {
    /// Fraction of the angles that are zero.
    pub fn sparsity(&self) -> f64 {
        self.pruned as f64 / self.total.max(1) as f64
    }
}

/// Prunes the active SubCircuit of `model` to each sparsity of `targets` in turn (non-decreasing,
/// within `[0, 1]`): wrap the angles, prune by magnitude over all its angles together
/// ([`Target::Global`] over its gates' parameters), then fine-tune on `data` with `fine_tune` (the
/// masks hold the pruned angles at zero). `tick` advances with every training step.
pub fn iterative_prune(
    model: &mut SuperCircuitModel,
    data: &Labelled,
    targets: &[f64],
    fine_tune: &TrainSettings,
    tick: &mut dyn FnMut(usize),
) -> Result<Vec<PruneStep>> {
    if let Some(w) = targets.windows(2).find(|w| w[1] < w[0]) {
        return Err(NoiseError::InvalidSetting {
            setting: "pruning targets",
            value: format!("{} after {}", w[1], w[0]),
            requirement: "targets must not decrease",
        });
    }
    let names = model.active_param_names();
    let filter = |name: &str, _: &tinylab_classical::nn::Param| names.iter().any(|n| n == name);
    let mut steps = Vec::with_capacity(targets.len());
    for (i, &target) in targets.iter().enumerate() {
        wrap_active_angles(model)?;
        prune_magnitude(model, &Target::Global(target), &filter)?;
        let settings = TrainSettings { seed: seed::derive(fine_tune.seed, &[i as u64]), ..*fine_tune };
        let fine_tune_losses = train(model, data, &settings, Sampling::Active, tick)?;
        let weights = model.active_weights();
        let report = tinylab_classical::compress::prune::sparsity_report(model as &dyn Module, &filter);
        steps.push(PruneStep {
            target,
            pruned: report.total() - report.nonzero(),
            total: report.total(),
            fine_tune_losses,
            weights,
        });
    }
    Ok(steps)
}

/// True when every op of `app` at these angle values is exactly the identity matrix.
fn is_identity(app: &GateApplication, angles: &[f64]) -> Result<bool> {
    let mut ops = Vec::new();
    lower_gate(&app.gate, &app.qubits, angles, &mut ops)?;
    let one = C64::new(1.0, 0.0);
    Ok(ops.iter().all(|op| match &op.matrix {
        OpMatrix::Diagonal(d) => d.iter().all(|&z| z == one),
        OpMatrix::Dense(m) => *m == Matrix::identity(m.dim()),
    }))
}

/// `circuit` without the gates that are the identity at `params`: gates with at least one angle,
/// every angle a constant or a parameter (no input feature) whose value is exactly zero, and whose
/// matrix at those angles is exactly the identity (`rx(0)`, `rzz(0)`, `u3(0,0,0)`, `cry(0)`, ...).
/// Parameters no kept gate reads are dropped and the others renumbered in their original order
/// (names kept); returns the circuit and its parameter values.
pub fn drop_identity_gates(circuit: &Circuit, params: &[f64]) -> Result<(Circuit, Vec<f64>)> {
    circuit.check_bindings(params, &vec![0.0; circuit.n_inputs()])?;
    let mut kept = Vec::with_capacity(circuit.instructions().len());
    for inst in circuit.instructions() {
        if let Instruction::Gate(app) = inst
            && !app.angles.is_empty()
            && app.angles.iter().all(|a| !a.is_input())
        {
            let values: Vec<f64> = app.angles.iter().map(|a| a.resolve(params, &[])).collect();
            if values.iter().all(|&v| v == 0.0) && is_identity(app, &values)? {
                continue;
            }
        }
        kept.push(inst);
    }
    let mut used = vec![false; circuit.n_params()];
    for inst in &kept {
        if let Instruction::Gate(app) = inst {
            for a in &app.angles {
                if let Angle::Param { index, .. } = *a {
                    used[index] = true;
                }
            }
        }
    }
    let mut out = Circuit::with_registers(circuit.qregs().to_vec(), circuit.cregs().to_vec());
    let mut renumber = vec![usize::MAX; circuit.n_params()];
    let mut values = Vec::new();
    for (i, name) in circuit.param_names().iter().enumerate() {
        if used[i] {
            out.param(name)?;
            renumber[i] = values.len();
            values.push(params[i]);
        }
    }
    for inst in kept {
        out.append_instruction(inst, &|index| renumber[index])?;
    }
    Ok((out, values))
}
