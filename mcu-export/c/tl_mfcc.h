/*
 * Fixed-point MFCC front end of keyword spotting (MLPerf Tiny KWS features): 1 s of 16 kHz int16
 * audio -> 49 frames x 10 MFCCs (30 ms Hann frames every 20 ms, 512-point real FFT, power, 40 mel
 * filters 20 Hz - 4 kHz, log, DCT). C99, integers only, no malloc; bit-exact with tinylab's Rust
 * implementation (tinylab-classical, data::audio::mfcc), whose module docs give every step and
 * bound. The tables are in tl_mfcc_tables.h, written by tinylab-mcu-export from the Rust tables.
 *
 * Not reentrant: the work buffers are static (about 6 KB of SRAM).
 */
#ifndef TL_MFCC_H
#define TL_MFCC_H

#include <stdint.h>

#define TL_MFCC_CLIP_SAMPLES 16000
#define TL_MFCC_FRAME_LEN 480
#define TL_MFCC_FRAME_STRIDE 320
#define TL_MFCC_N_FRAMES 49
#define TL_MFCC_N_MEL 40
#define TL_MFCC_N_COEFFS 10
#define TL_MFCC_OUT_SIZE (TL_MFCC_N_FRAMES * TL_MFCC_N_COEFFS)
/* int8 output: value = (q - TL_MFCC_INT8_ZERO_POINT) * 2/3; q = ((q7 * 768 + 2^15) >> 16) + 58. */
#define TL_MFCC_INT8_MULTIPLIER 768
#define TL_MFCC_INT8_ZERO_POINT 58

/* The 10 MFCCs of one 480-sample frame, in Q7 (value * 128). */
void tl_mfcc_frame_q7(const int16_t *frame, int16_t *out);

/* The MFCCs of a 16000-sample clip in Q7, frame-major (out[t * 10 + k]). */
void tl_mfcc_q7(const int16_t *audio, int16_t *out);

/* One Q7 value in the int8 quantization above (saturated). */
int8_t tl_mfcc_q7_to_int8(int16_t q7);

/* The MFCCs of a clip as int8, frame-major. */
void tl_mfcc_int8(const int16_t *audio, int8_t *out);

#endif /* TL_MFCC_H */
