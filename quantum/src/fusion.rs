//! Gate fusion: merge runs of ops on few qubits into one matrix, so a dense circuit needs fewer passes
//! over the state (the idea of Qiskit Aer's fusion, with its 5-qubit default cap).
//!
//! [`plan`] groups ops into blocks greedily in program order. An op may join any open block that
//! comes after the last block it cannot commute past: a block sharing a qubit with it, except that
//! diagonal ops commute with diagonal blocks. Among those it joins the one whose qubit set grows
//! least, if the result stays within the cap ([`FusionConfig::max_dense_qubits`], or
//! [`FusionConfig::max_diagonal_qubits`] while every member is diagonal); otherwise it opens a new
//! block. Barriers close every open block. [`compose`] multiplies a block's members into one op: a
//! table of phases for diagonal blocks, a dense matrix otherwise (each member is applied to the
//! columns of the running product with the same kernels that evolve states). The plan depends only
//! on which qubits ops touch and whether they are diagonal, not on angle values, so one plan serves a
//! whole batch of states.

use crate::matrix::{C64, Matrix};
use crate::ops::{Op, OpMatrix};
use crate::statevector::kernel::{MAX_DENSE_TARGETS, Parallelism};

/// Tuning knobs of gate fusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusionConfig {
    /// Fuse at all.
    pub enabled: bool,
    /// Largest qubit count of a fused dense block (at most [`MAX_DENSE_TARGETS`]).
    pub max_dense_qubits: usize,
    /// Largest qubit count of a fused diagonal block (a table of `2^k` phases).
    pub max_diagonal_qubits: usize,
    /// States with fewer qubits are simulated unfused (fusion costs more than it saves there).
    pub min_state_qubits: usize,
}

impl Default for FusionConfig {
    /// The settings measured fastest on the layered and QFT benchmark circuits at 20-24 qubits
    /// (`cargo bench --bench statevector -- fusion`).
    fn default() -> Self {
        Self { enabled: true, max_dense_qubits: 3, max_diagonal_qubits: 10, min_state_qubits: 0 }
    }
}

impl FusionConfig {
    /// No fusion.
    pub fn disabled() -> Self {
        Self { enabled: false, ..Self::default() }
    }
}

/// One step of a lowered circuit: an op, or a fence that fusion must not move ops across.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A unitary op.
    Op(Op),
    /// A barrier.
    Fence,
}

/// A fused block: indices of its member ops in the step list, and the qubits they touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Indices into the step list, in program order.
    pub members: Vec<usize>,
    /// Bit `q` set when a member touches qubit `q`.
    pub mask: u64,
    /// True while every member is diagonal.
    pub diagonal: bool,
}

fn op_mask(op: &Op) -> u64 {
    op.qubits().fold(0u64, |m, q| m | 1u64 << q)
}

/// Groups the ops of `steps` into blocks (see the module docs). Ops on qubits >= 64 are never fused.
pub fn plan(steps: &[Step], cfg: &FusionConfig) -> Vec<Block> {
    let max_dense = cfg.max_dense_qubits.clamp(1, MAX_DENSE_TARGETS) as u32;
    let max_diag = cfg.max_diagonal_qubits.max(1) as u32;
    let mut blocks: Vec<Block> = Vec::new();
    let mut first_open = 0;
    for (i, step) in steps.iter().enumerate() {
        let op = match step {
            Step::Fence => {
                first_open = blocks.len();
                continue;
            }
            Step::Op(op) => op,
        };
        let diagonal = op.matrix.is_diagonal();
        let fusable = cfg.enabled && op.qubits().all(|q| q < 64);
        let mask = if fusable { op_mask(op) } else { u64::MAX };
        // The last open block this op cannot move before.
        let barrier = blocks[first_open..]
            .iter()
            .rposition(|b| b.mask & mask != 0 && !(diagonal && b.diagonal))
            .map(|p| p + first_open);
        let start = barrier.unwrap_or(first_open);
        let mut best: Option<(u32, usize)> = None;
        if fusable {
            for (k, b) in blocks.iter().enumerate().skip(start) {
                let union = b.mask | mask;
                let size = union.count_ones();
                let cap = if diagonal && b.diagonal { max_diag } else { max_dense };
                if size > cap {
                    continue;
                }
                let growth = size - b.mask.count_ones();
                if best.is_none_or(|(g, _)| growth <= g) {
                    best = Some((growth, k));
                }
            }
        }
        match best {
            Some((_, k)) => {
                let b = &mut blocks[k];
                b.members.push(i);
                b.mask |= mask;
                b.diagonal &= diagonal;
            }
            None => blocks.push(Block { members: vec![i], mask, diagonal }),
        }
    }
    blocks
}

