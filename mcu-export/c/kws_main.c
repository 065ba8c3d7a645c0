/*
 * Driver of the keyword-spotting front end, the same file for the host and for Cortex-M: for every
 * clip of kws_testdata.c it runs the C MFCC (tl_mfcc.c) on the raw 16 kHz int16 audio and, when
 * built with TL_KWS_MODEL (an exported model.h / model.c beside it), the int8 model on the features.
 *
 * It prints `timer_overhead <n>`, then per clip i
 *     out <i> <hex>          MFCC only: the Q7 MFCCs (int16, little-endian bytes) then the int8 ones;
 *                            with a model: the model's input bytes (int8 MFCCs through the input
 *                            table) then its output bytes
 *     cycles <i> <n>         timer count of tl_mfcc_int8 (one 1 s clip)
 *     model_cycles <i> <n>   (with a model) timer count of model_invoke
 *     keyword <i> <k>        (with a model) the argmax of the output
 * and `mismatches <n>` (clips whose bytes differ from tl_kws_expected); main returns min(n, 100).
 * The output format is that of main.c, so tinylab-mcu-export's toolchain::run parses it.
 *
 * Written by tinylab-mcu-export; C99, no malloc (newlib's stdio may allocate its own buffer).
 */
#include <stdint.h>
#include <stdio.h>

#include "kws_testdata.h"
#include "tl_mfcc.h"
#include "tl_timer.h"

#if defined(TL_KWS_MODEL)
#include "model.h"
#endif

static const char tl_hex[] = "0123456789abcdef";

/* Prints `n` bytes in hex and counts those that differ from `expected` (from index `at`). */
static int tl_emit(const uint8_t *bytes, int n, const int8_t *expected, int at) {
    int j, differs = 0;
    for (j = 0; j < n; j++) {
        putchar(tl_hex[bytes[j] >> 4]);
        putchar(tl_hex[bytes[j] & 15u]);
        if ((int8_t)bytes[j] != expected[at + j]) {
            differs = 1;
        }
    }
    return differs;
}

/* Keyword spotting on one clip: raw audio -> C MFCC -> input table -> the int8 model. Point an
   integrator's model here: any model.h / model.c exported by tinylab-mcu-export whose input is the
   49 x 10 MFCC map (TL_INPUT_SIZE 490) works, the table mapping the front end's int8 quantization
   to the model's. Returns model_invoke's code. */
#if defined(TL_KWS_MODEL)
typedef char tl_kws_model_takes_mfcc[(TL_INPUT_SIZE == TL_MFCC_OUT_SIZE) ? 1 : -1];

static int8_t tl_features[TL_MFCC_OUT_SIZE];

static int tl_kws_run(const int16_t *audio, int8_t *model_input, int8_t *scores, uint64_t *mfcc_ticks,
               uint64_t *model_ticks) {
    uint64_t t0, t1, t2;
    int j, rc;
    t0 = tl_timer_now();
    tl_mfcc_int8(audio, tl_features);
    t1 = tl_timer_now();
    for (j = 0; j < TL_MFCC_OUT_SIZE; j++) {
        model_input[j] = tl_kws_input_table[(uint8_t)tl_features[j]];
    }
    rc = model_invoke(model_input, scores);
    t2 = tl_timer_now();
    *mfcc_ticks = t1 - t0;
    *model_ticks = t2 - t1;
    return rc;
}
#endif

int main(void) {
    long mismatches = 0;
    int i;
    tl_timer_start();
    {
        uint64_t t0 = tl_timer_now();
        uint64_t t1 = tl_timer_now();
        fputs("timer_overhead ", stdout);
        tl_print_u64(t1 - t0);
        putchar('\n');
    }
    for (i = 0; i < TL_KWS_N_CLIPS; i++) {
        int differs = 0;
#if defined(TL_KWS_MODEL)
        static int8_t input[TL_INPUT_SIZE];
        static int8_t scores[TL_OUTPUT_SIZE];
        uint64_t mfcc_ticks, model_ticks;
        int rc = tl_kws_run(tl_kws_audio[i], input, scores, &mfcc_ticks, &model_ticks);
        int j, best = 0;
        if (rc != 0) {
            printf("error %d %d\n", i, rc);
            differs = 1;
        }
        printf("out %d ", i);
        differs |= tl_emit((const uint8_t *)input, TL_INPUT_SIZE, tl_kws_expected[i], 0);
        differs |= tl_emit((const uint8_t *)scores, TL_OUTPUT_SIZE, tl_kws_expected[i], TL_INPUT_SIZE);
        for (j = 1; j < TL_OUTPUT_SIZE; j++) {
            if (scores[j] > scores[best]) {
                best = j;
            }
        }
        printf("\ncycles %d ", i);
        tl_print_u64(mfcc_ticks);
        printf("\nmodel_cycles %d ", i);
        tl_print_u64(model_ticks);
        printf("\nkeyword %d %d\n", i, best);
#else
        static int16_t q7[TL_MFCC_OUT_SIZE];
        static int8_t q8[TL_MFCC_OUT_SIZE];
        uint8_t bytes[2];
        uint64_t t0, t1;
        int j;
        tl_mfcc_q7(tl_kws_audio[i], q7);
        t0 = tl_timer_now();
        tl_mfcc_int8(tl_kws_audio[i], q8);
        t1 = tl_timer_now();
        printf("out %d ", i);
        for (j = 0; j < TL_MFCC_OUT_SIZE; j++) {
            bytes[0] = (uint8_t)((uint16_t)q7[j] & 0xFFu);
            bytes[1] = (uint8_t)((uint16_t)q7[j] >> 8);
            differs |= tl_emit(bytes, 2, tl_kws_expected[i], 2 * j);
        }
        differs |= tl_emit((const uint8_t *)q8, TL_MFCC_OUT_SIZE, tl_kws_expected[i], 2 * TL_MFCC_OUT_SIZE);
        printf("\ncycles %d ", i);
        tl_print_u64(t1 - t0);
        putchar('\n');
#endif
        mismatches += differs;
    }
    printf("mismatches %ld\n", mismatches);
    fflush(stdout);
    return mismatches > 100 ? 100 : (int)mismatches;
}
