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
 * Written by tinylab-mcu-export; C99, no malloc (newlib's stdio may allocate its own buffer).
 */
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "testdata.h"

#if defined(TL_CORTEX_M)
#define TL_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define TL_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define TL_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TL_SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define TL_ICSR_PENDSTSET (1u << 26)
#define TL_SYST_RELOAD 0xFFFFFFu

/* Wraps of the SysTick counter, counted by SysTick_Handler in startup.c. */
extern volatile uint32_t tl_systick_wraps;

/* Start SysTick from 0: processor clock, interrupt on wrap, enabled (CSR = 7). */
static void tl_timer_start(void) {
    TL_SYST_CSR = 0u;
    TL_SYST_RVR = TL_SYST_RELOAD;
    TL_SYST_CVR = 0u;
    tl_systick_wraps = 0u;
    TL_SYST_CSR = 7u;
}

/* Ticks since tl_timer_start. The counter counts down from TL_SYST_RELOAD and raises the interrupt on
   reaching 0; a wrap that happened but whose interrupt is still pending (ICSR.PENDSTSET) is counted
   here, with interrupts masked so the handler cannot run between the two reads. */
static uint64_t tl_timer_now(void) {
    uint32_t wraps, value;
    __asm__ volatile("cpsid i" ::: "memory");
    wraps = tl_systick_wraps;
    value = TL_SYST_CVR;
    if ((TL_SCB_ICSR & TL_ICSR_PENDSTSET) != 0u) {
        wraps++;
        value = TL_SYST_CVR;
    }
    __asm__ volatile("cpsie i" ::: "memory");
    return ((uint64_t)wraps << 24) + (uint64_t)((0x1000000u - value) & TL_SYST_RELOAD);
}
#else
static void tl_timer_start(void) {
}

static uint64_t tl_timer_now(void) {
    return 0u;
}
#endif

/* Decimal printing of 64-bit counts (newlib-nano's printf has no %llu). */
static void tl_print_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[20] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    fputs(&buf[i], stdout);
}

static int8_t tl_output[TL_OUTPUT_SIZE];

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
    printf("mismatches %ld\n", mismatches);
    fflush(stdout);
    return mismatches > 100 ? 100 : (int)mismatches;
}
