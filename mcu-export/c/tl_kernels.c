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

#ifndef TL_SINGLE_ROUNDING
#define TL_SINGLE_ROUNDING 0
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

void tl_conv(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
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

void tl_conv_1x1(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                 const tl_requant *rq, const tl_view *out)
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

void tl_depthwise(const tl_view *in, const int8_t *weight, const int32_t *bias, const tl_conv_params *p,
                  const tl_requant *rq, const tl_view *out)
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

void tl_depthwise_inplace(int8_t *io, int in_h, int in_w, int c, int out_h, int out_w, const int8_t *weight,
                          const int32_t *bias, const tl_conv_params *p, const tl_requant *rq, int8_t *plane)
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

void tl_fully_connected(const int8_t *in, int32_t input_zp, int k_len, const int8_t *weight, const int32_t *bias,
                        int o_len, const tl_requant *rq, int8_t *out)
{
    int o;
    for (o = 0; o < o_len; ++o) {
        out[o] = tl_requant_one(bias[o] + tl_dot(in, weight + (int32_t)o * k_len, k_len, input_zp), rq, o);
    }
}

void tl_add(const tl_view *a, const tl_view *b, const tl_add_params *p, const tl_view *out)
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
