/*
 * tinylab int8 kernels for microcontrollers: the implementation of tl_kernels.h (C99, no malloc, no
 * float, no division in the multiply-accumulate loops).
 *
 * Bit-exact with the Rust engine of tinylab-classical (classical/src/int8: fixed_point.rs and
 * kernels/{conv,depthwise,fully_connected,add,pool}.rs). Assumes a two's-complement target whose
 * right shift of a negative integer is arithmetic and whose int -> int32_t conversion wraps (gcc,
 * clang and arm-none-eabi-gcc on Cortex-M all qualify); wrapping arithmetic is done on uint32_t so
 * that no signed overflow (undefined behaviour) is ever relied upon.
 *
 * Loop structure, for a Cortex-M without SIMD:
 * - the valid kernel rows / columns of every output position are computed once (taps outside the full
 *   map are padding and are skipped, which is what "padding holds the zero point" amounts to), so the
 *   multiply-accumulate loops carry no bounds checks;
 * - accumulators are int32 in registers; the innermost loops run over contiguous channels (a conv's
 *   input channels, which with one group and no column dilation extend over a whole kernel row; a
 *   depthwise conv's four-channel lanes);
 * - the output stage is per channel: multiply by the quantized multiplier, add the output zero
 *   point (wrapping), clamp.
 */
#include "tl_kernels.h"

#if defined(__GNUC__) || defined(__clang__)
#define TL_INLINE static inline __attribute__((always_inline))
#else
#define TL_INLINE static inline
#endif

/* Full unrolling of the short constant loops of the specialised kernels (gcc does not do it at -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#define TL_UNROLL _Pragma("GCC unroll 8")
#else
#define TL_UNROLL
#endif

/* A helper kept out of line: its loops get their own register allocation. */
#if defined(__GNUC__) || defined(__clang__)
#define TL_NOINLINE static __attribute__((noinline))
#else
#define TL_NOINLINE static
#endif

#ifndef TL_SINGLE_ROUNDING
#define TL_SINGLE_ROUNDING 0
#endif

/* The DSP kernels: on by default where the compiler targets the Arm DSP extension. */
#ifndef TL_USE_DSP
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TL_USE_DSP 1
#else
#define TL_USE_DSP 0
#endif
#endif

/* ------------------------------------------------------------------------------------------------ */
/* Fixed point                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

#if !TL_SINGLE_ROUNDING
/* gemmlowp's SaturatingRoundingDoublingHighMul: the high 32 bits of 2ab rounded to nearest (ties towards
   +inf), saturating the one overflow a = b = INT32_MIN. */
TL_INLINE int32_t tl_srdhm(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* Truncating division by a power of two: the compiler emits shifts, no library call. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero (exponent in
   0..31). */
TL_INLINE int32_t tl_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}
#endif

/* TFLite's MultiplyByQuantizedMultiplier (see fixed_point.rs). Double rounding: the left shift wraps as
   the C++ multiply does (done on uint32_t); single rounding: one rounding shift of the 64-bit product. */
TL_INLINE int32_t tl_mbqm(int32_t x, int32_t multiplier, int shift)
{
#if TL_SINGLE_ROUNDING
    const int total = 31 - shift;
    const int64_t round = (int64_t)1 << (total - 1);
    return (int32_t)(((int64_t)x * (int64_t)multiplier + round) >> total);
#else
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return tl_rdbpot(tl_srdhm(shifted, multiplier), right);
#endif
}

int32_t tl_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
    return tl_mbqm(x, multiplier, shift);
}

/* The output stage of channel `o`: rescale, add the output zero point (wrapping), clamp. */
TL_INLINE int8_t tl_requant_one(int32_t acc, const tl_requant *rq, int o)
{
    int32_t v = tl_mbqm(acc, rq->multiplier[o], rq->shift[o]);
    v = (int32_t)((uint32_t)v + (uint32_t)rq->output_zp);
    if (v < rq->act_min) {
        v = rq->act_min;
    }
    if (v > rq->act_max) {
        v = rq->act_max;
    }
    return (int8_t)v;
}

/* ------------------------------------------------------------------------------------------------ */
/* Geometry helpers                                                                                  */
/* ------------------------------------------------------------------------------------------------ */

/* The taps t in [*lo, *hi) of a k-tap window starting at `base` with spacing `dil` that land inside
   0..size. Called once per output row / column, never inside a multiply-accumulate loop. */
TL_INLINE void tl_tap_range(int base, int k, int dil, int size, int *lo, int *hi)
{
    int l = 0, h = k;
    if (dil == 1) {
        if (base < 0) {
            l = -base;
        }
        if (base + k > size) {
            h = size - base;
        }
    } else {
        if (base < 0) {
            l = (-base + dil - 1) / dil;
        }
        if (base + (k - 1) * dil >= size) {
            h = size - base <= 0 ? 0 : (size - base + dil - 1) / dil;
        }
    }
    if (l > k) {
        l = k;
    }
    if (h < l) {
        h = l;
    }
    *lo = l;
    *hi = h;
}

/* Offset in `v->data` of pixel (y, x) in full-map coordinates (inside the window). */
TL_INLINE int32_t tl_at(const tl_view *v, int y, int x)
{
    return (int32_t)(y - v->y0) * v->row_stride + (int32_t)(x - v->x0) * v->c;
}

/* sum_i (x[i] - zp) * w[i] over n contiguous bytes. */
TL_INLINE int32_t tl_dot(const int8_t *x, const int8_t *w, int n, int32_t zp)
{
    int32_t acc = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        acc += (x[i] - zp) * w[i];
        acc += (x[i + 1] - zp) * w[i + 1];
        acc += (x[i + 2] - zp) * w[i + 2];
        acc += (x[i + 3] - zp) * w[i + 3];
    }
    for (; i < n; ++i) {
        acc += (x[i] - zp) * w[i];
    }
    return acc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Convolution                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

static void tl_conv_portable(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                             const tl_requant *rq, const tl_view *out)
{
    const int c = in->c, groups = p->groups;
    const int cg = c / groups, og = p->c_out / groups;
    const int kh = p->kh, kw = p->kw, dh = p->dil_h, dw = p->dil_w;
    const int32_t zp = p->input_zp;
    const int32_t wo_len = (int32_t)kh * kw * cg;
    /* With one group and no column dilation the valid taps of a kernel row are one contiguous run of
       both the input row and the OHWI weight row. */
    const int runs = groups == 1 && dw == 1;
    int oy, ox, g, oo, ky, kx;
    for (oy = out->y0; oy < out->y0 + out->h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        int ky0, ky1;
        tl_tap_range(iy0, kh, dh, in->full_h, &ky0, &ky1);
        for (ox = out->x0; ox < out->x0 + out->w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            int8_t *dst = out->data + tl_at(out, oy, ox);
            int kx0, kx1;
            tl_tap_range(ix0, kw, dw, in->full_w, &kx0, &kx1);
            for (g = 0; g < groups; ++g) {
                for (oo = 0; oo < og; ++oo) {
                    const int o = g * og + oo;
                    const int8_t *wo = weight + (int32_t)o * wo_len;
                    int32_t acc = bias[o];
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int iy = iy0 + ky * dh;
                        const int8_t *wrow = wo + (int32_t)ky * kw * cg;
                        if (runs) {
                            if (kx1 > kx0) {
                                const int8_t *src = in->data + tl_at(in, iy, ix0 + kx0);
                                acc += tl_dot(src, wrow + kx0 * cg, (kx1 - kx0) * c, zp);
                            }
                        } else {
                            for (kx = kx0; kx < kx1; ++kx) {
                                const int8_t *src = in->data + tl_at(in, iy, ix0 + kx * dw) + g * cg;
                                acc += tl_dot(src, wrow + kx * cg, cg, zp);
                            }
                        }
                    }
                    dst[o] = tl_requant_one(acc, rq, o);
                }
            }
        }
    }
}

