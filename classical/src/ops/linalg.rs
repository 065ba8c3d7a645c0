//! Matrix products: [`gemm_into`] (checked strides, on [`super::sgemm`]) and the differentiable
//! `matmul` and `linear` built on it.

use super::sgemm::{Backend, Strided, sgemm};
use crate::autograd::{Op, Var};
use crate::error::{Result, arg_err, shape_err};
use crate::tensor::{Tensor, contiguous, into_contiguous};
use ndarray::IxDyn;

/// `c = a * b` (or `c += a * b` when `accumulate`) for row-major slices described by strides:
/// element `(i, j)` of `a` is `a[i * a_rs + j * a_cs]`, likewise `b`; `c` is contiguous `m x n`.
///
/// Runs on the crate's packed, blocked kernel (`ops::sgemm`: an AVX2+FMA micro-kernel where the CPU has one)
/// on the current rayon pool. Threads split rows or columns of `c`, never `k`, and `k` is cut into
/// blocks that depend on `k` alone, so every element of `c` is summed in the same order whatever the
/// thread count or the cache sizes.
///
/// Errors (and touches nothing) when `c` holds fewer than `m * n` elements or the strides reach past
/// the end of `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    c: &mut [f32],
    accumulate: bool,
) -> Result<()> {
    if c.len() < m * n {
        return Err(arg_err(
            "gemm_into",
            format!("the output holds {} elements, a {m}x{n} product needs {}", c.len(), m * n),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return Ok(());
    }
    // The last element each operand's strides reach (saturating: a stride that overflows cannot fit).
    let reach = |rows: usize, rs: usize, cols: usize, cs: usize| {
        (rows - 1).checked_mul(rs).and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
    };
    for (name, rows, rs, cols, cs, len) in [("a", m, a_rs, k, a_cs, a.len()), ("b", k, b_rs, n, b_cs, b.len())] {
        if reach(rows, rs, cols, cs).is_none_or(|last| last >= len) {
            return Err(arg_err(
                "gemm_into",
                format!("{name} is {rows}x{cols} with strides ({rs}, {cs}), which reach past its {len} elements"),
            ));
        }
    }
    let (a, b) = (Strided { data: a, rs: a_rs, cs: a_cs }, Strided { data: b, rs: b_rs, cs: b_cs });
    sgemm(m, n, k, a, b, c, accumulate, Backend::detect(), rayon::current_num_threads());
    Ok(())
}

/// Shapes of a matmul: batch count, m, k, n, and whether `b` is shared by the batch.
fn matmul_dims(a: &[usize], b: &[usize]) -> Result<(usize, usize, usize, usize, bool)> {
    let err = |why: &str| shape_err("matmul", a, b, why);
    // A shared `b` folds the batch into the rows: one (batch*m, k) x (k, n) product.
    match (a.len(), b.len()) {
        (2, 2) if a[1] == b[0] => Ok((1, a[0], a[1], b[1], true)),
        (3, 2) if a[2] == b[0] => Ok((1, a[0] * a[1], a[2], b[1], true)),
        (3, 3) if a[0] == b[0] && a[2] == b[1] => Ok((a[0], a[1], a[2], b[2], false)),
        (2, 2) | (3, 2) | (3, 3) => Err(err("inner dimensions (or batch sizes) differ")),
        _ => Err(err("matmul takes (m,k)x(k,n), (b,m,k)x(k,n) or (b,m,k)x(b,k,n)")),
    }
}

#[derive(Debug)]
struct MatMul;

impl Op for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::MatMul)
    }

    fn backward(&self, inputs: &[&Tensor], _: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (ga, gb) = matmul_grads(inputs[0], inputs[1], grad, true)?;
        Ok(vec![ga, Some(gb)])
    }
}

