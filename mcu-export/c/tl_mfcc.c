/*
 * Fixed-point MFCC (see tl_mfcc.h). Every step mirrors data::audio::mfcc::fixed of
 * tinylab-classical; shifts of negative values are arithmetic (gcc's documented behaviour), and
 * (v + 2^(s-1)) >> s is the rounding right shift.
 */
#include "tl_mfcc.h"

#include "tl_mfcc_tables.h"

#define TL_HALF 256
#define TL_N_BINS 257
#define TL_NORM_BIT 27
#define TL_LOG_OFFSET 49
#define TL_LOG_FLOOR_Q16 (-20 * 65536)

static int32_t tl_v[TL_MFCC_FRAME_LEN];
static int32_t tl_zr[TL_HALF], tl_zi[TL_HALF];
static uint64_t tl_power[TL_N_BINS];

static int tl_clz32(uint32_t x) {
#if defined(__GNUC__)
    return __builtin_clz(x);
#else
    int n = 0;
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

static int tl_clz64(uint64_t x) {
    uint32_t hi = (uint32_t)(x >> 32);
    return hi != 0u ? tl_clz32(hi) : 32 + tl_clz32((uint32_t)x);
}

/* Steps 1-2: window and normalise into tl_v; returns 0 for a frame that is zero after windowing. */
static int tl_window_normalise(const int16_t *frame, int32_t *e_out) {
    uint32_t max = 0u;
    int32_t e;
    int n;
    for (n = 0; n < TL_MFCC_FRAME_LEN; n++) {
        int32_t p = (int32_t)frame[n] * (int32_t)tl_mfcc_window_q15[n];
        uint32_t a = p < 0 ? (uint32_t)0u - (uint32_t)p : (uint32_t)p;
        tl_v[n] = p;
        if (a > max) {
            max = a;
        }
    }
    if (max == 0u) {
        return 0;
    }
    e = TL_NORM_BIT - (31 - tl_clz32(max));
    if (e >= 0) {
        for (n = 0; n < TL_MFCC_FRAME_LEN; n++) {
            tl_v[n] = (int32_t)((uint32_t)tl_v[n] << e);
        }
    } else {
        int32_t s = -e, half = (int32_t)1 << (s - 1);
        for (n = 0; n < TL_MFCC_FRAME_LEN; n++) {
            tl_v[n] = (tl_v[n] + half) >> s;
        }
    }
    *e_out = e;
    return 1;
}

/* (re + i im) (cos - i sin) of twiddle index k, q15 with rounding. */
static void tl_twiddle(int32_t re, int32_t im, int k, int32_t *out_re, int32_t *out_im) {
    int64_t c = tl_mfcc_cos_q15[k], s = tl_mfcc_sin_q15[k];
    *out_re = (int32_t)(((int64_t)re * c + (int64_t)im * s + (1 << 14)) >> 15);
    *out_im = (int32_t)(((int64_t)im * c - (int64_t)re * s + (1 << 14)) >> 15);
}

/* The 8-bit index n with its bits reversed, in 32-bit multiplies and masks (the byte-reversal
   idiom of Bit Twiddling Hacks, "Reverse the bits in a byte with 4 operations"). */
static uint32_t tl_reverse8(uint32_t n) {
    return ((((n * 0x0802u) & 0x22110u) | ((n * 0x8020u) & 0x88440u)) * 0x10101u >> 16) & 0xFFu;
}

/* Step 3 and 4: the power spectrum (>> 8) of tl_v into tl_power. */
static void tl_power_spectrum(void) {
    int n, half, k;
    for (n = 0; n < TL_HALF; n++) {
        uint32_t r = tl_reverse8((uint32_t)n);
        int i = (int)(2u * r);
        tl_zr[n] = i < TL_MFCC_FRAME_LEN ? tl_v[i] : 0;
        tl_zi[n] = i + 1 < TL_MFCC_FRAME_LEN ? tl_v[i + 1] : 0;
    }
    for (half = 1; half < TL_HALF; half *= 2) {
        int step = TL_HALF / half, start, j;
        for (start = 0; start < TL_HALF; start += 2 * half) {
            for (j = 0; j < half; j++) {
                int a = start + j, b = a + half;
                int32_t tr, ti, ar = tl_zr[a], ai = tl_zi[a];
                tl_twiddle(tl_zr[b], tl_zi[b], j * step, &tr, &ti);
                tl_zr[a] = (ar + tr + 1) >> 1;
                tl_zi[a] = (ai + ti + 1) >> 1;
                tl_zr[b] = (ar - tr + 1) >> 1;
                tl_zi[b] = (ai - ti + 1) >> 1;
            }
        }
    }
    for (k = 0; k < TL_N_BINS; k++) {
        int p = k % TL_HALF, q = (TL_HALF - k) % TL_HALF;
        int64_t ar = (int64_t)tl_zr[p] + tl_zr[q], ai = (int64_t)tl_zi[p] - tl_zi[q];
        int32_t dr = tl_zi[p] + tl_zi[q], di = tl_zr[q] - tl_zr[p], cr, ci;
        int64_t xr, xi;
        tl_twiddle(dr, di, k, &cr, &ci);
        xr = (ar + cr + 2) >> 2;
        xi = (ai + ci + 2) >> 2;
        tl_power[k] = ((uint64_t)(xr * xr) + (uint64_t)(xi * xi)) >> 8;
    }
}

/* log2(x) in Q16 for x > 0. */
static int32_t tl_log2_q16(uint64_t x) {
    int lead = 63 - tl_clz64(x);
    uint64_t norm = x << (63 - lead);
    uint32_t frac = (uint32_t)(norm >> 32) & 0x7FFFFFFFu;
    int i = (int)(frac >> 23);
    int64_t r = (int64_t)((frac >> 7) & 0xFFFFu);
    int64_t lo = tl_mfcc_log2_q16[i], hi = tl_mfcc_log2_q16[i + 1];
    return ((int32_t)lead << 16) + (int32_t)(lo + (((hi - lo) * r + (1 << 15)) >> 16));
}

void tl_mfcc_frame_q7(const int16_t *frame, int16_t *out) {
    int32_t log_mel[TL_MFCC_N_MEL];
    int32_t e = 0;
    int m, k;
    if (!tl_window_normalise(frame, &e)) {
        for (m = 0; m < TL_MFCC_N_MEL; m++) {
            log_mel[m] = TL_LOG_FLOOR_Q16;
        }
    } else {
        tl_power_spectrum();
        for (m = 0; m < TL_MFCC_N_MEL; m++) {
            const int16_t *w = &tl_mfcc_mel_weights_q15[tl_mfcc_mel_offset[m]];
            const uint64_t *p = &tl_power[tl_mfcc_mel_first_bin[m]];
            uint64_t acc = 0u;
            int32_t l;
            int j;
            for (j = 0; j < tl_mfcc_mel_len[m]; j++) {
                acc += (uint64_t)w[j] * p[j];
            }
            l = acc == 0u ? TL_LOG_FLOOR_Q16 : tl_log2_q16(acc) - ((TL_LOG_OFFSET + 2 * e) << 16);
            log_mel[m] = l < TL_LOG_FLOOR_Q16 ? TL_LOG_FLOOR_Q16 : l;
        }
    }
    for (k = 0; k < TL_MFCC_N_COEFFS; k++) {
        int64_t acc = 0;
        for (m = 0; m < TL_MFCC_N_MEL; m++) {
            acc += (int64_t)log_mel[m] * tl_mfcc_dct_q15[k][m];
        }
        acc = (acc + ((int64_t)1 << 23)) >> 24;
        out[k] = (int16_t)(acc < -32768 ? -32768 : (acc > 32767 ? 32767 : acc));
    }
}

void tl_mfcc_q7(const int16_t *audio, int16_t *out) {
    int t;
    for (t = 0; t < TL_MFCC_N_FRAMES; t++) {
        tl_mfcc_frame_q7(&audio[t * TL_MFCC_FRAME_STRIDE], &out[t * TL_MFCC_N_COEFFS]);
    }
}

int8_t tl_mfcc_q7_to_int8(int16_t q7) {
    int32_t q = (((int32_t)q7 * TL_MFCC_INT8_MULTIPLIER + (1 << 15)) >> 16) + TL_MFCC_INT8_ZERO_POINT;
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

void tl_mfcc_int8(const int16_t *audio, int8_t *out) {
    int16_t frame_out[TL_MFCC_N_COEFFS];
    int t, k;
    for (t = 0; t < TL_MFCC_N_FRAMES; t++) {
        tl_mfcc_frame_q7(&audio[t * TL_MFCC_FRAME_STRIDE], frame_out);
        for (k = 0; k < TL_MFCC_N_COEFFS; k++) {
            out[t * TL_MFCC_N_COEFFS + k] = tl_mfcc_q7_to_int8(frame_out[k]);
        }
    }
}
