/* Leveled logging to one sink. Only services log; libraries return errors.
 *
 * MC_LOG checks the level before formatting anything, so a disabled debug line
 * costs one load and one compare. The sink (stderr by default) is the project's
 * only global mutable state besides the level; writes are one fputs per line
 * under the stdio lock, so lines from concurrent threads do not interleave. */
#ifndef MC_LOG_H
#define MC_LOG_H

#include "mc/errors.h"

#include <stdio.h>

typedef enum mc_log_level {
    MC_LOG_TRACE = 0,
    MC_LOG_DEBUG,
    MC_LOG_INFO,
    MC_LOG_WARN,
    MC_LOG_ERROR,
    MC_LOG_OFF,
} mc_log_level_t;

extern int mc_log_level_;

void mc_log_set_level(mc_log_level_t level);
mc_log_level_t mc_log_get_level(void);
/* Parses "trace|debug|info|warn|warning|error|off" (any case); -1 on failure. */
int mc_log_level_parse(const char *s);
const char *mc_log_level_name(mc_log_level_t level);
/* NULL restores stderr. The sink is not closed by the logger. */
void mc_log_set_sink(FILE *sink);

void mc_log_write(mc_log_level_t level, const char *file, int line, const char *fmt, ...)
    MC_PRINTF(4, 5);

#define MC_LOG(level, ...)                                          \
    do {                                                            \
        if ((int)(level) >= mc_log_level_)                          \
            mc_log_write((level), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#define MC_TRACE(...) MC_LOG(MC_LOG_TRACE, __VA_ARGS__)
#define MC_DEBUG(...) MC_LOG(MC_LOG_DEBUG, __VA_ARGS__)
#define MC_INFO(...) MC_LOG(MC_LOG_INFO, __VA_ARGS__)
#define MC_WARN(...) MC_LOG(MC_LOG_WARN, __VA_ARGS__)
#define MC_ERROR(...) MC_LOG(MC_LOG_ERROR, __VA_ARGS__)

#endif