/// The gradients `(dA, dB)` of `C = A B` for the output gradient `grad` (`dA` only when `need_a`).
fn matmul_grads(a: &Tensor, b: &Tensor, grad: &Tensor, need_a: bool) -> Result<(Option<Tensor>, Tensor)> {
    let (a, b) = (contiguous(a), contiguous(b));
    let g = contiguous(grad);
    let (batch, m, k, n, shared_b) = matmul_dims(a.shape(), b.shape())?;
    let (a_s, b_s, g_s) = (a.as_slice().unwrap(), b.as_slice().unwrap(), g.as_slice().unwrap());
    let mut ga = vec![0.0f32; if need_a { a.len() } else { 0 }];
    let mut gb = vec![0.0f32; b.len()];
    for i in 0..batch {
        let ai = &a_s[i * m * k..(i + 1) * m * k];
        let gi = &g_s[i * m * n..(i + 1) * m * n];
        let bi = if shared_b { b_s } else { &b_s[i * k * n..(i + 1) * k * n] };
        if need_a {
            // dA = dC B^T: (m,n) x (n,k); B^T(j, l) = B(l, j) = b[l * n + j].
            gemm_into(m, k, n, gi, n, 1, bi, 1, n, &mut ga[i * m * k..(i + 1) * m * k], false)?;
        }
        // dB = A^T dC: (k,m) x (m,n), summed over the batch when B is shared.
        let gb_i = if shared_b { &mut gb[..] } else { &mut gb[i * k * n..(i + 1) * k * n] };
        gemm_into(k, n, m, ai, 1, k, gi, n, 1, gb_i, false)?;
    }
    let ga = need_a.then(|| Tensor::from_shape_vec(IxDyn(a.shape()), ga).expect("shape"));
    Ok((ga, Tensor::from_shape_vec(IxDyn(b.shape()), gb).expect("shape")))
}

/// Matrix product: `(m,k)x(k,n)`, `(b,m,k)x(k,n)` or `(b,m,k)x(b,k,n)`.
pub fn matmul(a: &Var, b: &Var) -> Result<Var> {
    let value = matmul_value(a.value(), b.value())?;
    Ok(Var::from_op(MatMul, &[a, b], value))
}

/// The value of `a b` (see [`matmul`]).
fn matmul_value(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (batch, m, k, n, shared_b) = matmul_dims(a.shape(), b.shape())?;
    let (ac, bc) = (contiguous(a), contiguous(b));
    let (a_s, b_s) = (ac.as_slice().unwrap(), bc.as_slice().unwrap());
    let mut out = vec![0.0f32; batch * m * n];
    for i in 0..batch {
        let bi = if shared_b { b_s } else { &b_s[i * k * n..(i + 1) * k * n] };
        gemm_into(
            m,
            n,
            k,
            &a_s[i * m * k..(i + 1) * m * k],
            k,
            1,
            bi,
            n,
            1,
            &mut out[i * m * n..(i + 1) * m * n],
            false,
        )?;
    }
    let shape: Vec<usize> = match a.shape() {
        [_, _] => vec![m, n],
        [b0, m0, _] => vec![*b0, *m0, n],
        _ => unreachable!("matmul_dims accepts 2-d and 3-d operands"),
    };
    Ok(Tensor::from_shape_vec(IxDyn(&shape), out).expect("shape"))
}

/// The fully connected layer `x W^T + b` as one op.
#[derive(Debug)]
struct Linear {
    has_bias: bool,
    /// `W^T`, contiguous: made once in the forward pass, read again by the backward pass.
    wt: Tensor,
}

impl Op for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn describe(&self) -> Option<crate::graph::NodeOp> {
        Some(crate::graph::NodeOp::Linear { act: None })
    }

    fn backward(&self, inputs: &[&Tensor], output: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
        self.backward_needed(inputs, output, grad, &[true; 3])
    }

    fn backward_needed(
        &self,
        inputs: &[&Tensor],
        _: &Tensor,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        // The same arithmetic as matmul(x, transpose(w)) + b: the gradient of W^T, transposed.
        let (gx, gwt) = matmul_grads(inputs[0], &self.wt, grad, needs[0])?;
        let gw = into_contiguous(gwt.reversed_axes());
        let mut grads = vec![gx, Some(gw)];
        if self.has_bias {
            grads.push(Some(super::sum_to_shape(grad, inputs[2].shape())));
        }
        Ok(grads)
    }
}

