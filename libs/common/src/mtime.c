#include "mc/mtime.h"

#include <errno.h>
#include <time.h>

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t mc_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t mc_now_us(void)
{
    return mc_now_ns() / 1000u;
}

uint64_t mc_now_ms(void)
{
    return mc_now_ns() / 1000000u;
}

uint64_t mc_wall_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000u;
}

void mc_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
