//! An integer-only inference engine following TFLite Micro's int8 specification
//! (<https://www.tensorflow.org/lite/performance/quantization_spec>; Jacob et al., "Quantization and
//! Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018).
//!
//! - Weights: int8 per output channel, symmetric on [-127, 127] (zero point 0). Activations: int8 per
//!   tensor, asymmetric on [-128, 127]. Biases: int32 at scale `s_in s_w[o]`, zero point 0.
//! - [`fixed_point`]: `QuantizeMultiplier`, `SaturatingRoundingDoublingHighMul`, `RoundingDivideByPOT`
//!   and `MultiplyByQuantizedMultiplier` under an explicit [`RoundingPolicy`] (TFLite's default double
//!   rounding, or `TFLITE_SINGLE_ROUNDING`).
//! - [`gemm`]: the i8 x i8 -> i32 product with fused requantization (AVX-512 VNNI, AVX2 or portable,
//!   chosen at run time, bit-identical).
//! - [`kernels`]: convolution (im2row + GEMM), depthwise convolution, fully connected, add (TFLite's
//!   left shift 20), concatenation (TFLite's requantize per input), max / average / global average
//!   pooling. ReLU and ReLU6 are folded into the output clamps.
//! - [`QuantizedWeights`]: one struct of a conv, depthwise or fully connected layer's integers
//!   (weights, per-channel scales and zero points, bias, multipliers and shifts) that the kernels own,
//!   the saved format stores and the C exporter reads.
//! - [`convert()`]: one call from any float model and calibration images to an [`Int8Model`],
//!   through the model graph ([`crate::graph`]: BN folding, ReLU fusion, calibration with
//!   [`compress::calibrate`](crate::compress::calibrate)); the first node without an int8 kernel is
//!   named in the error.
//! - [`Int8Model`]: layers in execution order reading the input or earlier layers ([`Source`]);
//!   integer forward pass with float logits / probabilities at the end, the fake-quant float
//!   simulation of the same quantization points, model size and MACs; `save` / `load`.
//! - [`reference`](mod@reference): an exact i128 / plain-loop oracle of the same arithmetic, for tests.
//!
//! Layout: the engine stores activations NHWC internally (contiguous channels for im2row, per-channel
//! requantization and depthwise loops); inputs and outputs are NCHW like the float models, and
//! `Flatten` produces the NCHW feature order, so weights of a following linear layer need no
//! permutation.

pub mod convert;
pub mod fixed_point;
pub mod gemm;
pub mod kernels;
pub mod model;
pub mod reference;
mod saved;
pub mod weights;

pub use convert::{ConvertOptions, convert, convert_graph};
pub use fixed_point::{
    QuantizedMultiplier, Requant, RoundingPolicy, multiply_by_quantized_multiplier, quantize_multiplier,
};
pub use kernels::Dims;
pub use model::{Int8Layer, Int8Model, Int8Node, ModelSize, QuantizedOutput, Source};
pub use saved::{INT8_MODEL_KIND, INT8_MODEL_VERSION};
pub use weights::QuantizedWeights;