/// Maps an op onto block-local qubit numbers (`local[q]` for global qubit `q`).
fn relabel(op: &Op, qubits: &[usize]) -> Op {
    let local = |q: usize| qubits.iter().position(|&x| x == q).expect("op qubit inside its block");
    Op {
        targets: op.targets.iter().map(|&q| local(q)).collect(),
        controls: op.controls.iter().map(|&q| local(q)).collect(),
        matrix: op.matrix.clone(),
    }
}

/// Applies `op` to a small state serially (used to build fused matrices and in tests); errors,
/// changing nothing, when `op` does not fit `n_qubits` or `amps` is not `2^n_qubits` long.
pub fn apply_op_serial(amps: &mut [C64], n_qubits: usize, op: &Op) -> crate::error::Result<()> {
    crate::statevector::check_op(op, n_qubits)?;
    // The op's qubits were checked just above; this checks the amplitude count.
    crate::statevector::kernel::check_layout(amps, n_qubits, &[], &[])?;
    // SAFETY: both checked just above.
    unsafe { crate::statevector::apply_op_unchecked(amps, n_qubits, op, Parallelism::Sequential) };
    Ok(())
}

/// The single op equivalent to applying `ops` in order (all inside `block`'s qubits).
pub fn compose(block: &Block, steps: &[Step]) -> Op {
    let ops = block.members.iter().map(|&i| match &steps[i] {
        Step::Op(op) => op,
        Step::Fence => unreachable!("fences are never block members"),
    });
    if block.members.len() == 1 {
        return ops.into_iter().next().expect("one member").clone();
    }
    let qubits: Vec<usize> = (0..64).filter(|q| block.mask >> q & 1 == 1).collect();
    let k = qubits.len();
    let dim = 1usize << k;
    if block.diagonal {
        let mut table = vec![C64::new(1.0, 0.0); dim];
        for op in ops {
            let local = relabel(op, &qubits);
            let d = match &local.matrix {
                OpMatrix::Diagonal(d) => d,
                OpMatrix::Dense(_) => unreachable!("diagonal blocks hold diagonal ops"),
            };
            for (t, entry) in table.iter_mut().enumerate() {
                if local.controls.iter().all(|&c| t >> c & 1 == 1) {
                    let j = local.targets.iter().enumerate().fold(0, |j, (b, &q)| j | (t >> q & 1) << b);
                    *entry *= d[j];
                }
            }
        }
        return Op { targets: qubits, controls: Vec::new(), matrix: OpMatrix::Diagonal(table) };
    }
    // Rows of `columns` are the columns of the running product U: row c holds U|c>.
    let mut columns = Matrix::identity(dim);
    let local_ops: Vec<Op> = ops.map(|op| relabel(op, &qubits)).collect();
    let mut col = vec![C64::new(0.0, 0.0); dim];
    for c in 0..dim {
        col.iter_mut().enumerate().for_each(|(r, x)| *x = columns.get(c, r));
        for op in &local_ops {
            // SAFETY: `relabel` puts every op of the block on the block's `k` local qubits (distinct,
            // as the checked ops' qubits were), and `col` holds 2^k amplitudes.
            unsafe { crate::statevector::apply_op_unchecked(&mut col, k, op, Parallelism::Sequential) };
        }
        for (r, x) in col.iter().enumerate() {
            columns.set(c, r, *x);
        }
    }
    let u = columns.transpose();
    Op { targets: qubits, controls: Vec::new(), matrix: OpMatrix::Dense(u) }
}

/// Plans and composes in one call: the fused op sequence for `steps`.
pub fn fuse(steps: &[Step], cfg: &FusionConfig) -> Vec<Op> {
    if !cfg.enabled {
        return steps.iter().filter_map(|s| if let Step::Op(op) = s { Some(op.clone()) } else { None }).collect();
    }
    plan(steps, cfg).iter().map(|b| compose(b, steps)).collect()
}
