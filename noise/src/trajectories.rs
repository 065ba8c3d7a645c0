//! Noisy simulation by quantum trajectories (Monte-Carlo wave functions; Dalibard, Castin & Mølmer
//! 1992): each shot evolves a statevector and, after every noisy gate, follows one Kraus branch drawn
//! with its Born probability. The average of the shots' outcome probabilities converges to the
//! density matrix's diagonal with statistical error `O(1/sqrt(shots))`, at the memory of a
//! statevector: `2^n` instead of `4^n` amplitudes.
//!
//! Shot `s` draws from a ChaCha8 stream seeded by `seed::derive(seed, &[s])`, shots run in parallel on rayon and are
//! summed in a fixed order, so results are bit-identical at any thread count.

use crate::error::{NoiseError, Result};
use crate::model::NoiseModel;
use crate::sim::NoisyProbabilities;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rayon::prelude::*;
use tinylab_classical::seed;
use tinylab_quantum::circuit::Instruction;
use tinylab_quantum::fusion::{self, FusionConfig, Step};
use tinylab_quantum::statevector::{Parallelism, SimOptions};
use tinylab_quantum::{Circuit, QuantumError, Statevector, ops};

/// Shots summed per parallel task (fixed, for thread-count independence).
const SHOTS_PER_TASK: usize = 8;

/// A circuit prepared for trajectories: fused runs of noiseless ops, each followed by a noisy gate as
/// the branches `K_i U` of its channel after its unitary (if any).
struct Segment {
    ops: Vec<tinylab_quantum::ops::Op>,
    noise: Option<(Vec<usize>, Vec<tinylab_quantum::Matrix>)>,
}

/// The branches `K_i U` of a noisy gate, with the channel in its minimal Kraus form (at most `4^k`
/// operators, from the Choi matrix) so that composed channels do not multiply the branches.
fn branches(
    app: &tinylab_quantum::circuit::GateApplication,
    params: &[f64],
    inputs: &[f64],
    channel: &crate::Channel,
) -> Result<Vec<tinylab_quantum::Matrix>> {
    let minimal = if channel.kraus().len() > 1 << (2 * channel.n_qubits()) {
        crate::Channel::from_choi(channel.name(), &channel.choi())?
    } else {
        channel.clone()
    };
    let u = crate::sim::gate_unitary(app, params, inputs)?;
    Ok(minimal.kraus().iter().map(|k| k.matmul(&u)).collect())
}

fn segments(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    model: &NoiseModel,
    fusion_cfg: &FusionConfig,
) -> Result<Vec<Segment>> {
    circuit.check_bindings(params, inputs)?;
    if circuit.has_mid_circuit_measurement() {
        return Err(QuantumError::Unsupported("trajectories handle measurements only at the end".into()).into());
    }
    let mut out = Vec::new();
    let mut cache: std::collections::HashMap<crate::sim::CacheKey, Vec<tinylab_quantum::Matrix>> =
        std::collections::HashMap::new();
    let mut pending: Vec<Step> = Vec::new();
    let mut lowered = Vec::new();
    for inst in circuit.instructions() {
        match inst {
            Instruction::Gate(app) => match model.gate_error(&app.gate.name(), &app.qubits) {
                None => {
                    lowered.clear();
                    ops::lower(app, params, inputs, &mut lowered)?;
                    pending.extend(lowered.drain(..).map(Step::Op));
                }
                Some(noise) => {
                    let key = crate::sim::cache_key(app, params, inputs);
                    let b = match cache.get(&key) {
                        Some(b) => b.clone(),
                        None => {
                            let b = branches(app, params, inputs, &noise.channel)?;
                            cache.insert(key, b.clone());
                            b
                        }
                    };
                    out.push(Segment { ops: fusion::fuse(&pending, fusion_cfg), noise: Some((app.qubits.clone(), b)) });
                    pending.clear();
                }
            },
            Instruction::Barrier(_) => pending.push(Step::Fence),
            Instruction::Measure { .. } => {}
        }
    }
    out.push(Segment { ops: fusion::fuse(&pending, fusion_cfg), noise: None });
    Ok(out)
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs one trajectory and returns its final state.
fn trajectory(n_qubits: usize, segments: &[Segment], seed: u64, parallelism: Parallelism) -> Result<Statevector> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut state = Statevector::new(n_qubits)?;
    for seg in segments {
        for op in &seg.ops {
            state.apply_op(op, parallelism)?;
        }
        if let Some((qubits, kraus)) = &seg.noise {
            state.apply_kraus_sampled(qubits, kraus, uniform(&mut rng), parallelism)?;
        }
    }
    Ok(state)
}

/// The average outcome probabilities of `shots` trajectories of `circuit` under `model` (and after
/// readout error), plus their standard error per outcome in `std_error`.
pub fn probabilities_trajectories(
    circuit: &Circuit,
    params: &[f64],
    inputs: &[f64],
    model: &NoiseModel,
    shots: usize,
    seed: u64,
    options: &SimOptions,
) -> Result<(NoisyProbabilities, Vec<f64>)> {
    if shots == 0 {
        return Err(NoiseError::InvalidSetting {
            setting: "shots",
            value: "0".into(),
            requirement: "trajectories need at least one shot",
        });
    }
    let n = circuit.n_qubits();
    let cfg = if options.fusion.enabled { options.fusion } else { FusionConfig::disabled() };
    let segs = segments(circuit, params, inputs, model, &cfg)?;
    let dim = 1usize << n;
    // Within a shot the kernels run serially when shots already fill the threads.
    let inner = if shots >= rayon::current_num_threads() { Parallelism::Sequential } else { options.parallelism };
    let tasks: Vec<(Vec<f64>, Vec<f64>)> = (0..shots.div_ceil(SHOTS_PER_TASK))
        .into_par_iter()
        .map(|task| -> Result<(Vec<f64>, Vec<f64>)> {
            let (mut sum, mut sum_sq) = (vec![0.0; dim], vec![0.0; dim]);
            for shot in task * SHOTS_PER_TASK..((task + 1) * SHOTS_PER_TASK).min(shots) {
                let state = trajectory(n, &segs, seed::derive(seed, &[shot as u64]), inner)?;
                for (i, a) in state.amplitudes().iter().enumerate() {
                    let p = a.norm_sqr();
                    sum[i] += p;
                    sum_sq[i] += p * p;
                }
            }
            Ok((sum, sum_sq))
        })
        .collect::<Result<_>>()?;
    let (mut mean, mut sq) = (vec![0.0; dim], vec![0.0; dim]);
    for (s, s2) in &tasks {
        mean.iter_mut().zip(s).for_each(|(m, v)| *m += v);
        sq.iter_mut().zip(s2).for_each(|(m, v)| *m += v);
    }
    let k = shots as f64;
    mean.iter_mut().for_each(|m| *m /= k);
    let std_error: Vec<f64> = mean
        .iter()
        .zip(&sq)
        .map(|(&m, &s2)| if shots > 1 { ((s2 / k - m * m).max(0.0) / (k - 1.0)).sqrt() } else { f64::INFINITY })
        .collect();
    let mut measured = mean.clone();
    model.apply_readout(&mut measured, n)?;
    Ok((NoisyProbabilities { n_qubits: n, probabilities: mean, measured_probabilities: measured }, std_error))
}
