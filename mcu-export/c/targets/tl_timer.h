/*
 * The test drivers' timer and printing (written by tinylab-mcu-export's target::write_target_files into
 * every build directory, included by the test driver main.c, in profiling builds too, and the keyword-spotting driver):
 * SysTick ticks since tl_timer_start on Cortex-M (0 on the host), and decimal printing of 64-bit counts.
 */
#ifndef TL_TIMER_H
#define TL_TIMER_H

#include <stdint.h>
#include <stdio.h>

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

#endif /* TL_TIMER_H */
