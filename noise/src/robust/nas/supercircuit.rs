//! The SuperCircuit of QuantumNAS (Wang et al., HPCA 2022): an encoder followed by up to
//! `max_blocks` repeated blocks of layers (for example `U3` on every qubit, then `RZZ` on the ring),
//! from which every SubCircuit is taken by choosing how many blocks to keep and how many gates of each
//! layer.
//!
//! Widths are *front-shared*, as in TorchQuantum's QuantumNAS: a layer of width `k` keeps the first
//! `k` gates of the full layer (the first `k` qubits of a one-qubit layer, the first `k` ring pairs of
//! an `RZZ` layer). Every SubCircuit names its parameters as the SuperCircuit does
//! (`b{block}.l{layer}.g{gate}.{angle}`) and records where each of them sits in the SuperCircuit's
//! parameter vector, so a SubCircuit inherits its weights from the trained SuperCircuit by index.

use crate::error::{NoiseError, Result};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;
use tinylab_quantum::{Angle, Circuit};

/// The kind of one layer of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum LayerKind {
    /// `U3(θ, φ, λ)` on each qubit (three angles per gate).
    U3,
    /// `RX(θ)` on each qubit.
    Rx,
    /// `RY(θ)` on each qubit.
    Ry,
    /// `RZ(θ)` on each qubit.
    Rz,
    /// `RZZ(θ)` on each pair of the ring `(0,1), (1,2), ..., (n-1,0)`.
    Rzz,
}

impl LayerKind {
    /// Angles per gate.
    pub fn n_angles(self) -> usize {
        match self {
            LayerKind::U3 => 3,
            LayerKind::Rx | LayerKind::Ry | LayerKind::Rz | LayerKind::Rzz => 1,
        }
    }

    /// Gates of the full layer on `n_qubits` qubits.
    pub fn max_width(self, n_qubits: usize) -> usize {
        match self {
            LayerKind::Rzz => ring_pairs(n_qubits).len(),
            _ => n_qubits,
        }
    }

    /// The short name used in parameter names and reports.
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::U3 => "u3",
            LayerKind::Rx => "rx",
            LayerKind::Ry => "ry",
            LayerKind::Rz => "rz",
            LayerKind::Rzz => "rzz",
        }
    }

    /// Appends gate `g` of this layer to `circuit` with `angles`.
    fn append(self, circuit: &mut Circuit, g: usize, angles: &[Angle]) -> Result<()> {
        match self {
            LayerKind::U3 => circuit.u3(angles[0], angles[1], angles[2], g)?,
            LayerKind::Rx => circuit.rx(angles[0], g)?,
            LayerKind::Ry => circuit.ry(angles[0], g)?,
            LayerKind::Rz => circuit.rz(angles[0], g)?,
            LayerKind::Rzz => {
                let (a, b) = ring_pairs(circuit.n_qubits())[g];
                circuit.rzz(angles[0], a, b)?
            }
        };
        Ok(())
    }
}

/// The ring of `n` qubits: `(q, q+1 mod n)` for every `q` when `n > 2`, the single pair `(0, 1)` when
/// `n = 2`, nothing below.
pub fn ring_pairs(n: usize) -> Vec<(usize, usize)> {
    match n {
        0 | 1 => Vec::new(),
        2 => vec![(0, 1)],
        _ => (0..n).map(|q| (q, (q + 1) % n)).collect(),
    }
}

/// The architecture of a SubCircuit: `widths[b][l]` gates of layer `l` in block `b`, for the blocks
/// kept (`widths.len()` of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SubCircuitConfig {
    /// Gates per layer, one row per block kept.
    pub widths: Vec<Vec<usize>>,
}

impl SubCircuitConfig {
    /// Blocks kept.
    pub fn n_blocks(&self) -> usize {
        self.widths.len()
    }
}

/// One gate of the full SuperCircuit and the range of its angles in the SuperCircuit's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSlot {
    /// `b{block}.l{layer}.g{gate}`.
    pub name: String,
    /// Indices of its angles in the SuperCircuit's parameter vector.
    pub params: Range<usize>,
}

