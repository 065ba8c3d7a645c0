/*
 * tinylab int8 kernels for microcontrollers (C99, no malloc, no float).
 *
 * The arithmetic is TFLite Micro's int8 specification, bit for bit the same as the Rust engine in
 * tinylab-classical (`classical::int8`): accumulate sum((x - zp_in) * w) + bias in int32, rescale per
 * output channel by a fixed-point multiplier (TFLite's MultiplyByQuantizedMultiplier), add the output
 * zero point, clamp to [act_min, act_max] (ReLU / ReLU6 folded in).
 *
 * Rounding: double rounding (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT) unless the
 * translation unit is compiled with TL_SINGLE_ROUNDING defined to 1 (TFLITE_SINGLE_ROUNDING).
 *
 * Layout: activations are NHWC with batch 1, channels contiguous. A spatial tensor is passed as a
 * tl_view: a rectangular window (rows y0..y0+h, columns x0..x0+w, all channels) of a logical
 * full_h x full_w x c feature map. Element (y, x, ch) of the window, in full-map coordinates, is at
 * data[(y - y0) * row_stride + (x - x0) * c + ch]. A whole tensor is the window y0 = x0 = 0,
 * h = full_h, w = full_w, row_stride = full_w * c. A patch of MCUNetV2 patch-based inference is a
 * smaller window: the kernels compute the output window described by `out` and read the input
 * window `in`; taps outside the full map are padding (they hold the zero point: contribute nothing,
 * or count as the zero point in an average), and every tap inside the full map must lie inside the
 * input window (the exporter's planner guarantees it).
 *
 * Weights are in flash (const), OHWI order: weight[((o * kh + ky) * kw + kx) * cin_per_group + ci].
 * Depthwise weights are [(ky * kw + kx) * c_out + o] (HWO, TFLite's 1 x KH x KW x C).
 *
 * Two implementations, chosen at compile time by TL_USE_DSP (default: 1 where the compiler targets the
 * Arm DSP extension, __ARM_FEATURE_DSP: Cortex-M4, M7, M33, ...; 0 elsewhere):
 * - TL_USE_DSP 0, the portable kernels: plain C99 on int32 accumulators;
 * - TL_USE_DSP 1, the DSP kernels (CMSIS-NN / TinyEngine style): int8 operands widened to pairs of q15
 *   (SXTB16, the input offset added by SXTAB16) and multiplied two at a time (SMLAD), convolutions
 *   through a q15 im2col of two output positions and a 2x2 (output channels x positions) register
 *   block, depthwise convolutions through a ring of q15 input rows, the output stage on two values at
 *   once. Built for a target without the DSP extension (the host) they run on plain-C versions of the
 *   instructions: the same bytes, slowly (that is how the host tests cover them).
 * Both give the same bytes. Kernels whose arguments fall outside a DSP kernel's cases (the list is in
 * tl_kernels.c) run the portable code in either build.
 *
 * Scratch: the DSP kernels work in a caller-provided scratch area (`scratch`, any alignment; 4-byte
 * aligned is faster on hardware) whose size the tl_*_scratch_bytes functions below give for the
 * build's TL_USE_DSP (0 bytes: the argument may be NULL). The exporter sizes these areas and places
 * them in the arena (they count in its peak SRAM). A conv or depthwise kernel handed NULL runs the
 * portable code. Besides, the DSP kernels keep small fixed-size blocks on the stack: the output-stage
 * constants and accumulators of a pass of 16 output channels (conv), the packed taps and accumulators
 * of a block of 4 channels (depthwise); the deepest frame, tl_dw_dsp's, is 1072 bytes on a Cortex-M4
 * (-fstack-usage, gcc 12 -O2), well inside the 8 KiB stack of the exported targets.
 */
#ifndef TL_KERNELS_H
#define TL_KERNELS_H

#include <stdint.h>

/* A window of a batch-1 NHWC feature map (see above). */
typedef struct {
    int8_t *data;
    int32_t row_stride; /* elements between consecutive rows of the window */
    int16_t y0, x0;     /* window origin in the full map */
    int16_t h, w;       /* window size */
    int16_t c;          /* channels */
    int16_t full_h, full_w; /* the full map */
} tl_view;

/* The output stage: per output channel multiplier (Q0.31 mantissa) and shift (positive = left). */
typedef struct {
    const int32_t *multiplier;
    const int8_t *shift;
    int32_t output_zp;
    int32_t act_min, act_max;
} tl_requant;

/* Convolution geometry. */
typedef struct {
    int16_t kh, kw;
    int16_t stride_h, stride_w;
    int16_t pad_h, pad_w;
    int16_t dil_h, dil_w;
    int16_t groups;     /* 1 for a plain conv; c_in == groups == c_out for depthwise */
    int16_t c_out;
    int32_t input_zp;
} tl_conv_params;

/* Pooling geometry (square kernel as in the Rust engine). */
typedef struct {
    int16_t kernel, stride, pad;
} tl_pool_params;

