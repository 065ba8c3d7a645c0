/*
 * Start-up code for Cortex-M under qemu (mps2 boards) and on hardware: the vector table at address 0,
 * a reset handler that prepares the C run-time (copies .data, zeroes .bss, enables the FPU where there
 * is one, opens newlib's semihosting handles) and runs main, the SysTick wrap counter used by main.c's
 * cycle measurement, and fault handlers that end the program with a non-zero exit code instead of
 * spinning forever (so a crashed model cannot hang a test).
 *
 * Written by tinylab-mcu-export; C99, compiled with arm-none-eabi-gcc.
 */
#include <stdint.h>
#include <stdlib.h>

/* Symbols of the linker script (link.ld). */
extern uint32_t __StackTop;
extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;

/* newlib (librdimon): semihosting file handles for stdin/stdout/stderr. */
extern void initialise_monitor_handles(void);
extern void _exit(int status);

int main(void);

/* Exit code of a program that took a fault (main's own codes stop at 100). */
#define TL_FAULT_EXIT_CODE 120

/* Number of times the 24-bit SysTick counter wrapped (read by main.c). */
volatile uint32_t tl_systick_wraps;

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

typedef void (*tl_vector)(void);

/* The vector table: initial stack pointer, then the exception handlers (ARMv7-M, 16 entries; the
   external interrupts are never enabled, so none are listed). */
__attribute__((section(".vectors"), used)) const tl_vector tl_vector_table[16] = {
    (tl_vector)(void *)&__StackTop, /* initial main stack pointer */
    Reset_Handler,
    Default_Handler, /* NMI */
    Fault_Handler,   /* HardFault */
    Fault_Handler,   /* MemManage */
    Fault_Handler,   /* BusFault */
    Fault_Handler,   /* UsageFault */
    0,
    0,
    0,
    0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

void Reset_Handler(void) {
    /* Initialised data: copy its image from flash to SRAM. */
    const uint32_t *src = &__data_load__;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
    /* Zero-initialised data (the model's arena lives here). */
    for (dst = &__bss_start__; dst < &__bss_end__; dst++) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    /* Full access to coprocessors 10 and 11 (the FPU): newlib's printf may touch FP registers. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    exit(main());
}

void SysTick_Handler(void) {
    tl_systick_wraps++;
}

void Fault_Handler(void) {
    /* A fault (bad address, stack overflow into unmapped memory, undefined instruction): report it
       through the exit code; the semihosting call works from handler mode. */
    _exit(TL_FAULT_EXIT_CODE);
}

void Default_Handler(void) {
    _exit(TL_FAULT_EXIT_CODE + 1);
}