/// A SubCircuit taken from a [`SuperCircuit`]: its architecture, its circuit (encoder included) and,
/// for every parameter of the circuit, the index of the SuperCircuit parameter it shares.
#[derive(Debug, Clone, PartialEq)]
pub struct SubCircuit {
    /// The architecture.
    pub config: SubCircuitConfig,
    /// The circuit: encoder, then the kept gates in SuperCircuit order.
    pub circuit: Circuit,
    /// `super_index[i]`: the SuperCircuit parameter that parameter `i` of `circuit` is.
    pub super_index: Vec<usize>,
    /// The SuperCircuit gates kept ([`SuperCircuit::gates`] indices), in circuit order.
    pub gates: Vec<usize>,
}

impl SubCircuit {
    /// This SubCircuit's weights taken from the SuperCircuit's `super_weights` (weight inheritance).
    pub fn inherit(&self, super_weights: &[f64]) -> Result<Vec<f64>> {
        self.super_index
            .iter()
            .map(|&i| {
                super_weights.get(i).copied().ok_or_else(|| NoiseError::SizeMismatch {
                    what: "SuperCircuit weights".into(),
                    expected: i + 1,
                    got: super_weights.len(),
                })
            })
            .collect()
    }
}

/// The SuperCircuit (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct SuperCircuit {
    encoder: Circuit,
    layers: Vec<LayerKind>,
    max_blocks: usize,
    min_width: usize,
    gates: Vec<GateSlot>,
    n_params: usize,
}

impl SuperCircuit {
    /// A SuperCircuit of `max_blocks` blocks of `layers` after `encoder` (a circuit that reads input
    /// features and has no trainable parameters). Sampled and searched SubCircuits keep at least
    /// `min_width` gates in every layer (at most the full layer).
    pub fn new(encoder: Circuit, layers: Vec<LayerKind>, max_blocks: usize, min_width: usize) -> Result<Self> {
        if encoder.n_params() != 0 {
            return Err(NoiseError::InvalidSetting {
                setting: "encoder trainable parameters",
                value: encoder.n_params().to_string(),
                requirement: "the encoder of a SuperCircuit has none",
            });
        }
        if encoder.n_inputs() == 0 {
            return Err(NoiseError::InvalidSetting {
                setting: "encoder inputs",
                value: "0".into(),
                requirement: "the encoder of a SuperCircuit must read input features",
            });
        }
        if layers.is_empty() || max_blocks == 0 {
            return Err(NoiseError::InvalidSetting {
                setting: "(layers, blocks)",
                value: format!("({}, {max_blocks})", layers.len()),
                requirement: "a SuperCircuit needs at least one layer and one block",
            });
        }
        let n = encoder.n_qubits();
        if let Some(kind) = layers.iter().find(|k| min_width > k.max_width(n)) {
            return Err(NoiseError::SizeMismatch {
                what: format!("min_width (at most the gates of a full `{}` layer on {n} qubits)", kind.name()),
                expected: kind.max_width(n),
                got: min_width,
            });
        }
        let mut gates = Vec::new();
        let mut next = 0;
        for b in 0..max_blocks {
            for (l, kind) in layers.iter().enumerate() {
                for g in 0..kind.max_width(n) {
                    gates.push(GateSlot { name: format!("b{b}.l{l}.g{g}"), params: next..next + kind.n_angles() });
                    next += kind.n_angles();
                }
            }
        }
        Ok(Self { encoder, layers, max_blocks, min_width, gates, n_params: next })
    }

    /// Qubits.
    pub fn n_qubits(&self) -> usize {
        self.encoder.n_qubits()
    }

    /// The layers of one block.
    pub fn layers(&self) -> &[LayerKind] {
        &self.layers
    }

    /// Blocks of the full SuperCircuit.
    pub fn max_blocks(&self) -> usize {
        self.max_blocks
    }

    /// The fewest gates a sampled or searched layer keeps.
    pub fn min_width(&self) -> usize {
        self.min_width
    }

