//! Fully connected layer on the fused i8 GEMM, as TFLite's `reference_integer_ops::FullyConnected`
//! with per-channel weights: `Σ_k (x_k - zp_in) w[o][k] + bias[o]`, rescaled per output channel.

use crate::error::{Result, arg_err, shape_err};
use crate::int8::fixed_point::Requant;
use crate::int8::gemm::{Backend, Epilogue, PackedWeights, correction, gemm_requant_i8};
use crate::int8::weights::QuantizedWeights;

/// An int8 fully connected layer `(N, K) -> (N, O)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QLinear {
    weights: QuantizedWeights,
    out_features: usize,
    in_features: usize,
    packed: PackedWeights,
    epilogue: Epilogue,
}

impl QLinear {
    /// A layer with quantized weights `(out_features, in_features)`.
    pub fn new(weights: QuantizedWeights) -> Result<Self> {
        let [out_features, in_features] = weights.shape[..] else {
            return Err(arg_err(
                "QLinear::new",
                format!("a weight (out, in) has 2 dimensions, got {:?}", weights.shape),
            ));
        };
        weights.check("QLinear::new")?;
        let QuantizedWeights { values: weight, bias, input_zero_point, requant, .. } = &weights;
        let input_zero_point = *input_zero_point;
        if weight.len() != out_features * in_features || bias.len() != out_features || out_features == 0 {
            return Err(shape_err(
                "QLinear::new",
                &[out_features, in_features],
                &[weight.len(), bias.len()],
                "weight (out, in) and bias (out)",
            ));
        }
        if !(-128..=127).contains(&input_zero_point) {
            return Err(arg_err("QLinear::new", format!("input zero point {input_zero_point} is not an i8")));
        }
        if requant.multipliers.len() != 1 && requant.multipliers.len() != out_features {
            return Err(shape_err("QLinear::new", &[out_features], &[requant.multipliers.len()], "multipliers"));
        }
        let packed = PackedWeights::new(weight, out_features, in_features)?;
        let epilogue = Epilogue::new(&packed, &correction(&packed, bias, input_zero_point), requant, 0)?;
        Ok(Self { weights, out_features, in_features, packed, epilogue })
    }

    /// A layer from integers alone (unit weight scales): row-major `weight` `(out_features,
    /// in_features)`, i32 `bias` `(out_features)`, the input zero point and the output stage.
    pub fn from_parts(
        weight: Vec<i8>,
        out_features: usize,
        in_features: usize,
        bias: Vec<i32>,
        input_zero_point: i32,
        requant: Requant,
    ) -> Result<Self> {
        Self::new(QuantizedWeights::unscaled(weight, vec![out_features, in_features], bias, input_zero_point, requant))
    }

    /// The quantized weights.
    pub fn weights(&self) -> &QuantizedWeights {
        &self.weights
    }

    /// `(out_features, in_features)`.
    pub fn features(&self) -> (usize, usize) {
        (self.out_features, self.in_features)
    }

    /// The `(n, out)` output for `(n, in)` input `x`, on the detected backend.
    pub fn forward(&self, x: &[i8], n: usize) -> Result<Vec<i8>> {
        self.forward_with(Backend::detect(), x, n)
    }

    /// The same on a chosen backend.
    pub fn forward_with(&self, backend: Backend, x: &[i8], n: usize) -> Result<Vec<i8>> {
        if x.len() != n * self.in_features {
            return Err(shape_err("QLinear", &[n, self.in_features], &[x.len()], "input must be (N, in_features)"));
        }
        let mut out = vec![0i8; n * self.out_features];
        // The rows of x are the GEMM's rows as they lie (the u8 offset is applied per tile inside it).
        gemm_requant_i8(backend, x, self.in_features, n, &self.packed, &self.epilogue, &mut out, self.out_features)?;
        Ok(out)
    }
}
