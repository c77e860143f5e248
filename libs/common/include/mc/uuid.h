/* 128-bit UUIDs (libuuid), as the two 64-bit halves Mooncake uses on the wire. */
#ifndef MC_UUID_H
#define MC_UUID_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mc_uuid {
    uint64_t hi;
    uint64_t lo;
} mc_uuid_t;

#define MC_UUID_STR_LEN 37 /* 36 chars + NUL */

mc_uuid_t mc_uuid_generate(void);
/* Canonical 8-4-4-4-12 lower-case hex into buf (at least MC_UUID_STR_LEN). */
const char *mc_uuid_format(mc_uuid_t id, char *buf);
/* Parses the canonical form; MC_INVALID_PARAMS on anything else. */
int mc_uuid_parse(const char *s, mc_uuid_t *out);
bool mc_uuid_equal(mc_uuid_t a, mc_uuid_t b);
bool mc_uuid_is_nil(mc_uuid_t id);

#endif
