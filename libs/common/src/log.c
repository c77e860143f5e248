#include "mc/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

int mc_log_level_ = MC_LOG_INFO;
static _Atomic(FILE *) sink_;

static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void mc_log_set_level(mc_log_level_t level)
{
    mc_log_level_ = (int)level;
}

mc_log_level_t mc_log_get_level(void)
{
    return (mc_log_level_t)mc_log_level_;
}

int mc_log_level_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcasecmp(s, "warning") == 0)
        return MC_LOG_WARN;
    for (int i = 0; i <= MC_LOG_OFF; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

const char *mc_log_level_name(mc_log_level_t level)
{
    return (level >= MC_LOG_TRACE && level <= MC_LOG_OFF) ? names[level] : "?";
}

void mc_log_set_sink(FILE *sink)
{
    atomic_store(&sink_, sink);
}

void mc_log_write(mc_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    const char *base = strrchr(file, '/');
    FILE *out = atomic_load(&sink_);
    va_list ap;
    int n;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%03ld %-5s %s:%d ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(tv.tv_usec / 1000), mc_log_level_name(level), base ? base + 1 : file, line);
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (int)strlen(buf);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    fputs(buf, out ? out : stderr);
    fflush(out ? out : stderr);
}