/* Element-wise add parameters (TFLite int8 add: left shift 20, two input rescales, one output rescale). */
typedef struct {
    int32_t input1_zp, input2_zp;
    int32_t input1_multiplier, input2_multiplier, output_multiplier;
    int8_t input1_shift, input2_shift, output_shift;
    int32_t output_zp;
    int32_t act_min, act_max;
} tl_add_params;

/* TFLite's MultiplyByQuantizedMultiplier under the compiled rounding policy. */
int32_t tl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift);

/* Generic convolution (any kernel, stride, padding, dilation, groups). `scratch`: see
   tl_conv_scratch_bytes. */
void tl_conv(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
             const tl_requant *rq, const tl_view *out, int8_t *scratch);

/* 1x1 stride-1 unpadded convolution (groups 1): a per-pixel matrix-vector product, reading the NHWC
   input pixels in place. `scratch`: see tl_conv_scratch_bytes. */
void tl_conv_1x1(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                 const tl_requant *rq, const tl_view *out, int8_t *scratch);

/* Scratch bytes of tl_conv / tl_conv_1x1 with `c_in` input channels: the q15 columns of two output
   positions, K = kh * kw * (c_in / groups) elements each rounded up to a multiple of four,
   16 * ceil(K / 4) bytes, in a DSP build; 0 in a portable one. */
int32_t tl_conv_scratch_bytes(const tl_conv_params *p, int c_in);

/* Depthwise convolution, depth multiplier 1 (c_out == c_in); kernels 3x3, 5x5 and 7x7 take a
   specialised path, other sizes the generic one. `scratch`: see tl_depthwise_scratch_bytes. */
void tl_depthwise(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                  const tl_requant *rq, const tl_view *out, int8_t *scratch);

/* Depthwise convolution with a depth multiplier (c_out a multiple of c_in): output channel o reads
   input channel o / (c_out / c_in). Portable code in every build (no scratch). */
void tl_depthwise_multiplier(const tl_view *in, const int8_t *weight, const int32_t *bias,
                             const tl_conv_params *p, const tl_requant *rq, const tl_view *out);

/* TinyEngine's in-place depthwise convolution (depth multiplier 1, whole tensors): `io` holds the
   input (in_h x in_w x c, row_stride in_w * c) and receives the output (out_h x out_w x c, packed)
   from its first byte; output pixel p of channel ch overwrites only input pixel p's byte of the same
   channel. Portable build: channel by channel, the input plane is copied to `scratch` (in_h * in_w
   bytes) and the output plane written back. DSP build (the DSP depthwise cases whose rows allow it,
   see tl_depthwise_scratch_bytes): block of four channels by block, output row by output row, the
   input rows an output row reads are copied into a q15 ring in `scratch` before any output row
   overwrites them; other cases as the portable build. */
void tl_depthwise_inplace(int8_t *io, int in_h, int in_w, int c, int out_h, int out_w, const int8_t *weight,
                          const int32_t *bias, const tl_conv_params *p, const tl_requant *rq, int8_t *scratch);

/* Scratch bytes of a depthwise convolution with depth multiplier 1 over `c` channels whose output
   window is `out_w` columns wide: tl_depthwise (in_place 0) or tl_depthwise_inplace (in_place 1,
   whole in_h x in_w maps). DSP build, for kernels 3x3, 5x5 and 7x7 with dilation 1 and strides 1 or
   2: a ring of kh q15 rows of ((out_w - 1) * stride_w + kw + 2) & ~1 columns for min(c, 4) channels
   (for in_place, only when every input row is first read before an output row overwrites it;
   otherwise in_h * in_w bytes). Otherwise 0 (tl_depthwise) or in_h * in_w bytes (in place). */
int32_t tl_depthwise_scratch_bytes(const tl_conv_params *p, int c, int in_h, int in_w, int out_h, int out_w,
                                   int in_place);

/* Fully connected: out[o] = requant(bias[o] + sum_k (in[k] - input_zp) * weight[o * k_len + k]). */
void tl_fully_connected(const int8_t *in, int32_t input_zp, int k_len, const int8_t *weight, const int32_t *bias,
                        int o_len, const tl_requant *rq, int8_t *out);

/* Element-wise add over the output window: out = a + b with TFLite's int8 add arithmetic. `a`, `b`
   and `out` are windows of maps of the same full size and channels; `a` and `b` cover `out`. */
void tl_add(const tl_view *a, const tl_view *b, const tl_add_params *p, const tl_view *out);

/* Max pooling over the output window (padding never wins). */
void tl_max_pool(const tl_view *in, const tl_pool_params *p, const tl_view *out);

/* Average pooling over the output window: the kernel x kernel count includes padding, which counts
   as the zero point (PyTorch count_include_pad); sum / count rounded half away from zero. */
void tl_avg_pool(const tl_view *in, const tl_pool_params *p, int32_t zero_point, const tl_view *out);

/* Global average pooling of a whole h x w x c map into c values (same rounding). */
void tl_global_avg_pool(const int8_t *in, int h, int w, int c, int8_t *out);

/* Clamp n values in place to [lo, hi]. */
void tl_clamp(int8_t *x, int32_t n, int32_t lo, int32_t hi);

#endif /* TL_KERNELS_H */
