/*
 * Per-op profiling of an exported model (written by tinylab-mcu-export's harness::write_profile_driver;
 * the test driver main.c defines the counters and prints them when TL_PROFILE is defined). model.c
 * includes this header when built with TL_PROFILE defined: every op's kernel call(s) are bracketed by
 * TL_OP_BEGIN(i) / TL_OP_END(i), which add the SysTick ticks between them to tl_profile_ticks[i] and
 * count the calls (one per patch in a patch stage).
 */
#ifndef TL_PROFILE_H
#define TL_PROFILE_H

#include <stdint.h>

/* The timer of the driver (processor-clock SysTick ticks since it started, wraps counted). */
uint64_t tl_profile_now(void);

extern uint64_t tl_profile_ticks[TL_N_OPS];
extern uint32_t tl_profile_calls[TL_N_OPS];
extern uint64_t tl_profile_t0;

#define TL_OP_BEGIN(i) (tl_profile_t0 = tl_profile_now())
#define TL_OP_END(i) (tl_profile_ticks[(i)] += tl_profile_now() - tl_profile_t0, tl_profile_calls[(i)]++)

#endif /* TL_PROFILE_H */
