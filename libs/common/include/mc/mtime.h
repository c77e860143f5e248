/* Clocks. Monotonic for deadlines and durations, wall clock only for display. */
#ifndef MC_MTIME_H
#define MC_MTIME_H

#include <stdint.h>

uint64_t mc_now_ns(void); /* CLOCK_MONOTONIC */
uint64_t mc_now_us(void);
uint64_t mc_now_ms(void);
uint64_t mc_wall_ms(void); /* CLOCK_REALTIME, ms since the epoch */
/* Sleeps the whole duration, resuming after signals. */
void mc_sleep_ms(uint64_t ms);

#endif
