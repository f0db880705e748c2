/*
 * clock.h — time sources. Only the runtime reads clocks; Raft and storage logic take time as
 * input so the simulator can drive them.
 */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC). */
uint64_t clock_mono_ns(void);
/* Wall-clock nanoseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t clock_real_ns(void);

#endif