    /// Gates of the full layer `l`.
    pub fn max_width(&self, l: usize) -> usize {
        self.layers.get(l).map_or(0, |k| k.max_width(self.n_qubits()))
    }

    /// Trainable parameters of the full SuperCircuit.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Every gate of the full SuperCircuit, in circuit order.
    pub fn gates(&self) -> &[GateSlot] {
        &self.gates
    }

    /// The encoder.
    pub fn encoder(&self) -> &Circuit {
        &self.encoder
    }

    /// The largest SubCircuit: every block, every layer full.
    pub fn full_config(&self) -> SubCircuitConfig {
        let row: Vec<usize> = (0..self.layers.len()).map(|l| self.max_width(l)).collect();
        SubCircuitConfig { widths: vec![row; self.max_blocks] }
    }

    /// Errors unless `config` has between 1 and `max_blocks` blocks, one width per layer in each, and
    /// no width above its full layer.
    pub fn validate(&self, config: &SubCircuitConfig) -> Result<()> {
        if config.n_blocks() == 0 || config.n_blocks() > self.max_blocks {
            return Err(NoiseError::SizeMismatch {
                what: "blocks of a SubCircuit config (1 to the SuperCircuit's)".into(),
                expected: self.max_blocks,
                got: config.n_blocks(),
            });
        }
        for (b, row) in config.widths.iter().enumerate() {
            if row.len() != self.layers.len() {
                return Err(NoiseError::SizeMismatch {
                    what: format!("widths of block {b}"),
                    expected: self.layers.len(),
                    got: row.len(),
                });
            }
            for (l, &w) in row.iter().enumerate() {
                if w > self.max_width(l) {
                    return Err(NoiseError::SizeMismatch {
                        what: format!("width of layer {l} in block {b} (at most the full layer's gates)"),
                        expected: self.max_width(l),
                        got: w,
                    });
                }
            }
        }
        Ok(())
    }

    /// Index of the first gate of layer `l` of block `b` in [`gates`](Self::gates).
    fn first_gate(&self, b: usize, l: usize) -> usize {
        let per_block: usize = (0..self.layers.len()).map(|k| self.max_width(k)).sum();
        b * per_block + (0..l).map(|k| self.max_width(k)).sum::<usize>()
    }

    /// The SubCircuit of `config`: the encoder, then for each kept block and layer the first
    /// `widths[b][l]` gates of the full layer, with parameters named and indexed as in the
    /// SuperCircuit.
    pub fn build(&self, config: &SubCircuitConfig) -> Result<SubCircuit> {
        self.validate(config)?;
        let mut circuit = self.encoder.clone();
        let mut super_index = Vec::new();
        let mut gates = Vec::new();
        for (b, row) in config.widths.iter().enumerate() {
            for (l, (&width, &kind)) in row.iter().zip(&self.layers).enumerate() {
                for g in 0..width {
                    let slot = self.first_gate(b, l) + g;
                    let mut angles = Vec::with_capacity(kind.n_angles());
                    for (k, index) in self.gates[slot].params.clone().enumerate() {
                        angles.push(circuit.param(&format!("{}.{k}", self.gates[slot].name))?);
                        super_index.push(index);
                    }
                    kind.append(&mut circuit, g, &angles)?;
                    gates.push(slot);
                }
            }
        }
        Ok(SubCircuit { config: config.clone(), circuit, super_index, gates })
    }

    /// A SubCircuit configuration drawn uniformly: the number of blocks in `1..=max_blocks`, each
    /// width in `min_width..=full` (see [`Architecture::random`]).
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> SubCircuitConfig {
        Architecture::random(self, rng).config()
    }

