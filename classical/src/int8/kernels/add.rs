//! Element-wise addition of two int8 tensors with different scales, as TFLite's
//! `reference_integer_ops::Add` (int8 `PrepareGeneralSubgraph`): both inputs are centred, shifted left by
//! 20 bits, rescaled to the common scale `2 max(s1, s2)`, added, and the sum rescaled to the output.

use crate::error::{Result, arg_err, shape_err};
use crate::int8::fixed_point::{
    QuantizedMultiplier, RoundingPolicy, multiply_by_quantized_multiplier, quantize_multiplier,
};
use rayon::prelude::*;

/// TFLite's headroom shift of int8 add inputs.
pub const ADD_LEFT_SHIFT: i32 = 20;

/// Parameters of an int8 addition.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QAdd {
    /// Zero points of the two inputs.
    pub input_zero_points: [i32; 2],
    /// `s_i / (2 max(s1, s2))` as fixed-point multipliers.
    pub input_multipliers: [QuantizedMultiplier; 2],
    /// `2 max(s1, s2) / (2^20 s_out)`.
    pub output_multiplier: QuantizedMultiplier,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Clamp range (a folded ReLU / ReLU6).
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
    /// Rounding of every rescale.
    pub policy: RoundingPolicy,
}

impl QAdd {
    /// The parameters for inputs `(s1, zp1)`, `(s2, zp2)` and output `(s_out, zp_out)` (multipliers
    /// computed in f64 as TFLite does).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input1: (f32, i32),
        input2: (f32, i32),
        output: (f32, i32),
        act_min: i32,
        act_max: i32,
        policy: RoundingPolicy,
    ) -> Result<Self> {
        let i8r = -128..=127;
        for (s, zp) in [input1, input2, output] {
            if !(s > 0.0 && s.is_finite() && i8r.contains(&zp)) {
                return Err(arg_err("QAdd::new", format!("scale {s} must be positive and zero point {zp} an i8")));
            }
        }
        if !i8r.contains(&act_min) || !i8r.contains(&act_max) || act_min > act_max {
            return Err(arg_err("QAdd::new", format!("clamp range [{act_min}, {act_max}] outside i8")));
        }
        let twice_max = 2.0 * (input1.0.max(input2.0) as f64);
        let m1 = quantize_multiplier(input1.0 as f64 / twice_max, policy)?;
        let m2 = quantize_multiplier(input2.0 as f64 / twice_max, policy)?;
        let mo = quantize_multiplier(twice_max / ((1u64 << ADD_LEFT_SHIFT) as f64 * output.0 as f64), policy)?;
        Ok(Self {
            input_zero_points: [input1.1, input2.1],
            input_multipliers: [m1, m2],
            output_multiplier: mo,
            output_zero_point: output.1,
            act_min,
            act_max,
            policy,
        })
    }

    /// One output element.
    #[inline(always)]
    pub fn apply(&self, a: i8, b: i8) -> i8 {
        let scaled = |x: i8, i: usize| {
            let shifted = (x as i32 - self.input_zero_points[i]) * (1 << ADD_LEFT_SHIFT);
            multiply_by_quantized_multiplier(shifted, self.input_multipliers[i], self.policy)
        };
        let sum = scaled(a, 0).wrapping_add(scaled(b, 1));
        let out = multiply_by_quantized_multiplier(sum, self.output_multiplier, self.policy);
        out.wrapping_add(self.output_zero_point).clamp(self.act_min, self.act_max) as i8
    }

    /// `a + b` element-wise (any layout, the same for both).
    pub fn forward(&self, a: &[i8], b: &[i8]) -> Result<Vec<i8>> {
        if a.len() != b.len() {
            return Err(shape_err("QAdd", &[a.len()], &[b.len()], "both inputs need the same number of elements"));
        }
        let mut out = vec![0i8; a.len()];
        let body = |((o, a), b): ((&mut [i8], &[i8]), &[i8])| {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = self.apply(x, y);
            }
        };
        const CHUNK: usize = 1 << 14;
        if a.len() >= 4 * CHUNK {
            out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK)).for_each(body);
        } else {
            body(((&mut out, a), b));
        }
        Ok(out)
    }
}
