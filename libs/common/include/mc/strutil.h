/* Bounded string helpers: number and size parsing (no atoi/strtok), copying,
 * URL decoding and key validation. All return MC_OK or a negative mc_err_t. */
#ifndef MC_STRUTIL_H
#define MC_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whole string must be a number (leading/trailing blanks allowed); range checked. */
int mc_parse_u64(const char *s, uint64_t *out);
int mc_parse_i64(const char *s, int64_t *out);
int mc_parse_double(const char *s, double *out);
/* true/false, 1/0, yes/no, on/off (any case). */
int mc_parse_bool(const char *s, bool *out);
/* Byte sizes: "3355443200", "16MB", "4gb", "1.5GB", "512k", "2 GiB", "64KiB".
 * Units are binary (K = 1024). Fails on overflow, negative or fractional bytes. */
int mc_parse_size(const char *s, uint64_t *out);
/* "16.0 MiB"-style rendering into buf. */
const char *mc_format_size(uint64_t bytes, char *buf, size_t len);

/* Copies at most len-1 bytes and NUL-terminates; returns MC_BUFFER_OVERFLOW when
 * src did not fit (dst then holds the truncated prefix). */
int mc_strlcpy(char *dst, const char *src, size_t len);

/* Percent-decodes src[0..n) into dst (capacity cap, NUL-terminated); '+' is kept
 * as is. Returns the decoded length, or a negative error on a bad escape or
 * when it does not fit. Decoded NULs are kept (callers validate). */
long mc_url_decode(const char *src, size_t n, char *dst, size_t cap);

/* Object and metadata keys: 1..max_len bytes, no control character (0x00-0x1f,
 * 0x7f) inside: keys appear one per line in text output (/get_all_keys). */
#define MC_MAX_KEY_LEN 4096
int mc_key_validate(const char *key, size_t len, size_t max_len);

#endif