    /// The regular design with `n_params` parameters: blocks filled layer by layer in order, each
    /// layer with as many gates as still fit, so that only the last block is partial (the
    /// human-designed baseline of equal parameter count). Returns the configuration and its parameter
    /// count, which is `n_params` whenever the layers' angle counts allow it (always when some layer
    /// has one angle per gate). Errors when `n_params` is zero or above the full SuperCircuit's.
    pub fn regular(&self, n_params: usize) -> Result<(SubCircuitConfig, usize)> {
        if n_params == 0 || n_params > self.n_params {
            return Err(NoiseError::SizeMismatch {
                what: "parameters of a regular design (1 to the SuperCircuit's)".into(),
                expected: self.n_params,
                got: n_params,
            });
        }
        let mut left = n_params;
        let mut widths = Vec::new();
        while left > 0 && widths.len() < self.max_blocks {
            let row: Vec<usize> = self
                .layers
                .iter()
                .map(|kind| {
                    let w = (left / kind.n_angles()).min(kind.max_width(self.n_qubits()));
                    left -= w * kind.n_angles();
                    w
                })
                .collect();
            if row.iter().all(|&w| w == 0) {
                break;
            }
            widths.push(row);
        }
        Ok((SubCircuitConfig { widths }, n_params - left))
    }
}

/// An architecture as a gene: the number of blocks kept and the width of every layer of *every*
/// block of the SuperCircuit (rows past `n_blocks` are carried but unused, so that mutation,
/// crossover and restricted sampling can bring them back), as TorchQuantum encodes its search space.
/// Gene `0` is the block count, gene `1 + b L + l` the width of layer `l` of block `b` (`L` layers per
/// block).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Architecture {
    /// Blocks kept.
    pub n_blocks: usize,
    /// Width of every layer of every block.
    pub widths: Vec<Vec<usize>>,
}

impl Architecture {
    /// The full SuperCircuit.
    pub fn full(supercircuit: &SuperCircuit) -> Self {
        Self { n_blocks: supercircuit.max_blocks, widths: supercircuit.full_config().widths }
    }

    /// Every gene drawn uniformly: blocks in `1..=max_blocks`, widths in `min_width..=full`.
    pub fn random(supercircuit: &SuperCircuit, rng: &mut ChaCha8Rng) -> Self {
        let mut arch = Self::full(supercircuit);
        for gene in 0..arch.n_genes() {
            arch.redraw(supercircuit, gene, rng);
        }
        arch
    }

    /// The configuration it describes: the first `n_blocks` rows.
    pub fn config(&self) -> SubCircuitConfig {
        SubCircuitConfig { widths: self.widths[..self.n_blocks.min(self.widths.len())].to_vec() }
    }

    /// Number of genes.
    pub fn n_genes(&self) -> usize {
        1 + self.widths.iter().map(Vec::len).sum::<usize>()
    }

    /// The value of `gene` (0 past the last one).
    pub fn gene(&self, gene: usize) -> usize {
        match gene.checked_sub(1) {
            None => self.n_blocks,
            Some(g) => {
                let per_block = self.widths.first().map_or(1, Vec::len).max(1);
                self.widths.get(g / per_block).and_then(|row| row.get(g % per_block)).copied().unwrap_or(0)
            }
        }
    }

    /// Sets `gene` to `value` (nothing past the last gene).
    pub fn set_gene(&mut self, gene: usize, value: usize) {
        match gene.checked_sub(1) {
            None => self.n_blocks = value,
            Some(g) => {
                let per_block = self.widths.first().map_or(1, Vec::len).max(1);
                if let Some(w) = self.widths.get_mut(g / per_block).and_then(|row| row.get_mut(g % per_block)) {
                    *w = value;
                }
            }
        }
    }

    /// Redraws `gene` uniformly from its range in `supercircuit`.
    pub fn redraw(&mut self, supercircuit: &SuperCircuit, gene: usize, rng: &mut ChaCha8Rng) {
        let value = match gene.checked_sub(1) {
            None => uniform_in(rng, 1, supercircuit.max_blocks),
            Some(g) => {
                let l = g % supercircuit.layers.len().max(1);
                uniform_in(rng, supercircuit.min_width, supercircuit.max_width(l))
            }
        };
        self.set_gene(gene, value);
    }
}

/// A uniform integer in `lo..=hi` (`lo` when `hi < lo`).
pub(crate) fn uniform_in(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    if hi <= lo {
        return lo;
    }
    let span = hi - lo + 1;
    lo + ((tinylab_classical::tensor::uniform(rng) * span as f64) as usize).min(span - 1)
}
