//! The linear layers of an inference pass, without the tape: the input rows times a weight read
//! where it lies.
//!
//! Through `nn::Linear` an evaluation pass copies each weight (`Ctx::param`) and transposes it
//! (`ops::linear`) before the product, so a decoding step would touch every weight three times and a
//! prefill would copy the whole model once per call. [`project`] takes that path only while training
//! or while a graph is traced (so traces keep their `Linear` nodes); otherwise, for at most
//! [`DECODE_ROWS`] rows (one new token per sequence) it runs the streaming f32 kernel of
//! [`crate::quant::dense`] on the weight where it lies (each output one fixed-order dot product of
//! the input row with the weight's row, AVX2 + FMA when the CPU has them, channel blocks split over
//! threads), and for more rows (a prefill, an evaluation batch) the crate's packed GEMM with the
//! weight read transposed through its strides: the same bits as `ops::linear`, without the copies.
//! Either way the result is the same at any thread count. A pruning mask or a quantizer on the
//! weight is honoured (the weight the forward pass would see is formed once).

use crate::quant::dense::DenseRows;
use std::borrow::Cow;
use tinylab_classical::autograd::Var;
use tinylab_classical::error::{arg_err, shape_err};
use tinylab_classical::nn::{Ctx, Linear, Module, Param};
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::contiguous;
use tinylab_classical::{Result, Tensor};

/// Inputs of at most this many rows take the streaming (GEMV-like) kernel; more take the GEMM.
pub const DECODE_ROWS: usize = 8;

/// The value the forward pass sees for `p`: borrowed unless a mask or quantizer changes it.
fn effective(p: &Param) -> Cow<'_, Tensor> {
    if p.mask.is_none() && p.quantizer.is_none() { Cow::Borrowed(&p.value) } else { Cow::Owned(p.effective_value()) }
}

/// True when a pass under `ctx` runs without the tape (inference, no graph being traced).
pub fn tape_free(ctx: &Ctx) -> bool {
    !ctx.train && !tinylab_classical::graph::active()
}

/// `x W^T + b` for `x` `[rows, in]` and `weight` `[out, in]`, each output one fixed-order dot product.
pub fn rows_times_weight(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (xs, ws) = (x.shape(), weight.shape());
    if xs.len() != 2 || ws.len() != 2 || xs[1] != ws[1] {
        return Err(shape_err("decode_linear", xs, ws, "input must be (N, in) for a weight (out, in)"));
    }
    if let Some(b) = bias
        && b.shape() != [ws[0]]
    {
        return Err(shape_err("decode_linear", ws, b.shape(), "one bias per output"));
    }
    let (rows, inputs, outputs) = (xs[0], xs[1], ws[0]);
    let (xc, wc) = (contiguous(x), contiguous(weight));
    let bc = bias.map(contiguous);
    let (xv, wv) = (xc.as_slice().expect("contiguous"), wc.as_slice().expect("contiguous"));
    let bv = bc.as_ref().map(|b| b.as_slice().expect("contiguous"));
    let y = if rows <= DECODE_ROWS || inputs == 0 {
        DenseRows { weight: wv, bias: bv, in_features: inputs, out_features: outputs }.times(xv, rows)
    } else {
        let mut y = vec![0f32; rows * outputs];
        if outputs > 0 {
            // B = W^T read through its strides: B(p, j) = W[j * inputs + p].
            gemm_into(rows, outputs, inputs, xv, inputs, 1, wv, 1, inputs, &mut y, false)?;
            if let Some(b) = bv {
                y.chunks_mut(outputs).for_each(|row| row.iter_mut().zip(b).for_each(|(v, &bj)| *v += bj));
            }
        }
        y
    };
    Ok(Tensor::from_shape_vec(ndarray::IxDyn(&[rows, outputs]), y).expect("sized"))
}

/// `layer(x)`: through the layer's own forward pass, or without the tape (see the module doc).
pub fn project(layer: &mut Linear, x: &Var, ctx: &mut Ctx) -> Result<Var> {
    if !tape_free(ctx) {
        return layer.forward(x, ctx);
    }
    let bias = layer.bias.as_ref().map(effective);
    Ok(Var::constant(rows_times_weight(x.value(), &effective(&layer.weight), bias.as_deref())?))
}

/// `x E^T` for a tied output head `E` (`[vocab, d]`) without the tape.
pub fn tied_head(embedding: &Param, x: &Var) -> Result<Var> {
    Ok(Var::constant(rows_times_weight(x.value(), &effective(embedding), None)?))
}

/// Rows `rows` of the table `table` without the tape (no copy of the whole table).
pub fn gather(table: &Param, rows: &[usize]) -> Result<Var> {
    let t = effective(table);
    let n = t.shape().first().copied().unwrap_or(0);
    if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
        return Err(arg_err("embedding", format!("index {bad} out of range for a table of {n} rows")));
    }
    Ok(Var::constant(t.select(ndarray::Axis(0), rows)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinylab_classical::tensor::{randn, rng};

    /// Against the f64 product, across the lane remainder and the task boundary.
    #[test]
    fn rows_times_weight_is_the_product() {
        for (rows, inputs, outputs) in [(1, 13, 70), (3, 16, 64), (2, 1, 129), (1, 0, 5), (9, 13, 70), (40, 33, 17)] {
            let r = &mut rng(rows as u64 * 31 + inputs as u64);
            let (x, w, b) =
                (randn(&[rows, inputs], 1.0, r), randn(&[outputs, inputs], 1.0, r), randn(&[outputs], 1.0, r));
            let y = rows_times_weight(&x, &w, Some(&b)).unwrap();
            for i in 0..rows {
                for j in 0..outputs {
                    let want: f64 = b[j] as f64 + (0..inputs).map(|k| x[[i, k]] as f64 * w[[j, k]] as f64).sum::<f64>();
                    assert!((y[[i, j]] as f64 - want).abs() < 1e-5, "{rows}x{inputs}x{outputs} ({i}, {j})");
                }
            }
        }
        // More rows than DECODE_ROWS run the GEMM: the bits of the taped `ops::linear`.
        let r = &mut rng(7);
        let (x, w, b) = (randn(&[37, 48], 1.0, r), randn(&[20, 48], 1.0, r), randn(&[20], 1.0, r));
        let taped = tinylab_classical::ops::linear(
            &Var::constant(x.clone()),
            &Var::constant(w.clone()),
            Some(&Var::constant(b.clone())),
        )
        .unwrap();
        let free = rows_times_weight(&x, &w, Some(&b)).unwrap();
        let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(taped.value()), bits(&free));
        let e = rows_times_weight(&randn(&[1, 3], 1.0, &mut rng(0)), &randn(&[4, 5], 1.0, &mut rng(0)), None);
        assert!(e.unwrap_err().to_string().contains("[1, 3]"));
    }
}
