/* libFuzzer target: metadata_store against a reference model.
 *
 * The input is a program of operations on 16 fixed keys (some of them
 * rpc_meta keys): put with a value taken from the input, get, delete. After
 * every operation the store's result must match the model's (including the
 * write-once rule), and at the end every key's bytes and the stats counters
 * must agree with it. */
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

enum { NKEYS = 16, MAXVAL = 64 };

typedef struct model_entry {
    char key[32];
    size_t klen;
    int present;
    size_t len;
    unsigned char val[MAXVAL];
} model_entry_t;

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

static void do_put(metadata_store_t *st, model_entry_t *e, const unsigned char *val, size_t len)
{
    metadata_put_result_t res;
    int rc = metadata_store_put(st, e->key, e->klen, val, len, &res);
    int rpc = metadata_key_is_rpc_meta(e->key, e->klen);

    if (!e->present) {
        CHECK(rc == MC_OK && res == METADATA_PUT_CREATED);
    } else if (rpc && (e->len != len || memcmp(e->val, val, len) != 0)) {
        CHECK(rc == MC_OBJECT_ALREADY_EXISTS);
        return;
    } else {
        CHECK(rc == MC_OK && res == (rpc ? METADATA_PUT_UNCHANGED : METADATA_PUT_UPDATED));
    }
    e->present = 1;
    e->len = len;
    if (len)
        memcpy(e->val, val, len);
}

static void check_get(metadata_store_t *st, const model_entry_t *e)
{
    metadata_value_t *v = NULL;
    int rc = metadata_store_get(st, e->key, e->klen, &v);

    if (!e->present) {
        CHECK(rc == MC_OBJECT_NOT_FOUND && !v);
        return;
    }
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
    model_init(m);
    while (i < size) {
        uint8_t op = data[i++];
        model_entry_t *e = &m[(op >> 2) % NKEYS];
        switch (op & 3) {
        case 0:
        case 1: { /* put: next byte is the length, then that many bytes */
            size_t len = i < size ? data[i++] % (MAXVAL + 1) : 0;
            if (len > size - i)
                len = size - i;
            do_put(st, e, data + i, len);
            i += len;
            break;
        }
        case 2: check_get(st, e); break;
        default: {
            int rc = metadata_store_delete(st, e->key, e->klen);
            CHECK(rc == (e->present ? MC_OK : MC_OBJECT_NOT_FOUND));
            e->present = 0;
            break;
        }
        }
    }
    for (int k = 0; k < NKEYS; k++) {
        check_get(st, &m[k]);
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
