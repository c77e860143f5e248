#include "mc/strutil.h"

#include "mc/errors.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool only_blank(const char *s)
{
    return *skip_blank(s) == '\0';
}

int mc_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s)
        return MC_INVALID_PARAMS;
    s = skip_blank(s);
    if (!isdigit((unsigned char)*s))
        return MC_INVALID_PARAMS; /* rejects "-1", "+", "" */
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s || !only_blank(end))
        return MC_INVALID_PARAMS;
    *out = (uint64_t)v;
    return MC_OK;
}

int mc_parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!s)
        return MC_INVALID_PARAMS;
    s = skip_blank(s);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || end == s || !only_blank(end))
        return MC_INVALID_PARAMS;
    *out = (int64_t)v;
    return MC_OK;
}

int mc_parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!s)
        return MC_INVALID_PARAMS;
    s = skip_blank(s);
    errno = 0;
    v = strtod(s, &end);
    if (errno == ERANGE || end == s || !only_blank(end) || !isfinite(v))
        return MC_INVALID_PARAMS;
    *out = v;
    return MC_OK;
}

int mc_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    if (!s)
        return MC_INVALID_PARAMS;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return MC_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return MC_OK;
        }
    }
    return MC_INVALID_PARAMS;
}

int mc_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {
        {"", 0},     {"b", 0},  {"k", 10},  {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
        {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40},
    };
    char unit[8];
    size_t ulen = 0;
    const char *p;
    char *end;
    double v;
    uint64_t whole;

    if (!s)
        return MC_INVALID_PARAMS;
    s = skip_blank(s);
    /* Plain integers go through the exact path: 3355443200 must not round. */
    if (mc_parse_u64(s, &whole) == MC_OK) {
        *out = whole;
        return MC_OK;
    }
    if (!isdigit((unsigned char)*s) && *s != '.')
        return MC_INVALID_PARAMS;
    errno = 0;
    v = strtod(s, &end);
    if (errno == ERANGE || end == s || !isfinite(v) || v < 0)
        return MC_INVALID_PARAMS;
    p = skip_blank(end);
    while (*p && *p != ' ' && *p != '\t') {
        if (ulen + 1 >= sizeof(unit))
            return MC_INVALID_PARAMS;
        unit[ulen++] = (char)tolower((unsigned char)*p++);
    }
    unit[ulen] = '\0';
    if (!only_blank(p))
        return MC_INVALID_PARAMS;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].suffix) == 0) {
            double bytes = ldexp(v, (int)units[i].shift);
            if (bytes >= 18446744073709551616.0 || bytes != floor(bytes))
                return MC_INVALID_PARAMS;
            *out = (uint64_t)bytes;
            return MC_OK;
        }
    }
    return MC_INVALID_PARAMS;
}

const char *mc_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t i = 0;

    while (v >= 1024.0 && i + 1 < sizeof(u) / sizeof(u[0])) {
        v /= 1024.0;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, u[i]);
    return buf;
}

int mc_strlcpy(char *dst, const char *src, size_t len)
{
    size_t n;

    if (len == 0)
        return MC_BUFFER_OVERFLOW;
    n = strlen(src);
    if (n >= len) {
        memcpy(dst, src, len - 1);
        dst[len - 1] = '\0';
        return MC_BUFFER_OVERFLOW;
    }
    memcpy(dst, src, n + 1);
    return MC_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long mc_url_decode(const char *src, size_t n, char *dst, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi, lo;
            if (n - i < 3)
                return MC_INVALID_PARAMS;
            hi = hexval(src[i + 1]);
            lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return MC_INVALID_PARAMS;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return MC_BUFFER_OVERFLOW;
        dst[o++] = c;
    }
    if (cap == 0)
        return MC_BUFFER_OVERFLOW;
    dst[o] = '\0';
    return (long)o;
}

int mc_key_validate(const char *key, size_t len, size_t max_len)
{
    if (!key || len == 0 || len > max_len)
        return MC_INVALID_KEY;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f) /* NUL, newlines, escapes: nothing to forge text output with */
            return MC_INVALID_KEY;
    }
    return MC_OK;
}
