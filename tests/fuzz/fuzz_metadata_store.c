/* libFuzzer target: metadata_store against a reference model.
 *
 * The input is a program of operations on 16 fixed keys (some of them
 * rpc_meta keys): put with a value taken from the input, get, delete, each
 * as one of four callers (no credential, publisher A, publisher B, admin),
 * and clock ticks (claims lapse after TTL_MS). After every operation the
 * store's result must match the model's (the write-once rule and the
 * publisher claims), and at the end every key's bytes and the stats
 * counters must agree with it. */
#include "mc/errors.h"
#include "metadata_store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

enum { NKEYS = 16, MAXVAL = 64, TTL_MS = 1000 };

static const char *const pubs[3] = {NULL, "publisher-a-0123456789", "publisher-b-0123456789"};
static uint64_t now_ms;

typedef struct model_entry {
    char key[32];
    size_t klen;
    int present;
    size_t len;
    unsigned char val[MAXVAL];
    int claimed, pub; /* pub: 1 or 2 while claimed */
    uint64_t seen;
} model_entry_t;

/* who: 0 none, 1 and 2 the publishers, 3 admin (no credential) */
static metadata_cred_t cred_of(int who)
{
    const char *p = who == 1 || who == 2 ? pubs[who] : NULL;
    return (metadata_cred_t){
        .pub = p, .len = p ? strlen(p) : 0, .admin = who == 3, .now_ms = now_ms};
}

static int lapsed(const model_entry_t *e)
{
    return now_ms >= e->seen && now_ms - e->seen >= TTL_MS;
}

static int may_change(const model_entry_t *e, int who)
{
    return !e->claimed || who == 3 || (who == e->pub) || lapsed(e);
}

static void claim_after(model_entry_t *e, int who)
{
    if (who == 1 || who == 2) {
        e->claimed = 1;
        e->pub = who;
        e->seen = now_ms;
    } else if (e->claimed && lapsed(e) && who != 3) {
        e->claimed = 0;
    }
}

static void model_init(model_entry_t *m)
{
    for (int i = 0; i < NKEYS; i++) {
        int n = snprintf(m[i].key, sizeof(m[i].key),
                         i % 4 == 0 ? "mooncake/rpc_meta/n%d" : "mooncake/ram/seg%d", i);
        m[i].klen = (size_t)n;
        m[i].present = 0;
        m[i].len = 0;
    }
}

static void do_put(metadata_store_t *st, model_entry_t *e, const unsigned char *val, size_t len,
                   int who)
{
    metadata_put_result_t res;
    metadata_cred_t c = cred_of(who);
    int rc = metadata_store_put_as(st, e->key, e->klen, val, len, &c, &res);
    int rpc = metadata_key_is_rpc_meta(e->key, e->klen);

    if (!e->present) {
        CHECK(rc == MC_OK && res == METADATA_PUT_CREATED);
        e->claimed = 0;
        claim_after(e, who);
    } else if (!may_change(e, who)) {
        CHECK(rc == MC_ILLEGAL_CLIENT);
        return;
    } else if (rpc && (e->len != len || memcmp(e->val, val, len) != 0)) {
        CHECK(rc == MC_OBJECT_ALREADY_EXISTS);
        return;
    } else {
        CHECK(rc == MC_OK && res == (rpc ? METADATA_PUT_UNCHANGED : METADATA_PUT_UPDATED));
        claim_after(e, who);
    }
    e->present = 1;
    e->len = len;
    if (len)
        memcpy(e->val, val, len);
}

static void check_get(metadata_store_t *st, model_entry_t *e, int who)
{
    metadata_value_t *v = NULL;
    metadata_cred_t c = cred_of(who);
    int rc = metadata_store_get_as(st, e->key, e->klen, &c, &v);

    if (!e->present) {
        CHECK(rc == MC_OBJECT_NOT_FOUND && !v);
        return;
    }
    if (e->claimed && who == e->pub)
        e->seen = now_ms; /* the publisher's get refreshes its claim */
    CHECK(rc == MC_OK);
    CHECK(metadata_value_len(v) == e->len);
    CHECK(memcmp(metadata_value_data(v), e->val, e->len) == 0);
    metadata_value_release(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model_entry_t m[NKEYS];
    metadata_store_t *st = metadata_store_create();
    metadata_stats_t s;
    uint64_t keys = 0, kbytes = 0, vbytes = 0;
    size_t i = 0;

    if (!st)
        return 0;
    metadata_store_set_publisher_ttl(st, TTL_MS);
    now_ms = 0;
    model_init(m);
    while (i < size) {
        uint8_t op = data[i++];
        model_entry_t *e = &m[(op >> 2) % NKEYS];
        int who = op >> 6;
        switch (op & 3) {
        case 0: { /* put: next byte is the length, then that many bytes */
            size_t len = i < size ? data[i++] % (MAXVAL + 1) : 0;
            if (len > size - i)
                len = size - i;
            do_put(st, e, data + i, len, who);
            i += len;
            break;
        }
        case 1: check_get(st, e, who); break;
        case 2: {
            metadata_cred_t c = cred_of(who);
            int rc = metadata_store_delete_as(st, e->key, e->klen, &c);
            if (!e->present) {
                CHECK(rc == MC_OBJECT_NOT_FOUND);
            } else if (!may_change(e, who)) {
                CHECK(rc == MC_ILLEGAL_CLIENT);
            } else {
                CHECK(rc == MC_OK);
                e->present = 0;
            }
            break;
        }
        default: /* tick: the next byte times 50 ms */
            now_ms += (uint64_t)(i < size ? data[i++] : 1) * 50;
            break;
        }
    }
    for (int k = 0; k < NKEYS; k++) {
        check_get(st, &m[k], 0);
        if (m[k].present) {
            keys++;
            kbytes += m[k].klen;
            vbytes += m[k].len;
        }
    }
    metadata_store_stats(st, &s);
    CHECK(s.keys == keys && s.key_bytes == kbytes && s.value_bytes == vbytes);
    metadata_store_destroy(st);
    return 0;
}
