/*
 * Test driver of an exported tinylab model, the same file for the host and for Cortex-M.
 *
 * It prints `timer_overhead <count>` (an empty measurement), then for every test sample of
 * testdata.c runs model_invoke and prints
 *     out <i> <output bytes as lowercase hex, two digits per byte, two's complement>
 *     cycles <i> <count>
 * and after all samples
 *     mismatches <n>
 * where n counts the samples whose output differs from the expected bytes (or whose model_invoke
 * returned non-zero; those also print `error <i> <code>`). main returns min(n, 100), which becomes
 * the exit code of the host process and, through semihosting, of qemu.
 *
 * Cycles: on Cortex-M (TL_CORTEX_M defined) SysTick counts processor-clock ticks of each invoke; its
 * 24-bit counter wraps every 2^24 ticks, and SysTick_Handler (startup.c) counts the wraps. On the host
 * the count is 0 (time the whole process instead).
 *
 * Profiling builds (the Makefile defines TL_PROFILE; tl_profile.h is beside it, written by
 * tinylab-mcu-export's harness::write_profile_driver) also print, before `mismatches`,
 *     profile_overhead <ticks of an empty TL_OP_BEGIN / TL_OP_END pair>
 *     op <i> <calls> <ticks>
 * for every op: the ticks its kernel calls took over all samples (the bracket's own cost included,
 * calls times profile_overhead). On the host the counts are 0.
 *
 * Written by tinylab-mcu-export; C99, no malloc (newlib's stdio may allocate its own buffer).
 */
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "testdata.h"
#include "tl_timer.h"
#if defined(TL_PROFILE)
#include "tl_profile.h"
#endif

static int8_t tl_output[TL_OUTPUT_SIZE];

#if defined(TL_PROFILE)
uint64_t tl_profile_ticks[TL_N_OPS];
uint32_t tl_profile_calls[TL_N_OPS];
uint64_t tl_profile_t0;

uint64_t tl_profile_now(void) {
    return tl_timer_now();
}
#endif

int main(void) {
    static const char hex[] = "0123456789abcdef";
    long mismatches = 0;
    int i, j;
    tl_timer_start();
    {
        /* The cost of the measurement itself: from the sampling point of one timer read to the
           sampling point of the next (an invoke's count minus this is the call of model_invoke). */
        uint64_t t0 = tl_timer_now();
        uint64_t t1 = tl_timer_now();
        fputs("timer_overhead ", stdout);
        tl_print_u64(t1 - t0);
        putchar('\n');
    }
    for (i = 0; i < TL_N_SAMPLES; i++) {
        uint64_t t0, t1;
        int rc, differs = 0;
        for (j = 0; j < TL_OUTPUT_SIZE; j++) {
            tl_output[j] = 0;
        }
        t0 = tl_timer_now();
        rc = model_invoke(tl_test_inputs[i], tl_output);
        t1 = tl_timer_now();
        if (rc != 0) {
            printf("error %d %d\n", i, rc);
            differs = 1;
        }
        printf("out %d ", i);
        for (j = 0; j < TL_OUTPUT_SIZE; j++) {
            uint8_t b = (uint8_t)tl_output[j];
            putchar(hex[b >> 4]);
            putchar(hex[b & 15u]);
            if (tl_output[j] != tl_test_expected[i][j]) {
                differs = 1;
            }
        }
        printf("\ncycles %d ", i);
        tl_print_u64(t1 - t0);
        putchar('\n');
        mismatches += differs;
    }
#if defined(TL_PROFILE)
    {
        /* An empty bracket, measured as the ops are (op 0's counts are put back after it). */
        const uint64_t ticks0 = tl_profile_ticks[0];
        const uint32_t calls0 = tl_profile_calls[0];
        TL_OP_BEGIN(0);
        TL_OP_END(0);
        fputs("profile_overhead ", stdout);
        tl_print_u64(tl_profile_ticks[0] - ticks0);
        putchar('\n');
        tl_profile_ticks[0] = ticks0;
        tl_profile_calls[0] = calls0;
    }
    for (i = 0; i < TL_N_OPS; i++) {
        printf("op %d %lu ", i, (unsigned long)tl_profile_calls[i]);
        tl_print_u64(tl_profile_ticks[i]);
        putchar('\n');
    }
#endif
    printf("mismatches %ld\n", mismatches);
    fflush(stdout);
    return mismatches > 100 ? 100 : (int)mismatches;
}
