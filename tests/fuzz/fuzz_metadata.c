/* libFuzzer target: the metadata server's request-parsing path.
 *
 * The input is a raw query string as it follows '?' in a request line. It is
 * split the way the HTTP layer splits it (libmicrohttpd: '&' between
 * arguments, the first '=' between name and value, '+' read as a space,
 * escapes left in place), then each value goes through what the routes use:
 * mc_url_decode with the HTTP layer's buffer size, metadata_key_problem /
 * metadata_key_validate, and, for the first valid "key", a put/get/delete on
 * a metadata_store. Checked: decoding never writes past its buffer, never
 * grows the input, round-trips through a full percent-encoding, and the
 * store returns exactly what was put. */
#include "mc/errors.h"
#include "mc/strutil.h"
#include "metadata_store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

/* Percent-encodes every byte of s[0..n) into a new buffer; caller frees. */
static char *encode_all(const char *s, size_t n, size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(n * 3 + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[3 * i] = '%';
        out[3 * i + 1] = hex[(unsigned char)s[i] >> 4];
        out[3 * i + 2] = hex[(unsigned char)s[i] & 15];
    }
    out[3 * n] = '\0';
    *out_len = 3 * n;
    return out;
}

/* What mc_http_req_query does with one raw value (buffer of n + 1 bytes). */
static long decode_value(const char *raw, size_t n, char **out)
{
    char *buf = malloc(n + 1);
    long got;

    if (!buf)
        return MC_INTERNAL_ERROR;
    got = mc_url_decode(raw, n, buf, n + 1);
    if (got < 0) {
        free(buf);
        return got;
    }
    CHECK((size_t)got <= n);
    CHECK(buf[got] == '\0');
    *out = buf;
    return got;
}

static void check_round_trip(const char *dec, size_t n)
{
    size_t elen;
    char *enc = encode_all(dec, n, &elen), *again = NULL;
    long got;

    if (!enc)
        return;
    got = decode_value(enc, elen, &again);
    CHECK(got == (long)n);
    CHECK(memcmp(again, dec, n) == 0);
    free(again);
    free(enc);
}

/* The routes' view of a key: validate, then one store operation chosen by
 * the key's length so every path is reached. */
static void exercise_key(metadata_store_t *st, const char *key, size_t len)
{
    const char *problem = metadata_key_problem(key, len);
    metadata_value_t *v = NULL;
    metadata_put_result_t res;
    int rc;

    CHECK((problem == NULL) == (metadata_key_validate(key, len) == MC_OK));
    /* directory keys are binary: only object keys refuse control characters */
    CHECK(mc_key_validate(key, len, MC_MAX_KEY_LEN) != MC_OK || problem == NULL);
    if (problem) {
        CHECK(metadata_store_put(st, key, len, "v", 1, NULL) == MC_INVALID_KEY);
        CHECK(metadata_store_get(st, key, len, &v) == MC_INVALID_KEY && !v);
        CHECK(metadata_store_delete(st, key, len) == MC_INVALID_KEY);
        return;
    }
    /* the key itself as the value: put, read back, re-put */
    rc = metadata_store_put(st, key, len, key, len, &res);
    CHECK(rc == MC_OK);
    CHECK(metadata_store_get(st, key, len, &v) == MC_OK);
    CHECK(metadata_value_len(v) == len && memcmp(metadata_value_data(v), key, len) == 0);
    metadata_value_release(v);
    rc = metadata_store_put(st, key, len, key, len / 2, &res);
    if (metadata_key_is_rpc_meta(key, len))
        CHECK(rc == MC_OBJECT_ALREADY_EXISTS); /* shorter value: different */
    else
        CHECK(rc == MC_OK && res == METADATA_PUT_UPDATED);
    CHECK(metadata_store_get(st, key, len, &v) == MC_OK);
    CHECK(metadata_value_len(v) == (rc == MC_OK ? len / 2 : len));
    metadata_value_release(v);
    if (len % 2)
        CHECK(metadata_store_delete(st, key, len) == MC_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    metadata_store_t *st;
    size_t pos = 0;
    int seen_key = 0;

    if (!q)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';
    for (size_t i = 0; i < size; i++) /* MHD_unescape_plus */
        if (q[i] == '+')
            q[i] = ' ';
    st = metadata_store_create();
    if (!st) {
        free(q);
        return 0;
    }
    while (pos <= size) {
        char *amp = memchr(q + pos, '&', size - pos);
        size_t end = amp ? (size_t)(amp - q) : size;
        char *eq = memchr(q + pos, '=', end - pos);
        size_t name_len = eq ? (size_t)(eq - (q + pos)) : end - pos;
        const char *raw = eq ? eq + 1 : q + end;
        size_t raw_len = eq ? end - (size_t)(eq + 1 - q) : 0;
        char *dec = NULL;
        long n = decode_value(raw, raw_len, &dec);

        if (n >= 0) {
            check_round_trip(dec, (size_t)n);
            if (!seen_key && name_len == 3 && memcmp(q + pos, "key", 3) == 0) {
                seen_key = 1;
                exercise_key(st, dec, (size_t)n);
            }
            free(dec);
        } else {
            CHECK(n == MC_INVALID_PARAMS);
        }
        pos = end + 1;
    }
    metadata_store_destroy(st);
    free(q);
    return 0;
}