/// A fully connected layer `x W^T + b` for `x` `(N, in)`, `weight` `(out, in)` and an optional `bias`
/// `(out)`: the same values and gradients as `add(matmul(x, transpose(weight)), bias)`, as one op (one
/// node of the model graph).
///
/// ```
/// use tinylab_classical::{Var, ops, tensor};
/// let x = Var::leaf(tensor::ones(&[2, 3]));
/// let w = Var::leaf(tensor::ones(&[4, 3]));
/// let y = ops::linear(&x, &w, None)?; // (2, 3) x (4, 3)^T -> (2, 4), every entry 3
/// assert_eq!(y.shape(), &[2, 4]);
/// ops::sum(&y).backward()?;
/// assert_eq!(w.grad().unwrap(), tensor::from_vec(&[4, 3], vec![2.0; 12])?);
/// # Ok::<(), tinylab_classical::ClassicalError>(())
/// ```
pub fn linear(x: &Var, weight: &Var, bias: Option<&Var>) -> Result<Var> {
    let (xs, ws) = (x.shape(), weight.shape());
    if xs.len() != 2 || ws.len() != 2 || xs[1] != ws[1] {
        return Err(shape_err("linear", xs, ws, "input must be (N, in) for a weight (out, in)"));
    }
    if let Some(b) = bias
        && b.shape() != [ws[0]]
    {
        return Err(shape_err("linear", ws, b.shape(), "one bias per output"));
    }
    let wt = into_contiguous(weight.value().clone().reversed_axes());
    let y = matmul_value(x.value(), &wt)?;
    let op = Linear { has_bias: bias.is_some(), wt };
    Ok(match bias {
        Some(b) => Var::from_op(op, &[x, weight, b], &y + b.value()),
        None => Var::from_op(op, &[x, weight], y),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a * b` in f64 for row-major `m x k` and `k x n`.
    fn reference(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum();
            }
        }
        c
    }

    /// Operands too small for their shape and strides are errors naming them, not out-of-bounds reads.
    #[test]
    fn undersized_operands_are_errors() {
        let (a, b) = (vec![1.0f32; 6], vec![1.0f32; 6]);
        let mut c = vec![0.0f32; 4];
        assert!(gemm_into(2, 2, 3, &a, 3, 1, &b, 2, 1, &mut c, false).is_ok());
        let err = gemm_into(2, 2, 4, &a, 4, 1, &b, 2, 1, &mut c, false).unwrap_err().to_string();
        assert!(err.contains("a is 2x4 with strides (4, 1)") && err.contains("6 elements"), "{err}");
        let err = gemm_into(2, 3, 3, &a, 3, 1, &b, 3, 1, &mut c, false).unwrap_err().to_string();
        assert!(err.contains("output holds 4 elements") && err.contains("needs 6"), "{err}");
        assert!(gemm_into(2, 2, 3, &a, usize::MAX, 1, &b, 2, 1, &mut c, false).is_err());
    }

    /// Across the block boundary (k of 512, 513, 1300) and the whole/blocked threshold (sides of 64
    /// and 65), with and without accumulation, the product is the f64 one to f32 rounding.
    #[test]
    fn blocked_products_match_the_f64_reference() {
        let mut state = 1u64;
        let mut next = || {
            state = crate::seed::derive(state, &[1]);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for (m, n, k) in [(64, 64, 1300), (65, 3, 513), (70, 80, 512), (3, 130, 1300), (66, 66, 2049)] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let expected = reference(m, n, k, &a, &b);
            let mut c = vec![0.0f32; m * n];
            gemm_into(m, n, k, &a, k, 1, &b, n, 1, &mut c, false).unwrap();
            let mut twice = c.clone();
            gemm_into(m, n, k, &a, k, 1, &b, n, 1, &mut twice, true).unwrap();
            for ((&got, &acc), &want) in c.iter().zip(&twice).zip(&expected) {
                let tolerance = 1e-5 * (k as f64).sqrt();
                assert!((got as f64 - want).abs() < tolerance, "{m}x{n}x{k}: {got} vs {want}");
                assert!((acc as f64 - 2.0 * want).abs() < 2.0 * tolerance, "{m}x{n}x{k} accumulated: {acc}");
            }
        }
    }
}