static void tl_conv_1x1_portable(const tl_view *in, const int8_t *weight, const int32_t *bias,
                                 const tl_conv_params *p, const tl_requant *rq, const tl_view *out)
{
    const int c = in->c, c_out = p->c_out;
    const int32_t zp = p->input_zp;
    int oy, ox, o;
    for (oy = out->y0; oy < out->y0 + out->h; ++oy) {
        const int8_t *src = in->data + tl_at(in, oy, out->x0);
        int8_t *dst = out->data + tl_at(out, oy, out->x0);
        for (ox = 0; ox < out->w; ++ox) {
            const int8_t *w = weight;
            for (o = 0; o < c_out; ++o) {
                dst[o] = tl_requant_one(bias[o] + tl_dot(src, w, c, zp), rq, o);
                w += c;
            }
            src += c;
            dst += c_out;
        }
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Depthwise convolution                                                                             */
/* ------------------------------------------------------------------------------------------------ */

/* One depthwise job: input and output described by raw strides so that both the NHWC views and the
   in-place path's single-channel plane fit. Channels [0, nch) of the input are processed; output
   channel ci * mult + m reads input channel ci. Weight tap t of output channel o is w[t * wstride + o];
   bias, multipliers and shifts are indexed by o too (pointers already offset to the first channel). */
typedef struct {
    const int8_t *x;
    int32_t x_rs;  /* elements between input rows */
    int x_ps;      /* elements between input pixels */
    int y0, x0;    /* input window origin */
    int full_h, full_w;
    int8_t *y;
    int32_t y_rs;
    int y_ps;
    int oy0, ox0, oh, ow; /* output window */
    int nch;
    int wstride;
    const int8_t *w;
    const int32_t *bias;
    tl_requant rq;
} tl_dw_job;

/* The output pixel at `dst` whose first valid tap is `src` (input) / `w` (weights): nky x nkx taps,
   input steps srow / scol between taps, weight steps wrow / wstride. With nky, nkx and mult
   compile-time constants (the interior of a specialised kernel) the tap loops unroll. */
TL_INLINE void tl_dw_pixel(const tl_dw_job *j, const int8_t *src, const int8_t *w, int8_t *dst, int nky, int nkx,
                           int32_t srow, int32_t scol, int32_t wrow, int mult, int32_t zp)
{
    const int ws = j->wstride;
    int ci = 0, ky, kx, m;
    if (mult == 1) {
        /* Four contiguous channels per step: one address computation per tap, four accumulators in
           registers. */
        for (; ci + 4 <= j->nch; ci += 4) {
            int32_t a0 = j->bias[ci], a1 = j->bias[ci + 1], a2 = j->bias[ci + 2], a3 = j->bias[ci + 3];
            for (ky = 0; ky < nky; ++ky) {
                const int8_t *s = src + ky * srow + ci;
                const int8_t *ww = w + ky * wrow + ci;
                for (kx = 0; kx < nkx; ++kx) {
                    a0 += (s[0] - zp) * ww[0];
                    a1 += (s[1] - zp) * ww[1];
                    a2 += (s[2] - zp) * ww[2];
                    a3 += (s[3] - zp) * ww[3];
                    s += scol;
                    ww += ws;
                }
            }
            dst[ci] = tl_requant_one(a0, &j->rq, ci);
            dst[ci + 1] = tl_requant_one(a1, &j->rq, ci + 1);
            dst[ci + 2] = tl_requant_one(a2, &j->rq, ci + 2);
            dst[ci + 3] = tl_requant_one(a3, &j->rq, ci + 3);
        }
    }
    for (; ci < j->nch; ++ci) {
        for (m = 0; m < mult; ++m) {
            const int o = ci * mult + m;
            int32_t acc = j->bias[o];
            for (ky = 0; ky < nky; ++ky) {
                const int8_t *s = src + ky * srow + ci;
                const int8_t *ww = w + ky * wrow + o;
                for (kx = 0; kx < nkx; ++kx) {
                    acc += (*s - zp) * *ww;
                    s += scol;
                    ww += ws;
                }
            }
            dst[o] = tl_requant_one(acc, &j->rq, o);
        }
    }
}

/* tl_dw_pixel with run-time bounds: one out-of-line copy for the border pixels of every kernel and
   for the kernels without a specialised path. */
static void tl_dw_pixel_any(const tl_dw_job *j, const int8_t *src, const int8_t *w, int8_t *dst, int nky, int nkx,
                            int32_t srow, int32_t scol, int32_t wrow, int mult, int32_t zp)
{
    tl_dw_pixel(j, src, w, dst, nky, nkx, srow, scol, wrow, mult, zp);
}

/* The depthwise kernel for a kh x kw window and depth multiplier `mult`. With `fixed` set (kh, kw and
   mult compile-time constants: the 3x3, 5x5 and 7x7 paths) the interior pixels, whose taps all lie in
   the full map, run an inlined copy of the pixel with constant tap loops that the compiler unrolls;
   border pixels, and every pixel otherwise, run the out-of-line copy. */
TL_INLINE void tl_dw_impl(const tl_dw_job *j, const tl_conv_params *p, const int kh, const int kw, const int mult,
                          const int fixed)
{
    const int dh = p->dil_h, dw = p->dil_w;
    const int32_t zp = p->input_zp;
    const int32_t srow = (int32_t)dh * j->x_rs, scol = (int32_t)dw * j->x_ps;
    const int32_t wrow = (int32_t)kw * j->wstride;
    int oy, ox;
    for (oy = j->oy0; oy < j->oy0 + j->oh; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        int8_t *dst = j->y + (int32_t)(oy - j->oy0) * j->y_rs;
        int ky0, ky1;
        tl_tap_range(iy0, kh, dh, j->full_h, &ky0, &ky1);
        for (ox = j->ox0; ox < j->ox0 + j->ow; ++ox, dst += j->y_ps) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            int kx0, kx1;
            const int8_t *src = j->x, *w = j->w;
            tl_tap_range(ix0, kw, dw, j->full_w, &kx0, &kx1);
            if (ky0 == ky1 || kx0 == kx1) {
                /* Every tap is padding: the bias alone (no tap is read). */
                tl_dw_pixel_any(j, src, w, dst, 0, 0, 0, 0, 0, mult, zp);
                continue;
            }
            src += (int32_t)(iy0 + ky0 * dh - j->y0) * j->x_rs + (int32_t)(ix0 + kx0 * dw - j->x0) * j->x_ps;
            w += (int32_t)(ky0 * kw + kx0) * j->wstride;
            if (fixed && ky1 - ky0 == kh && kx1 - kx0 == kw) {
                tl_dw_pixel(j, src, w, dst, kh, kw, srow, scol, wrow, mult, zp);
            } else {
                tl_dw_pixel_any(j, src, w, dst, ky1 - ky0, kx1 - kx0, srow, scol, wrow, mult, zp);
            }
        }
    }
}

/* A job over NHWC views. */
static void tl_dw_views(tl_dw_job *j, const tl_view *in, const int8_t *weight, const int32_t *bias,
                        const tl_requant *rq, const tl_view *out)
{
    j->x = in->data;
    j->x_rs = in->row_stride;
    j->x_ps = in->c;
    j->y0 = in->y0;
    j->x0 = in->x0;
    j->full_h = in->full_h;
    j->full_w = in->full_w;
    j->y = out->data;
    j->y_rs = out->row_stride;
    j->y_ps = out->c;
    j->oy0 = out->y0;
    j->ox0 = out->x0;
    j->oh = out->h;
    j->ow = out->w;
    j->nch = in->c;
    j->wstride = out->c;
    j->w = weight;
    j->bias = bias;
    j->rq = *rq;
}

/* Depth multiplier 1: the specialised square kernels, or the generic one. */
static void tl_dw_dispatch(const tl_dw_job *j, const tl_conv_params *p)
{
    if (p->kh == 3 && p->kw == 3) {
        tl_dw_impl(j, p, 3, 3, 1, 1);
    } else if (p->kh == 5 && p->kw == 5) {
        tl_dw_impl(j, p, 5, 5, 1, 1);
    } else if (p->kh == 7 && p->kw == 7) {
        tl_dw_impl(j, p, 7, 7, 1, 1);
    } else {
        tl_dw_impl(j, p, p->kh, p->kw, 1, 0);
    }
}

static void tl_depthwise_portable(const tl_view *in, const int8_t *weight, const int32_t *bias,
                                  const tl_conv_params *p, const tl_requant *rq, const tl_view *out)
{
    tl_dw_job j;
    tl_dw_views(&j, in, weight, bias, rq, out);
    tl_dw_dispatch(&j, p);
}

void tl_depthwise_multiplier(const tl_view *in, const int8_t *weight, const int32_t *bias,
                             const tl_conv_params *p, const tl_requant *rq, const tl_view *out)
{
    tl_dw_job j;
    tl_dw_views(&j, in, weight, bias, rq, out);
    tl_dw_impl(&j, p, p->kh, p->kw, out->c / in->c, 0);
}

static void tl_depthwise_inplace_portable(int8_t *io, int in_h, int in_w, int c, int out_h, int out_w,
                                          const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                                          const tl_requant *rq, int8_t *plane)
{
    const int32_t n_in = (int32_t)in_h * in_w;
    tl_dw_job j;
    int32_t i;
    int ch;
    j.x = plane;
    j.x_rs = in_w;
    j.x_ps = 1;
    j.y0 = 0;
    j.x0 = 0;
    j.full_h = in_h;
    j.full_w = in_w;
    j.y_rs = (int32_t)out_w * c;
    j.y_ps = c;
    j.oy0 = 0;
    j.ox0 = 0;
    j.oh = out_h;
    j.ow = out_w;
    j.nch = 1;
    j.wstride = c;
    j.rq.output_zp = rq->output_zp;
    j.rq.act_min = rq->act_min;
    j.rq.act_max = rq->act_max;
    for (ch = 0; ch < c; ++ch) {
        const int8_t *s = io + ch;
        for (i = 0; i < n_in; ++i, s += c) {
            plane[i] = *s;
        }
        j.y = io + ch;
        j.w = weight + ch;
        j.bias = bias + ch;
        j.rq.multiplier = rq->multiplier + ch;
        j.rq.shift = rq->shift + ch;
        tl_dw_dispatch(&j, p);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Fully connected, add                                                                              */
/* ------------------------------------------------------------------------------------------------ */

#if !TL_USE_DSP
static void tl_fully_connected_portable(const int8_t *in, int32_t input_zp, int k_len, const int8_t *weight,
                                        const int32_t *bias, int o_len, const tl_requant *rq, int8_t *out)
{
    int o;
    for (o = 0; o < o_len; ++o) {
        out[o] = tl_requant_one(bias[o] + tl_dot(in, weight + (int32_t)o * k_len, k_len, input_zp), rq, o);
    }
}
#endif

static void tl_add_portable(const tl_view *a, const tl_view *b, const tl_add_params *p, const tl_view *out)
{
    const int32_t n = (int32_t)out->w * out->c;
    int oy;
    int32_t i;
    for (oy = out->y0; oy < out->y0 + out->h; ++oy) {
        const int8_t *pa = a->data + tl_at(a, oy, out->x0);
        const int8_t *pb = b->data + tl_at(b, oy, out->x0);
        int8_t *dst = out->data + tl_at(out, oy, out->x0);
        for (i = 0; i < n; ++i) {
            /* (x - zp) 2^20 fits in int32 for int8 x and zp. */
            const int32_t sa = tl_mbqm((pa[i] - p->input1_zp) * (1 << 20), p->input1_multiplier, p->input1_shift);
            const int32_t sb = tl_mbqm((pb[i] - p->input2_zp) * (1 << 20), p->input2_multiplier, p->input2_shift);
            const int32_t sum = (int32_t)((uint32_t)sa + (uint32_t)sb);
            int32_t v = tl_mbqm(sum, p->output_multiplier, p->output_shift);
            v = (int32_t)((uint32_t)v + (uint32_t)p->output_zp);
            if (v < p->act_min) {
                v = p->act_min;
            }
            if (v > p->act_max) {
                v = p->act_max;
            }
            dst[i] = (int8_t)v;
        }
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Pooling                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/* Channels accumulated at once by the average pools (an int32 block on the stack). */
#define TL_POOL_BLOCK 16

/* sum / count rounded half away from zero, clamped to int8 (pool.rs's rounded_average). */
TL_INLINE int8_t tl_rounded_average(int32_t sum, int32_t count)
{
    int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    if (v < -128) {
        v = -128;
    }
    if (v > 127) {
        v = 127;
    }
    return (int8_t)v;
}

void tl_max_pool(const tl_view *in, const tl_pool_params *p, const tl_view *out)
{
    const int c = in->c, k = p->kernel;
    int oy, ox, y, x, ch;
    for (oy = out->y0; oy < out->y0 + out->h; ++oy) {
        const int iy0 = oy * p->stride - p->pad;
        int ky0, ky1;
        tl_tap_range(iy0, k, 1, in->full_h, &ky0, &ky1);
        for (ox = out->x0; ox < out->x0 + out->w; ++ox) {
            const int ix0 = ox * p->stride - p->pad;
            int8_t *dst = out->data + tl_at(out, oy, ox);
            int kx0, kx1;
            tl_tap_range(ix0, k, 1, in->full_w, &kx0, &kx1);
            for (ch = 0; ch < c; ++ch) {
                dst[ch] = -128;
            }
            for (y = iy0 + ky0; y < iy0 + ky1; ++y) {
                const int8_t *src = in->data + tl_at(in, y, ix0 + kx0);
                for (x = kx0; x < kx1; ++x, src += c) {
                    for (ch = 0; ch < c; ++ch) {
                        if (src[ch] > dst[ch]) {
                            dst[ch] = src[ch];
                        }
                    }
                }
            }
        }
    }
}

void tl_avg_pool(const tl_view *in, const tl_pool_params *p, int32_t zero_point, const tl_view *out)
{
    const int c = in->c, k = p->kernel;
    const int32_t count = (int32_t)k * k;
    int32_t acc[TL_POOL_BLOCK];
    int oy, ox, y, x, c0, j;
    for (oy = out->y0; oy < out->y0 + out->h; ++oy) {
        const int iy0 = oy * p->stride - p->pad;
        int ky0, ky1;
        tl_tap_range(iy0, k, 1, in->full_h, &ky0, &ky1);
        for (ox = out->x0; ox < out->x0 + out->w; ++ox) {
            const int ix0 = ox * p->stride - p->pad;
            int8_t *dst = out->data + tl_at(out, oy, ox);
            int kx0, kx1;
            int32_t start;
            tl_tap_range(ix0, k, 1, in->full_w, &kx0, &kx1);
            /* Padded taps count as the zero point. */
            start = (count - (int32_t)(ky1 - ky0) * (kx1 - kx0)) * zero_point;
            for (c0 = 0; c0 < c; c0 += TL_POOL_BLOCK) {
                const int n = c - c0 < TL_POOL_BLOCK ? c - c0 : TL_POOL_BLOCK;
                for (j = 0; j < n; ++j) {
                    acc[j] = start;
                }
                for (y = iy0 + ky0; y < iy0 + ky1; ++y) {
                    const int8_t *src = in->data + tl_at(in, y, ix0 + kx0) + c0;
                    for (x = kx0; x < kx1; ++x, src += c) {
                        for (j = 0; j < n; ++j) {
                            acc[j] += src[j];
                        }
                    }
                }
                for (j = 0; j < n; ++j) {
                    dst[c0 + j] = tl_rounded_average(acc[j], count);
                }
            }
        }
    }
}

void tl_global_avg_pool(const int8_t *in, int h, int w, int c, int8_t *out)
{
    const int32_t count = (int32_t)h * w;
    int32_t acc[TL_POOL_BLOCK];
    int32_t i;
    int c0, j;
    for (c0 = 0; c0 < c; c0 += TL_POOL_BLOCK) {
        const int n = c - c0 < TL_POOL_BLOCK ? c - c0 : TL_POOL_BLOCK;
        const int8_t *src = in + c0;
        for (j = 0; j < n; ++j) {
            acc[j] = 0;
        }
        for (i = 0; i < count; ++i, src += c) {
            for (j = 0; j < n; ++j) {
                acc[j] += src[j];
            }
        }
        for (j = 0; j < n; ++j) {
            out[c0 + j] = tl_rounded_average(acc[j], count);
        }
    }
}

void tl_clamp(int8_t *x, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (x[i] < lo) {
            x[i] = (int8_t)lo;
        }
        if (x[i] > hi) {
            x[i] = (int8_t)hi;
        }
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* DSP kernels (TL_USE_DSP)                                                                          */
/* ------------------------------------------------------------------------------------------------ */
/*
 * The Arm DSP extension (ARMv7E-M: Cortex-M4, M7; ARMv8-M Mainline with DSP) works on pairs of 16-bit
 * lanes: SXTB16 sign-extends bytes 0 and 2 of a word into the two halfwords (with its ROR #8 form,
 * bytes 1 and 3), SXTAB16 does the same and adds a pair (the input offset -zp in both lanes), SMLAD
 * multiplies the lanes of two words and adds both products to an accumulator. A word of four int8
 * weights w0..w3 thus becomes the pairs [w0, w2] and [w1, w3], and as long as the other operand is
 * widened the same way the products pair up without reordering.
 *
 * - Convolutions (any geometry, groups too): two output positions (raster order over the output
 *   window, across rows) are widened into q15 columns in `scratch` (im2col; padding taps are 0, i.e.
 *   the input zero point), in the reordered group-of-four layout above (logical element k at halfword
 *   (k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1)), so the kernel needs no packing; then every pair of
 *   output channels runs a 2x2 block (two weight rows widened on the fly, two columns, four
 *   accumulators) over K = kh * kw * c_in / groups, and the four results are rescaled together.
 *   1x1 pointwise convolutions skip the gather: the two input pixels are widened straight from the
 *   NHWC map. A lone last position runs a 2x1 block.
 * - Fully connected: two output rows at a time, the input widened on the fly (no scratch).
 * - Depthwise 3x3 / 5x5 / 7x7, dilation 1, strides 1 and 2, depth multiplier 1: channels go by blocks
 *   of four; for each output row, the input rows its window needs are widened into a ring of kh q15
 *   rows per channel in `scratch` (padding columns and rows are 0), then each channel's output row is
 *   computed from its ring rows with the kernel's pairs of taps [w(ky, 2j), w(ky, 2j + 1)] (packed
 *   once per block, on the stack) against pairs of adjacent input columns: SMLAD, and SMLABB / SMLATB
 *   for the odd last tap, two output pixels per step; the accumulators of up to TL_DW_SEG pixels are
 *   then rescaled. The in-place variant is the same loop on one buffer: an input row is copied into
 *   the ring the first time an output row needs it, which (for the geometries tl_dw_ring_inplace_ok
 *   accepts: all the usual ones) is before any output row overwrites it.
 * - The output stage of a DSP kernel: for an output channel with shift in -31..-1 (and, with double
 *   rounding, a non-negative multiplier: every channel the converter writes), TFLite's
 *   MultiplyByQuantizedMultiplier is one 64-bit multiply-accumulate and a shift:
 *     double rounding, e = -shift: (x m + 2^30 + 2^(30 + e) - [x < 0] 2^31) >> (31 + e)
 *     single rounding:             (x m + 2^(30 - shift)) >> (31 - shift)
 *   (the first is SaturatingRoundingDoublingHighMul, floor((x m + 2^30) / 2^31), then
 *   RoundingDivideByPOT folded into the same floor; y < 0 iff x < 0 or y = 0, where the correction
 *   cannot matter), and two results are clamped at once: saturated to 16 bits, packed, the zero point
 *   added with QADD16 and clamped with SSUB16 / SEL (|result| <= 2^30, so nothing wraps). Other
 *   channels take the portable output stage.
 * Built without the DSP extension (TL_USE_DSP 1 on the host), the instructions are plain C functions
 * below, so the host tests run these kernels too.
 */
#if TL_USE_DSP

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TL_DSP_NATIVE 1
#include <arm_acle.h>
#else
#define TL_DSP_NATIVE 0
#endif

/* Channels per depthwise block and output pixels per rescaled segment. */
#define TL_DW_BLOCK 4
#define TL_DW_SEG 32
/* Words of packed taps per kernel row (7x7: three pairs and the last tap). */
#define TL_DW_ROW_WORDS 4

#if TL_DSP_NATIVE
/* Little-endian words and halfwords at any address (unaligned LDR / STR are allowed on ARMv7-M). */
TL_INLINE uint32_t tl_ld32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

TL_INLINE void tl_st32(int8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

TL_INLINE int32_t tl_ld16(const int8_t *p)
{
    int16_t v;
    memcpy(&v, p, 2);
    return v;
}

TL_INLINE void tl_st16(int8_t *p, int32_t v)
{
    const int16_t h = (int16_t)v;
    memcpy(p, &h, 2);
}

TL_INLINE uint32_t tl_sxtb16(uint32_t x)
{
    return (uint32_t)__sxtb16((int32_t)x);
}

/* SXTB16 with its free ROR #8 (gcc does not fold the rotate into the instruction by itself). */
TL_INLINE uint32_t tl_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

TL_INLINE uint32_t tl_sxtab16(uint32_t a, uint32_t x)
{
    return (uint32_t)__sxtab16((int32_t)a, (int32_t)x);
}

TL_INLINE uint32_t tl_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

TL_INLINE int32_t tl_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    return __smlad((int32_t)x, (int32_t)y, acc);
}

TL_INLINE int32_t tl_smlabb(uint32_t x, uint32_t y, int32_t acc)
{
    return __smlabb((int32_t)x, (int32_t)y, acc);
}

TL_INLINE int32_t tl_smlatb(uint32_t x, uint32_t y, int32_t acc)
{
    return __smlatb((int32_t)x, (int32_t)y, acc);
}

/* c + the high word of a * b (truncated: SMMLA) or rounded (+ 2^31: SMMLAR); no ACLE intrinsics. */
TL_INLINE int32_t tl_smmla(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

TL_INLINE int32_t tl_smmlar(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

/* [lo.lo, hi.lo] */
TL_INLINE uint32_t tl_pkhbt(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

/* [lo.hi, hi.hi] */
TL_INLINE uint32_t tl_pkhtb(uint32_t hi, uint32_t lo)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
#else
/* The same operations in plain C, little-endian whatever the host. */
TL_INLINE uint32_t tl_ld32(const int8_t *p)
{
    return (uint32_t)(uint8_t)p[0] | ((uint32_t)(uint8_t)p[1] << 8) | ((uint32_t)(uint8_t)p[2] << 16) |
           ((uint32_t)(uint8_t)p[3] << 24);
}

TL_INLINE void tl_st32(int8_t *p, uint32_t v)
{
    p[0] = (int8_t)(uint8_t)(v & 0xffu);
    p[1] = (int8_t)(uint8_t)((v >> 8) & 0xffu);
    p[2] = (int8_t)(uint8_t)((v >> 16) & 0xffu);
    p[3] = (int8_t)(uint8_t)(v >> 24);
}

TL_INLINE int32_t tl_ld16(const int8_t *p)
{
    return (int16_t)(uint16_t)((uint32_t)(uint8_t)p[0] | ((uint32_t)(uint8_t)p[1] << 8));
}

TL_INLINE void tl_st16(int8_t *p, int32_t v)
{
    p[0] = (int8_t)(uint8_t)((uint32_t)v & 0xffu);
    p[1] = (int8_t)(uint8_t)(((uint32_t)v >> 8) & 0xffu);
}

/* The halfwords of a word, sign-extended; a word from two halfwords (each taken mod 2^16). */
TL_INLINE int32_t tl_lo(uint32_t x)
{
    return (int16_t)(uint16_t)(x & 0xffffu);
}

TL_INLINE int32_t tl_hi(uint32_t x)
{
    return (int16_t)(uint16_t)(x >> 16);
}

TL_INLINE uint32_t tl_pair(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16);
}

TL_INLINE uint32_t tl_sxtb16(uint32_t x)
{
    return tl_pair((int8_t)(uint8_t)(x & 0xffu), (int8_t)(uint8_t)((x >> 16) & 0xffu));
}

TL_INLINE uint32_t tl_sxtb16_ror8(uint32_t x)
{
    return tl_sxtb16((x >> 8) | (x << 24));
}

TL_INLINE uint32_t tl_sxtab16(uint32_t a, uint32_t x)
{
    const uint32_t e = tl_sxtb16(x);
    return tl_pair(tl_lo(a) + tl_lo(e), tl_hi(a) + tl_hi(e));
}

TL_INLINE uint32_t tl_sxtab16_ror8(uint32_t a, uint32_t x)
{
    return tl_sxtab16(a, (x >> 8) | (x << 24));
}

TL_INLINE int32_t tl_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tl_lo(x) * tl_lo(y)) + (uint32_t)(tl_hi(x) * tl_hi(y)));
}

TL_INLINE int32_t tl_smlabb(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tl_lo(x) * tl_lo(y)));
}

TL_INLINE int32_t tl_smlatb(uint32_t x, uint32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tl_hi(x) * tl_lo(y)));
}

TL_INLINE uint32_t tl_pkhbt(uint32_t lo, uint32_t hi)
{
    return (lo & 0xffffu) | (hi << 16);
}

TL_INLINE int32_t tl_smmla(int32_t a, int32_t b, int32_t c)
{
    return (int32_t)((uint32_t)c + (uint32_t)(int32_t)(((int64_t)a * b) >> 32));
}

TL_INLINE int32_t tl_smmlar(int32_t a, int32_t b, int32_t c)
{
    return (int32_t)((uint32_t)c + (uint32_t)(int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32));
}

TL_INLINE uint32_t tl_pkhtb(uint32_t hi, uint32_t lo)
{
    return (hi & 0xffff0000u) | (lo >> 16);
}
#endif

/* A value in both halfwords. */
TL_INLINE uint32_t tl_dup16(int32_t v)
{
    return ((uint32_t)v & 0xffffu) * 0x10001u;
}

/* The fast output stage of one channel (see above), the output zero point folded in: e = -shift, and
     double rounding: (SMMLAR(2 x, m, half + zp 2^e) - ([x < 0] & corr)) >> e,
                      half = 2^(e - 1) (0 for e = 0), corr = [e >= 1]
     single rounding: SMMLA(4 x, m, 2^e + zp 2^(e + 1)) >> (e + 1)
   for accumulators |x| < 2^29. SMMULR(2 x, m) = floor((x m + 2^30) / 2^31) is gemmlowp's
   SaturatingRoundingDoublingHighMul (m >= 0 rules out its one saturating case); RoundingDivideByPOT
   of it is (y + 2^(e - 1) - [y < 0]) >> e, where y < 0 iff x < 0 or y = 0 (then the correction
   cannot matter); a multiple of 2^e added before the shift is the zero point added after it.
   Single rounding: floor((x m + 2^(30 + e)) / 2^(31 + e)) = floor((floor(4 x m / 2^32) + 2^e) /
   2^(e + 1)). The bounds keep every sum inside int32: channels whose shift is positive (a left
   shift) or below -23 (-21 single), whose multiplier is negative (double rounding) or whose
   accumulators may reach 2^29 (|bias| + K * 255 * 128, K the products per output) take the portable
   stage. */
typedef struct {
    int32_t m;
    int32_t add;
    int32_t sh; /* < 0: the portable stage */
    uint32_t corr;
} tl_frq;

/* Whether channel (m, s) whose accumulators are the bias plus K products takes the fast stage. */
TL_INLINE int tl_frq_ok(int32_t m, int s, int32_t bias, int32_t K)
{
    const uint32_t ab = bias < 0 ? 0u - (uint32_t)bias : (uint32_t)bias;
    if (s > 0 || s < (TL_SINGLE_ROUNDING ? -21 : -23) || K > 16384 || ab >= (1u << 29)) {
        return 0;
    }
#if !TL_SINGLE_ROUNDING
    if (m < 0) {
        return 0;
    }
#else
    (void)m;
#endif
    return (uint32_t)K * 32640u < (1u << 29) - ab;
}

/* The constants of a channel tl_frq_ok accepts, output zero point zp. */
TL_INLINE void tl_frq_set(int32_t m, int s, int32_t zp, tl_frq *f)
{
    const int e = -s;
    f->m = m;
#if TL_SINGLE_ROUNDING
    f->add = (int32_t)((1u << e) + ((uint32_t)zp << (e + 1)));
    f->sh = e + 1;
    f->corr = 0u;
#else
    f->add = (int32_t)((e > 0 ? 1u << (e - 1) : 0u) + ((uint32_t)zp << e));
    f->sh = e;
    f->corr = e > 0 ? 1u : 0u;
#endif
}

/* The constants of output channel o (f->sh < 0: the portable stage); returns whether fast. */
TL_INLINE int tl_frq_make(const tl_requant *rq, int o, int32_t bias, int32_t K, tl_frq *f)
{
    const int32_t m = rq->multiplier[o];
    const int s = rq->shift[o];
    if (!tl_frq_ok(m, s, bias, K)) {
        f->m = 0;
        f->add = 0;
        f->sh = -1;
        f->corr = 0u;
        return 0;
    }
    tl_frq_set(m, s, rq->output_zp, f);
    return 1;
}

/* MultiplyByQuantizedMultiplier(x) plus the zero point, for a fast channel: |result| < 2^30 + 2^7. */
TL_INLINE int32_t tl_frq_apply(int32_t x, const tl_frq *f)
{
#if TL_SINGLE_ROUNDING
    return tl_smmla((int32_t)((uint32_t)x << 2), f->m, f->add) >> f->sh;
#else
    return (tl_smmlar((int32_t)((uint32_t)x << 1), f->m, f->add) - (int32_t)(((uint32_t)x >> 31) & f->corr)) >> f->sh;
#endif
}

/* The clamp range, as single values and as pairs of halfwords. */
typedef struct {
    int32_t lo, hi;
    uint32_t lo2, hi2;
} tl_outp;

static void tl_outp_make(const tl_requant *rq, tl_outp *o)
{
    o->lo = rq->act_min;
    o->hi = rq->act_max;
    o->lo2 = tl_dup16(rq->act_min);
    o->hi2 = tl_dup16(rq->act_max);
}

/* One value with the zero point added: clamped. */
TL_INLINE int8_t tl_clamp1(int32_t v, const tl_outp *o)
{
    if (v < o->lo) {
        v = o->lo;
    }
    if (v > o->hi) {
        v = o->hi;
    }
    return (int8_t)v;
}

/* Two values with the zero point added (|v| < 2^31 - 2^15): the bytes of both, clamped, in the low
   bytes of the two halfwords. The 16-bit saturation cannot change a result: the clamp range lies
   inside int8. */
TL_INLINE uint32_t tl_clamp2(int32_t v0, int32_t v1, const tl_outp *o)
{
#if TL_DSP_NATIVE
    uint32_t v = tl_pkhbt((uint32_t)__ssat(v0, 16), (uint32_t)__ssat(v1, 16));
    (void)__ssub16((int32_t)v, (int32_t)o->lo2);
    v = __sel(v, o->lo2);
    (void)__ssub16((int32_t)o->hi2, (int32_t)v);
    v = __sel(v, o->hi2);
    return v;
#else
    return tl_pair(tl_clamp1(v0, o), tl_clamp1(v1, o));
#endif
}

/* A value with the zero point added, saturated to int8: the whole clamp when the range is all of
   int8 (no activation, or ReLU6 calibrated to [0, 6]). */
TL_INLINE int8_t tl_sat8(int32_t v)
{
#if TL_DSP_NATIVE
    return (int8_t)__ssat(v, 8);
#else
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
#endif
}

/* The byte in the low (k = 0) or high (k = 1) halfword of tl_clamp2's result. */
#define TL_BYTE0(v) ((int8_t)(uint8_t)((v) & 0xffu))
#define TL_BYTE1(v) ((int8_t)(uint8_t)(((v) >> 16) & 0xffu))

/* --- q15 columns -------------------------------------------------------------------------------- */

/* The two columns of a pair of positions are interleaved by groups of four elements: group g of
   column j is the 8 bytes at 16 g + 8 j, and logical element k of a group sits in the halfword
   SXTB16 widens its weight into: (k & 1) << 1 | (k >> 1) & 1, i.e. [c0, c2] then [c1, c3]. */
TL_INLINE int32_t tl_col_at(int32_t k)
{
    return ((k >> 2) << 4) | ((k & 1) << 2) | ((k & 2) << 0);
}

/* Elements k .. k + n - 1 of the column at `col` (the pair's base + 8 j) = the n bytes at src minus
   the zero point. */
static void tl_col_put(int8_t *col, int32_t k, const int8_t *src, int32_t n, int32_t zp, uint32_t off2)
{
    const int32_t end = k + n;
    for (; k < end && (k & 3) != 0; ++k, ++src) {
        tl_st16(col + tl_col_at(k), *src - zp);
    }
    for (; k + 4 <= end; k += 4, src += 4) {
        const uint32_t x = tl_ld32(src);
        tl_st32(col + 4 * k, tl_sxtab16(off2, x));
        tl_st32(col + 4 * k + 4, tl_sxtab16_ror8(off2, x));
    }
    for (; k < end; ++k, ++src) {
        tl_st16(col + tl_col_at(k), *src - zp);
    }
}

/* Elements k .. k + n - 1 of the column at `col` = 0 (padding taps). */
static void tl_col_zero(int8_t *col, int32_t k, int32_t n)
{
    const int32_t end = k + n;
    for (; k < end && (k & 3) != 0; ++k) {
        tl_st16(col + tl_col_at(k), 0);
    }
    for (; k + 4 <= end; k += 4) {
        tl_st32(col + 4 * k, 0u);
        tl_st32(col + 4 * k + 4, 0u);
    }
    for (; k < end; ++k) {
        tl_st16(col + tl_col_at(k), 0);
    }
}

/* The column of output position (oy, ox), group g: kh * kw * cg elements in OHWI weight order. */
static void tl_im2col(int8_t *col, const tl_view *in, const tl_conv_params *p, int oy, int ox, int g, int cg,
                      uint32_t off2)
{
    const int kh = p->kh, kw = p->kw, dh = p->dil_h, dw = p->dil_w;
    const int32_t zp = p->input_zp;
    const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t row_len = (int32_t)kw * cg;
    int ky0, ky1, kx0, kx1, ky, kx;
    int32_t k = 0;
    tl_tap_range(iy0, kh, dh, in->full_h, &ky0, &ky1);
    tl_tap_range(ix0, kw, dw, in->full_w, &kx0, &kx1);
    for (ky = 0; ky < kh; ++ky, k += row_len) {
        const int iy = iy0 + ky * dh;
        if (ky < ky0 || ky >= ky1 || kx0 == kx1) {
            tl_col_zero(col, k, row_len);
        } else if (p->groups == 1 && dw == 1) {
            /* The valid taps of the row are one run of the input row. */
            tl_col_zero(col, k, (int32_t)kx0 * cg);
            tl_col_put(col, k + (int32_t)kx0 * cg, in->data + tl_at(in, iy, ix0 + kx0), (int32_t)(kx1 - kx0) * cg, zp,
                       off2);
            tl_col_zero(col, k + (int32_t)kx1 * cg, (int32_t)(kw - kx1) * cg);
        } else {
            for (kx = 0; kx < kw; ++kx) {
                if (kx < kx0 || kx >= kx1) {
                    tl_col_zero(col, k + (int32_t)kx * cg, cg);
                } else {
                    tl_col_put(col, k + (int32_t)kx * cg, in->data + tl_at(in, iy, ix0 + kx * dw) + g * cg, cg, zp,
                               off2);
                }
            }
        }
    }
}

/* The output stage of one value of channel o (fast when tl_frq_make accepted it). */
TL_INLINE int8_t tl_rq1(int32_t acc, const tl_frq *f, const tl_requant *rq, const tl_outp *op, int o)
{
    return f->sh >= 0 ? tl_clamp1(tl_frq_apply(acc, f), op) : tl_requant_one(acc, rq, o);
}

/* The portable output stage, out of line (the fast loops keep their registers). */
TL_NOINLINE int8_t tl_rq_slow(int32_t acc, const tl_requant *rq, int o)
{
    return tl_requant_one(acc, rq, o);
}

/* Output channels per pass of a convolution: their output-stage constants are derived once per call
   and kept, with the accumulators of a pair of positions, on the stack (16 * 16 + 2 * 16 * 4 bytes);
   the columns of a pair are widened once per pass (about 0.1 instructions per MAC). */
#define TL_CONV_CHUNK 16

/* The output stage of n channels at two positions: acc[2 i + j] is channel o + i at position j,
   written to da[i] (j = 0) and db[i] (j = 1); fr[i] are the channels' constants (sh < 0: the portable
   stage). */
TL_NOINLINE void tl_rq_pairs(const int32_t *acc, const tl_frq *fr, int n, const tl_requant *rq, const tl_outp *op,
                             int o, int8_t *da, int8_t *db)
{
    /* Locals: the byte stores below may alias anything, so nothing is re-read from memory. */
    const tl_outp q = *op;
    int i;
    if (q.lo == -128 && q.hi == 127) {
        for (i = 0; i < n; ++i, acc += 2) {
            const tl_frq f = fr[i];
            if (f.sh >= 0) {
                const int32_t v0 = tl_frq_apply(acc[0], &f), v1 = tl_frq_apply(acc[1], &f);
                da[i] = tl_sat8(v0);
                db[i] = tl_sat8(v1);
            } else {
                da[i] = tl_rq_slow(acc[0], rq, o + i);
                db[i] = tl_rq_slow(acc[1], rq, o + i);
            }
        }
        return;
    }
    for (i = 0; i < n; ++i, acc += 2) {
        const tl_frq f = fr[i];
        if (f.sh >= 0) {
            const uint32_t v = tl_clamp2(tl_frq_apply(acc[0], &f), tl_frq_apply(acc[1], &f), &q);
            da[i] = TL_BYTE0(v);
            db[i] = TL_BYTE1(v);
        } else {
            da[i] = tl_rq_slow(acc[0], rq, o + i);
            db[i] = tl_rq_slow(acc[1], rq, o + i);
        }
    }
}

/* The output stage of n values of channel ch (constants f): acc[i] written to dst[i * stride]. */
TL_NOINLINE void tl_rq_run(const int32_t *acc, int n, const tl_frq *fp, const tl_requant *rq, const tl_outp *op,
                           int ch, int8_t *dst, int stride)
{
    const tl_frq f = *fp;
    const tl_outp q = *op;
    int i = 0;
    if (f.sh >= 0) {
        if (q.lo == -128 && q.hi == 127) {
            for (; i < n; ++i, dst += stride) {
                *dst = tl_sat8(tl_frq_apply(acc[i], &f));
            }
        } else {
            for (; i + 2 <= n; i += 2, dst += 2 * stride) {
                const uint32_t v = tl_clamp2(tl_frq_apply(acc[i], &f), tl_frq_apply(acc[i + 1], &f), &q);
                dst[0] = TL_BYTE0(v);
                dst[stride] = TL_BYTE1(v);
            }
            if (i < n) {
                *dst = tl_clamp1(tl_frq_apply(acc[i], &f), &q);
            }
        }
    } else {
        for (; i < n; ++i, dst += stride) {
            *dst = tl_rq_slow(acc[i], rq, ch);
        }
    }
}

/* The last K & 3 (1..3) weights of a row as a word, zero above them: the columns' last group is
   zero-padded, so the partial group is one more group of the block. */
TL_INLINE uint32_t tl_ld_tail(const int8_t *w, int32_t r)
{
    uint32_t x = (uint8_t)w[0];
    if (r > 1) {
        x |= (uint32_t)(uint8_t)w[1] << 8;
    }
    if (r > 2) {
        x |= (uint32_t)(uint8_t)w[2] << 16;
    }
    return x;
}

/* One group of four elements of the 2x2 block: weight words x0, x1 (channels o, o + 1), the pair's
   columns at pc. */
TL_INLINE void tl_grp22(uint32_t x0, uint32_t x1, const int8_t *pc, int32_t *s00, int32_t *s01, int32_t *s10,
                        int32_t *s11)
{
    uint32_t a = tl_ld32(pc), b = tl_ld32(pc + 8);
    uint32_t t = tl_sxtb16(x0);
    *s00 = tl_smlad(t, a, *s00);
    *s01 = tl_smlad(t, b, *s01);
    t = tl_sxtb16(x1);
    *s10 = tl_smlad(t, a, *s10);
    *s11 = tl_smlad(t, b, *s11);
    a = tl_ld32(pc + 4);
    b = tl_ld32(pc + 12);
    t = tl_sxtb16_ror8(x0);
    *s00 = tl_smlad(t, a, *s00);
    *s01 = tl_smlad(t, b, *s01);
    t = tl_sxtb16_ror8(x1);
    *s10 = tl_smlad(t, a, *s10);
    *s11 = tl_smlad(t, b, *s11);
}

/* Accumulators of output channels [o0, o1) at the two positions whose interleaved columns are at
   `col` (weight row o at weight + o * K): acc[2 (o - o0) + j] for position j. */
TL_NOINLINE void tl_mac_2pos(const int8_t *col, const int8_t *weight, int32_t K, const int32_t *bias, int o0, int o1,
                             int32_t *acc)
{
    const int32_t k4 = K & ~3;
    int32_t *s = acc;
    int o = o0;
    for (; o + 2 <= o1; o += 2, s += 4) {
        const int8_t *w0 = weight + (int32_t)o * K;
        const int8_t *w1 = w0 + K;
        const int8_t *pc = col;
        const int8_t *wend = w0 + k4;
        int32_t s00 = bias[o], s01 = bias[o], s10 = bias[o + 1], s11 = bias[o + 1];
        while (w0 != wend) {
            tl_grp22(tl_ld32(w0), tl_ld32(w1), pc, &s00, &s01, &s10, &s11);
            w0 += 4;
            w1 += 4;
            pc += 16;
        }
        if (K & 3) {
            tl_grp22(tl_ld_tail(w0, K & 3), tl_ld_tail(w1, K & 3), pc, &s00, &s01, &s10, &s11);
        }
        s[0] = s00;
        s[1] = s01;
        s[2] = s10;
        s[3] = s11;
    }
    if (o < o1) {
        const int8_t *w0 = weight + (int32_t)o * K;
        const int8_t *pc = col;
        int32_t s0 = bias[o], s1 = bias[o];
        int32_t k;
        for (k = 0; k < k4; k += 4, pc += 16) {
            const uint32_t x0 = tl_ld32(w0 + k);
            const uint32_t wl = tl_sxtb16(x0), wh = tl_sxtb16_ror8(x0);
            s0 = tl_smlad(wl, tl_ld32(pc), s0);
            s1 = tl_smlad(wl, tl_ld32(pc + 8), s1);
            s0 = tl_smlad(wh, tl_ld32(pc + 4), s0);
            s1 = tl_smlad(wh, tl_ld32(pc + 12), s1);
        }
        if (K & 3) {
            const uint32_t x0 = tl_ld_tail(w0 + k, K & 3);
            const uint32_t wl = tl_sxtb16(x0), wh = tl_sxtb16_ror8(x0);
            s0 = tl_smlad(wl, tl_ld32(pc), s0);
            s1 = tl_smlad(wl, tl_ld32(pc + 8), s1);
            s0 = tl_smlad(wh, tl_ld32(pc + 4), s0);
            s1 = tl_smlad(wh, tl_ld32(pc + 12), s1);
        }
        s[0] = s0;
        s[1] = s1;
    }
}

/* tl_mac_2pos for K = 8 (the 8-channel 1x1 layers of narrow networks): both columns stay in
   registers, and every output channel costs two weight loads, four SXTB16 and eight SMLAD. */
TL_NOINLINE void tl_mac_2pos_k8(const int8_t *col, const int8_t *weight, const int32_t *bias, int o0, int o1,
                                int32_t *acc)
{
    const uint32_t a0 = tl_ld32(col), a1 = tl_ld32(col + 4), b0 = tl_ld32(col + 8), b1 = tl_ld32(col + 12);
    const uint32_t a2 = tl_ld32(col + 16), a3 = tl_ld32(col + 20), b2 = tl_ld32(col + 24), b3 = tl_ld32(col + 28);
    const int8_t *w = weight + (int32_t)o0 * 8;
    const int32_t *bp = bias + o0;
    int n = o1 - o0;
    for (; n > 0; --n, w += 8, ++bp, acc += 2) {
        const uint32_t x0 = tl_ld32(w), x1 = tl_ld32(w + 4);
        int32_t sa = *bp, sb = *bp;
        uint32_t t = tl_sxtb16(x0);
        sa = tl_smlad(t, a0, sa);
        sb = tl_smlad(t, b0, sb);
        t = tl_sxtb16_ror8(x0);
        sa = tl_smlad(t, a1, sa);
        sb = tl_smlad(t, b1, sb);
        t = tl_sxtb16(x1);
        sa = tl_smlad(t, a2, sa);
        sb = tl_smlad(t, b2, sb);
        t = tl_sxtb16_ror8(x1);
        sa = tl_smlad(t, a3, sa);
        sb = tl_smlad(t, b3, sb);
        acc[0] = sa;
        acc[1] = sb;
    }
}

/* Output channels [o0, o1) of one position (the first column of the pair at `col`), written to
   da[o]. */
static void tl_block_1pos(const int8_t *col, const int8_t *weight, int32_t K, const int32_t *bias,
                          const tl_requant *rq, const tl_outp *op, int o0, int o1, int8_t *da)
{
    const int32_t k4 = K & ~3;
    int o;
    for (o = o0; o < o1; ++o) {
        const int8_t *w0 = weight + (int32_t)o * K;
        const int8_t *pc = col;
        int32_t s0 = bias[o];
        int32_t k;
        tl_frq f;
        for (k = 0; k < k4; k += 4, pc += 16) {
            const uint32_t x0 = tl_ld32(w0 + k);
            s0 = tl_smlad(tl_sxtb16(x0), tl_ld32(pc), s0);
            s0 = tl_smlad(tl_sxtb16_ror8(x0), tl_ld32(pc + 4), s0);
        }
        if (K & 3) {
            const uint32_t x0 = tl_ld_tail(w0 + k, K & 3);
            s0 = tl_smlad(tl_sxtb16(x0), tl_ld32(pc), s0);
            s0 = tl_smlad(tl_sxtb16_ror8(x0), tl_ld32(pc + 4), s0);
        }
        tl_frq_make(rq, o, bias[o], K, &f);
        da[o] = tl_rq1(s0, &f, rq, op, o);
    }
}

/* The columns of position (oy, ox), group g, at `col`. */
TL_INLINE void tl_columns(int8_t *col, const tl_view *in, const tl_conv_params *p, int oy, int ox, int g, int cg,
                          int32_t K, int pointwise, uint32_t off2)
{
    if (pointwise) {
        tl_col_put(col, 0, in->data + tl_at(in, oy, ox), cg, p->input_zp, off2);
    } else {
        tl_im2col(col, in, p, oy, ox, g, cg, off2);
    }
    if (K & 3) {
        /* The padding of the last group, which the blocks multiply by zero weights. */
        tl_col_zero(col, K, 4 - (K & 3));
    }
}

/* Convolution through q15 columns of two positions at a time (pointwise: 1x1, stride 1, no padding,
   one group, the columns read straight from the input pixels). For each group and pass of up to
   TL_CONV_CHUNK output channels: the channels' output-stage constants, then every pair of output
   positions (raster order over the output window): its two columns, the 2x2 blocks, the output
   stage. */
static void tl_conv_dsp(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                        const tl_requant *rq, const tl_view *out, int8_t *scratch, int pointwise)
{
    const int groups = p->groups, cg = in->c / groups, og = p->c_out / groups;
    const int32_t K = (int32_t)p->kh * p->kw * cg;
    const uint32_t off2 = tl_dup16(-p->input_zp);
    const int32_t n = (int32_t)out->h * out->w;
    int8_t *const ca = scratch, *const cb = scratch + 8;
    tl_frq fr[TL_CONV_CHUNK];
    int32_t acc[2 * TL_CONV_CHUNK];
    tl_outp op;
    int g, c0, o;
    tl_outp_make(rq, &op);
    for (g = 0; g < groups; ++g) {
        for (c0 = g * og; c0 < (g + 1) * og; c0 += TL_CONV_CHUNK) {
            const int c1 = (g + 1) * og - c0 < TL_CONV_CHUNK ? (g + 1) * og : c0 + TL_CONV_CHUNK;
            int oy = out->y0, ox = out->x0;
            int32_t i;
            for (o = c0; o < c1; ++o) {
                tl_frq_make(rq, o, bias[o], K, &fr[o - c0]);
            }
            for (i = 0; i < n; i += 2) {
                int oy1 = oy, ox1 = ox + 1;
                int8_t *da = out->data + tl_at(out, oy, ox);
                if (ox1 == out->x0 + out->w) {
                    ox1 = out->x0;
                    ++oy1;
                }
                tl_columns(ca, in, p, oy, ox, g, cg, K, pointwise, off2);
                if (i + 1 < n) {
                    tl_columns(cb, in, p, oy1, ox1, g, cg, K, pointwise, off2);
                    if (K == 8) {
                        tl_mac_2pos_k8(ca, weight, bias, c0, c1, acc);
                    } else {
                        tl_mac_2pos(ca, weight, K, bias, c0, c1, acc);
                    }
                    tl_rq_pairs(acc, fr, c1 - c0, rq, &op, c0, da + c0, out->data + tl_at(out, oy1, ox1) + c0);
                } else {
                    tl_block_1pos(ca, weight, K, bias, rq, &op, c0, c1, da);
                }
                /* The next pair starts two positions on. */
                oy = oy1;
                ox = ox1 + 1;
                if (ox == out->x0 + out->w) {
                    ox = out->x0;
                    ++oy;
                }
            }
        }
    }
}

/* --- fully connected ---------------------------------------------------------------------------- */

static void tl_fully_connected_dsp(const int8_t *in, int32_t input_zp, int k_len, const int8_t *weight,
                                   const int32_t *bias, int o_len, const tl_requant *rq, int8_t *out)
{
    const uint32_t off2 = tl_dup16(-input_zp);
    const int k4 = k_len & ~3;
    tl_outp op;
    int o = 0, k;
    tl_outp_make(rq, &op);
    for (; o + 2 <= o_len; o += 2) {
        const int8_t *w0 = weight + (int32_t)o * k_len;
        const int8_t *w1 = w0 + k_len;
        const int8_t *x = in;
        const int8_t *xend = in + k4;
        int32_t s0 = bias[o], s1 = bias[o + 1];
        tl_frq f0, f1;
        while (x < xend) {
            const uint32_t xv = tl_ld32(x), a = tl_ld32(w0), b = tl_ld32(w1);
            const uint32_t xl = tl_sxtab16(off2, xv), xh = tl_sxtab16_ror8(off2, xv);
            s0 = tl_smlad(xl, tl_sxtb16(a), s0);
            s1 = tl_smlad(xl, tl_sxtb16(b), s1);
            s0 = tl_smlad(xh, tl_sxtb16_ror8(a), s0);
            s1 = tl_smlad(xh, tl_sxtb16_ror8(b), s1);
            x += 4;
            w0 += 4;
            w1 += 4;
        }
        for (k = k4; k < k_len; ++k, ++w0, ++w1) {
            const int32_t xv = in[k] - input_zp;
            s0 += xv * *w0;
            s1 += xv * *w1;
        }
        if (tl_frq_make(rq, o, bias[o], k_len, &f0) & tl_frq_make(rq, o + 1, bias[o + 1], k_len, &f1)) {
            const uint32_t v = tl_clamp2(tl_frq_apply(s0, &f0), tl_frq_apply(s1, &f1), &op);
            out[o] = TL_BYTE0(v);
            out[o + 1] = TL_BYTE1(v);
        } else {
            out[o] = tl_requant_one(s0, rq, o);
            out[o + 1] = tl_requant_one(s1, rq, o + 1);
        }
    }
    if (o < o_len) {
        const int8_t *w0 = weight + (int32_t)o * k_len;
        int32_t s0 = bias[o];
        tl_frq f;
        for (k = 0; k < k4; k += 4) {
            const uint32_t xv = tl_ld32(in + k), a = tl_ld32(w0 + k);
            s0 = tl_smlad(tl_sxtab16(off2, xv), tl_sxtb16(a), s0);
            s0 = tl_smlad(tl_sxtab16_ror8(off2, xv), tl_sxtb16_ror8(a), s0);
        }
        for (; k < k_len; ++k) {
            s0 += (in[k] - input_zp) * w0[k];
        }
        tl_frq_make(rq, o, bias[o], k_len, &f);
        out[o] = tl_rq1(s0, &f, rq, &op, o);
    }
}

/* --- depthwise ---------------------------------------------------------------------------------- */

/* Whether the DSP depthwise kernel takes this geometry (depth multiplier 1). */
TL_INLINE int tl_dw_dsp_ok(const tl_conv_params *p)
{
    return p->kh == p->kw && (p->kh == 3 || p->kh == 5 || p->kh == 7) && p->dil_h == 1 && p->dil_w == 1 &&
           (p->stride_h == 1 || p->stride_h == 2) && (p->stride_w == 1 || p->stride_w == 2);
}

/* Halfwords per ring row: the input columns of an output row of out_w pixels, one spare column
   (read, never used, by the last pair) and rounded up to even. */
TL_INLINE int32_t tl_dw_ring_cols(const tl_conv_params *p, int out_w)
{
    return ((int32_t)(out_w - 1) * p->stride_w + p->kw + 2) & ~(int32_t)1;
}

/* In place: true when every input row an output row reads is first read (copied into the ring) no
   later than the output row whose write first reaches it: row r is first read by output row
   f = ceil((r + pad - kh + 1) / stride) and first overwritten by output row floor(r * in_w / out_w). */
static int tl_dw_ring_inplace_ok(const tl_conv_params *p, int in_h, int in_w, int out_h, int out_w)
{
    int r;
    if (out_w <= in_w && p->pad_h <= p->kh - 1) {
        /* Then f <= r <= r * in_w / out_w for every row: the usual case, without the loop. */
        return 1;
    }
    for (r = 0; r < in_h; ++r) {
        int32_t f = r + p->pad_h - p->kh + 1;
        f = f <= 0 ? 0 : (f + p->stride_h - 1) / p->stride_h;
        if (f >= out_h || f * p->stride_h - p->pad_h > r) {
            continue; /* never read */
        }
        if (f > (int32_t)r * in_w / out_w) {
            return 0;
        }
    }
    return 1;
}

/* r mod k in 0..k-1 for any r. */
TL_INLINE int tl_mod(int r, int k)
{
    const int m = r % k;
    return m < 0 ? m + k : m;
}

/* Ring row of slot s, block channel b: `cols` halfwords at ring + ((s * bs + b) * cols) * 2. */
TL_INLINE int8_t *tl_ring_row(int8_t *ring, int32_t cols, int bs, int s, int b)
{
    return ring + ((int32_t)(s * bs + b) * cols) * 2;
}

/* Copies input row r (full-map coordinates) of channels cb .. cb + nb - 1 into ring slot s: column q
   holds input column ixs + q minus the zero point, 0 outside the map; a row outside the map is 0. */
static void tl_ring_fill(int8_t *ring, int32_t cols, int bs, int s, const tl_dw_job *j, int r, int cb, int nb,
                         int ixs, int32_t zp, uint32_t off2)
{
    int32_t qa = -ixs, qb = (int32_t)j->full_w - ixs, q;
    int b;
    if (qa < 0) {
        qa = 0;
    }
    if (qa > cols) {
        qa = cols;
    }
    if (qb > cols) {
        qb = cols;
    }
    if (qb < qa || r < 0 || r >= j->full_h) {
        qb = qa;
    }
    for (b = 0; b < nb; ++b) {
        int8_t *row = tl_ring_row(ring, cols, bs, s, b);
        for (q = 0; q < qa; ++q) {
            tl_st16(row + 2 * q, 0);
        }
        for (q = qb; q < cols; ++q) {
            tl_st16(row + 2 * q, 0);
        }
    }
    if (qb > qa) {
        const int ps = j->x_ps;
        const int8_t *src = j->x + (int32_t)(r - j->y0) * j->x_rs + (int32_t)(ixs + qa - j->x0) * ps + cb;
        q = qa;
        if (nb == 4) {
            int8_t *r0 = tl_ring_row(ring, cols, bs, s, 0), *r1 = tl_ring_row(ring, cols, bs, s, 1);
            int8_t *r2 = tl_ring_row(ring, cols, bs, s, 2), *r3 = tl_ring_row(ring, cols, bs, s, 3);
            for (; q + 2 <= qb; q += 2, src += 2 * ps) {
                const uint32_t x0 = tl_ld32(src), x1 = tl_ld32(src + ps);
                const uint32_t l0 = tl_sxtab16(off2, x0), h0 = tl_sxtab16_ror8(off2, x0);
                const uint32_t l1 = tl_sxtab16(off2, x1), h1 = tl_sxtab16_ror8(off2, x1);
                tl_st32(r0 + 2 * q, tl_pkhbt(l0, l1));
                tl_st32(r2 + 2 * q, tl_pkhtb(l1, l0));
                tl_st32(r1 + 2 * q, tl_pkhbt(h0, h1));
                tl_st32(r3 + 2 * q, tl_pkhtb(h1, h0));
            }
        }
        for (; q < qb; ++q, src += ps) {
            for (b = 0; b < nb; ++b) {
                tl_st16(tl_ring_row(ring, cols, bs, s, b) + 2 * q, src[b] - zp);
            }
        }
    }
}

/* Accumulators of n output pixels of one channel: rows_in[ky] + off point at the ring column of the
   first pixel's window, wp_in[ky] are the packed taps of kernel row ky (k = 2m + 1 taps, stride sw, both
   compile-time constants in the callers, so the tap loops unroll and the taps stay in registers). */
TL_INLINE void tl_dw_seg(const int8_t *const *rows_in, int32_t off, uint32_t (*wp_in)[TL_DW_ROW_WORDS],
                         const int k, const int sw, int n, int32_t bias, int32_t *acc)
{
    const int m = k >> 1;
    const int8_t *rows[7];
    uint32_t wp[7][TL_DW_ROW_WORDS];
    int i = 0, ky, t;
    TL_UNROLL for (ky = 0; ky < k; ++ky)
    {
        rows[ky] = rows_in[ky] + off;
        TL_UNROLL for (t = 0; t <= m; ++t)
        {
            wp[ky][t] = wp_in[ky][t];
        }
    }
    for (; i + 2 <= n; i += 2) {
        int32_t a0 = bias, a1 = bias;
        TL_UNROLL for (ky = 0; ky < k; ++ky)
        {
            const int8_t *r = rows[ky] + 2 * i * sw;
            uint32_t last;
            TL_UNROLL for (t = 0; t < m; ++t)
            {
                a0 = tl_smlad(tl_ld32(r + 4 * t), wp[ky][t], a0);
                a1 = tl_smlad(tl_ld32(r + 2 * sw + 4 * t), wp[ky][t], a1);
            }
            last = tl_ld32(r + 4 * m);
            a0 = tl_smlabb(last, wp[ky][m], a0);
            if (sw == 1) {
                a1 = tl_smlatb(last, wp[ky][m], a1);
            } else {
                a1 = tl_smlabb(tl_ld32(r + 4 + 4 * m), wp[ky][m], a1);
            }
        }
        acc[i] = a0;
        acc[i + 1] = a1;
    }
    if (i < n) {
        int32_t a0 = bias;
        TL_UNROLL for (ky = 0; ky < k; ++ky)
        {
            const int8_t *r = rows[ky] + 2 * i * sw;
            TL_UNROLL for (t = 0; t < m; ++t)
            {
                a0 = tl_smlad(tl_ld32(r + 4 * t), wp[ky][t], a0);
            }
            a0 = tl_smlabb(tl_ld32(r + 4 * m), wp[ky][m], a0);
        }
        acc[i] = a0;
    }
}

/* The depthwise job through the ring in `ring` (kernel 3, 5 or 7, stride_w 1 or 2: tl_dw_dsp_ok). */
static void tl_dw_dsp(const tl_dw_job *j, const tl_conv_params *p, int8_t *ring)
{
    const int k = p->kh, sw = p->stride_w, sh = p->stride_h;
    const int32_t zp = p->input_zp;
    const uint32_t off2 = tl_dup16(-zp);
    const int32_t cols = tl_dw_ring_cols(p, j->ow);
    const int ixs = j->ox0 * sw - p->pad_w;
    const int bs = j->nch < TL_DW_BLOCK ? j->nch : TL_DW_BLOCK;
    const int kind = (k - 3) + (sw - 1); /* 0, 1: 3x3; 2, 3: 5x5; 4, 5: 7x7 */
    uint32_t wp[TL_DW_BLOCK][7][TL_DW_ROW_WORDS];
    int32_t acc[TL_DW_SEG];
    tl_outp op;
    int cb;
    tl_outp_make(&j->rq, &op);
    for (cb = 0; cb < j->nch; cb += TL_DW_BLOCK) {
        const int nb = j->nch - cb < TL_DW_BLOCK ? j->nch - cb : TL_DW_BLOCK;
        int next = j->oy0 * sh - p->pad_h; /* the next input row to copy */
        int oy, b, ky, kx;
        tl_frq fr[TL_DW_BLOCK];
        /* The taps of the block's channels, in pairs along each kernel row, and their output stages. */
        for (b = 0; b < nb; ++b) {
            tl_frq_make(&j->rq, cb + b, j->bias[cb + b], (int32_t)k * k, &fr[b]);
            for (ky = 0; ky < k; ++ky) {
                const int8_t *w = j->w + (int32_t)ky * k * j->wstride + cb + b;
                for (kx = 0; kx < k; kx += 2) {
                    const int32_t w0 = w[(int32_t)kx * j->wstride];
                    const int32_t w1 = kx + 1 < k ? w[(int32_t)(kx + 1) * j->wstride] : 0;
                    wp[b][ky][kx >> 1] = ((uint32_t)w0 & 0xffffu) | ((uint32_t)w1 << 16);
                }
            }
        }
        for (oy = j->oy0; oy < j->oy0 + j->oh; ++oy) {
            const int iy0 = oy * sh - p->pad_h;
            int8_t *dst_row = j->y + (int32_t)(oy - j->oy0) * j->y_rs + cb;
            if (next < iy0) {
                next = iy0;
            }
            const int8_t *rows[7] = {0, 0, 0, 0, 0, 0, 0};
            for (; next < iy0 + k; ++next) {
                tl_ring_fill(ring, cols, bs, tl_mod(next, k), j, next, cb, nb, ixs, zp, off2);
            }
            /* The kernel rows of block channel 0; channel b's are 2 b cols bytes on. */
            for (ky = 0; ky < k; ++ky) {
                rows[ky] = tl_ring_row(ring, cols, bs, tl_mod(iy0 + ky, k), 0);
            }
            for (b = 0; b < nb; ++b) {
                const int ch = cb + b;
                int x0;
                for (x0 = 0; x0 < j->ow; x0 += TL_DW_SEG) {
                    const int n = j->ow - x0 < TL_DW_SEG ? j->ow - x0 : TL_DW_SEG;
                    const int32_t off = 2 * ((int32_t)b * cols + (int32_t)x0 * sw);
                    int8_t *dst = dst_row + (int32_t)x0 * j->y_ps + b;
                    switch (kind) {
                    case 0:
                        tl_dw_seg(rows, off, wp[b], 3, 1, n, j->bias[ch], acc);
                        break;
                    case 1:
                        tl_dw_seg(rows, off, wp[b], 3, 2, n, j->bias[ch], acc);
                        break;
                    case 2:
                        tl_dw_seg(rows, off, wp[b], 5, 1, n, j->bias[ch], acc);
                        break;
                    case 3:
                        tl_dw_seg(rows, off, wp[b], 5, 2, n, j->bias[ch], acc);
                        break;
                    case 4:
                        tl_dw_seg(rows, off, wp[b], 7, 1, n, j->bias[ch], acc);
                        break;
                    default:
                        tl_dw_seg(rows, off, wp[b], 7, 2, n, j->bias[ch], acc);
                        break;
                    }
                    tl_rq_run(acc, n, &fr[b], &j->rq, &op, ch, dst, j->y_ps);
                }
            }
        }
    }
}

/* --- add ---------------------------------------------------------------------------------------- */

/* Whether a rescale of TFLite's add takes the fast stage, the zero point added after it: its inputs
   ((x - zp) 2^20, and the sum of two rescaled ones) stay below 2^29, so only the shift and the
   multiplier's sign decide. */
TL_INLINE int tl_add_rescale(int32_t m, int s, tl_frq *f)
{
#if TL_SINGLE_ROUNDING
    (void)m;
    if (s > 0 || s < -30) {
        return 0;
    }
#else
    if (s > 0 || s < -31 || m < 0) {
        return 0;
    }
#endif
    tl_frq_set(m, s, 0, f);
    return 1;
}

static void tl_add_dsp(const tl_view *a, const tl_view *b, const tl_add_params *p, const tl_frq *fp1,
                       const tl_frq *fp2, const tl_frq *fpo, const tl_view *out)
{
    const int32_t n = (int32_t)out->w * out->c;
    const tl_frq f1 = *fp1, f2 = *fp2, fo = *fpo;
    const int32_t zp1 = p->input1_zp, zp2 = p->input2_zp, ozp = p->output_zp;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int full = lo == -128 && hi == 127;
    int oy;
    int32_t i;
    for (oy = out->y0; oy < out->y0 + out->h; ++oy) {
        const int8_t *pa = a->data + tl_at(a, oy, out->x0);
        const int8_t *pb = b->data + tl_at(b, oy, out->x0);
        int8_t *dst = out->data + tl_at(out, oy, out->x0);
        for (i = 0; i < n; ++i) {
            const int32_t sa = tl_frq_apply((int32_t)((uint32_t)(pa[i] - zp1) << 20), &f1);
            const int32_t sb = tl_frq_apply((int32_t)((uint32_t)(pb[i] - zp2) << 20), &f2);
            int32_t v = tl_frq_apply(sa + sb, &fo) + ozp;
            if (full) {
                dst[i] = tl_sat8(v);
            } else {
                v = v < lo ? lo : v;
                dst[i] = (int8_t)(v > hi ? hi : v);
            }
        }
    }
}

#endif /* TL_USE_DSP */

/* ------------------------------------------------------------------------------------------------ */
/* Entry points                                                                                      */
/* ------------------------------------------------------------------------------------------------ */

void tl_conv(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
             const tl_requant *rq, const tl_view *out, int8_t *scratch)
{
#if TL_USE_DSP
    if (scratch != 0) {
        tl_conv_dsp(in, weight, bias, p, rq, out, scratch, 0);
        return;
    }
#endif
    (void)scratch;
    tl_conv_portable(in, weight, bias, p, rq, out);
}

void tl_conv_1x1(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                 const tl_requant *rq, const tl_view *out, int8_t *scratch)
{
#if TL_USE_DSP
    if (scratch != 0) {
        tl_conv_dsp(in, weight, bias, p, rq, out, scratch, 1);
        return;
    }
#endif
    (void)scratch;
    tl_conv_1x1_portable(in, weight, bias, p, rq, out);
}

int32_t tl_conv_scratch_bytes(const tl_conv_params *p, int c_in)
{
#if TL_USE_DSP
    return 16 * (((int32_t)p->kh * p->kw * (c_in / p->groups) + 3) / 4);
#else
    (void)p;
    (void)c_in;
    return 0;
#endif
}

void tl_depthwise(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                  const tl_requant *rq, const tl_view *out, int8_t *scratch)
{
#if TL_USE_DSP
    if (scratch != 0 && tl_dw_dsp_ok(p)) {
        tl_dw_job j;
        tl_dw_views(&j, in, weight, bias, rq, out);
        tl_dw_dsp(&j, p, scratch);
        return;
    }
#endif
    (void)scratch;
    tl_depthwise_portable(in, weight, bias, p, rq, out);
}

void tl_depthwise_inplace(int8_t *io, int in_h, int in_w, int c, int out_h, int out_w, const int8_t *weight,
                          const int32_t *bias, const tl_conv_params *p, const tl_requant *rq, int8_t *scratch)
{
#if TL_USE_DSP
    if (tl_dw_dsp_ok(p) && tl_dw_ring_inplace_ok(p, in_h, in_w, out_h, out_w)) {
        tl_dw_job j;
        j.x = io;
        j.x_rs = (int32_t)in_w * c;
        j.x_ps = c;
        j.y0 = 0;
        j.x0 = 0;
        j.full_h = in_h;
        j.full_w = in_w;
        j.y = io;
        j.y_rs = (int32_t)out_w * c;
        j.y_ps = c;
        j.oy0 = 0;
        j.ox0 = 0;
        j.oh = out_h;
        j.ow = out_w;
        j.nch = c;
        j.wstride = c;
        j.w = weight;
        j.bias = bias;
        j.rq = *rq;
        tl_dw_dsp(&j, p, scratch);
        return;
    }
#endif
    tl_depthwise_inplace_portable(io, in_h, in_w, c, out_h, out_w, weight, bias, p, rq, scratch);
}

int32_t tl_depthwise_scratch_bytes(const tl_conv_params *p, int c, int in_h, int in_w, int out_h, int out_w,
                                   int in_place)
{
#if TL_USE_DSP
    if (tl_dw_dsp_ok(p) && (!in_place || tl_dw_ring_inplace_ok(p, in_h, in_w, out_h, out_w))) {
        return (int32_t)p->kh * (c < TL_DW_BLOCK ? c : TL_DW_BLOCK) * tl_dw_ring_cols(p, out_w) * 2;
    }
#else
    (void)p;
    (void)c;
    (void)out_h;
    (void)out_w;
#endif
    return in_place ? (int32_t)in_h * in_w : 0;
}

void tl_add(const tl_view *a, const tl_view *b, const tl_add_params *p, const tl_view *out)
{
#if TL_USE_DSP
    tl_frq f1, f2, fo;
    if (tl_add_rescale(p->input1_multiplier, p->input1_shift, &f1) &&
        tl_add_rescale(p->input2_multiplier, p->input2_shift, &f2) &&
        tl_add_rescale(p->output_multiplier, p->output_shift, &fo)) {
        tl_add_dsp(a, b, p, &f1, &f2, &fo, out);
        return;
    }
#endif
    tl_add_portable(a, b, p, out);
}

void tl_fully_connected(const int8_t *in, int32_t input_zp, int k_len, const int8_t *weight, const int32_t *bias,
                        int o_len, const tl_requant *rq, int8_t *out)
{
#if TL_USE_DSP
    tl_fully_connected_dsp(in, input_zp, k_len, weight, bias, o_len, rq, out);
#else
    tl_fully_connected_portable(in, input_zp, k_len, weight, bias, o_len, rq, out);
#endif
}
