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

/* Generic convolution (any kernel, stride, padding, dilation, groups). */
void tl_conv(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
             const tl_requant *rq, const tl_view *out);

/* 1x1 stride-1 unpadded convolution (groups 1): a per-pixel matrix-vector product. */
void tl_conv_1x1(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                 const tl_requant *rq, const tl_view *out);

/* Depthwise convolution, depth multiplier 1 (c_out == c_in); kernels 3x3, 5x5 and 7x7 take a
   specialised path, other sizes the generic one. */
void tl_depthwise(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                  const tl_requant *rq, const tl_view *out);

/* Depthwise convolution with a depth multiplier (c_out a multiple of c_in): output channel o reads
   input channel o / (c_out / c_in). */
void tl_depthwise_multiplier(const tl_view *in, const int8_t *weight, const int32_t *bias,
                             const tl_conv_params *p, const tl_requant *rq, const tl_view *out);

/* TinyEngine's in-place depthwise convolution (depth multiplier 1, whole tensors): `io` holds the
   input (in_h x in_w x c, row_stride in_w * c) and receives the output (out_h x out_w x c, packed)
   from its first byte. Channel by channel, the input plane is copied to `plane` (in_h * in_w bytes)
   and the output plane written back; output pixel p of channel ch overwrites only input pixel p's
   byte of the same channel, which is already copied. */
void tl_depthwise_inplace(int8_t *io, int in_h, int in_w, int c, int out_h, int out_w, const int8_t *weight,
                          const int32_t *bias, const tl_conv_params *p, const tl_requant *rq, int8_t *plane);

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
