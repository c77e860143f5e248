#include "mc/uuid.h"

#include "mc/errors.h"

#include <string.h>
#include <uuid/uuid.h>

static mc_uuid_t from_bytes(const unsigned char b[16])
{
    mc_uuid_t id = {0, 0};
    for (int i = 0; i < 8; i++) {
        id.hi = (id.hi << 8) | b[i];
        id.lo = (id.lo << 8) | b[8 + i];
    }
    return id;
}

static void to_bytes(mc_uuid_t id, unsigned char b[16])
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(id.hi & 0xff);
        b[8 + i] = (unsigned char)(id.lo & 0xff);
        id.hi >>= 8;
        id.lo >>= 8;
    }
}

mc_uuid_t mc_uuid_generate(void)
{
    uuid_t u;
    uuid_generate_random(u);
    return from_bytes(u);
}

/* Hand-rolled hex: uuid_unparse formats byte by byte through sprintf, and
 * replies format a segment id per replica on the hot path. */
const char *mc_uuid_format(mc_uuid_t id, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    char *p = buf;

    to_bytes(id, b);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return buf;
}

int mc_uuid_parse(const char *s, mc_uuid_t *out)
{
    uuid_t u;
    if (!s || strlen(s) != MC_UUID_STR_LEN - 1 || uuid_parse(s, u) != 0)
        return MC_INVALID_PARAMS;
    *out = from_bytes(u);
    return MC_OK;
}

bool mc_uuid_equal(mc_uuid_t a, mc_uuid_t b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

bool mc_uuid_is_nil(mc_uuid_t id)
{
    return id.hi == 0 && id.lo == 0;
}
