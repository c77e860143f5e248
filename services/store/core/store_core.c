#include "store_core.h"

#include "mc/errors.h"
#include "mc/strutil.h"

#include <string.h>

#define MAX_SEGMENT_NAME 255u

store_where_t store_rep_where(const mc_replica_t *r, const store_local_seg_t *local,
                              uint64_t obj_size)
{
    if (r->type == MC_REPLICA_TYPE_DISK || r->size != obj_size || !r->segment)
        return STORE_AT_INVALID;
    if (!local->name || strcmp(r->segment, local->name) != 0)
        return STORE_AT_REMOTE;
    /* ours: only the current mount's allocations are valid memory */
    if (local->epoch == 0 || r->epoch != local->epoch || r->offset > local->size ||
        r->size > local->size - r->offset)
        return STORE_AT_INVALID;
    return STORE_AT_LOCAL;
}

size_t store_read_order(const mc_replica_t *reps, size_t n, const store_local_seg_t *local,
                        uint64_t obj_size, uint32_t *order)
{
    size_t k = 0;

    if (n > MC_MAX_REPLICAS)
        n = MC_MAX_REPLICAS;
    for (int pass = 0; pass < 2; pass++) {
        store_where_t want = pass == 0 ? STORE_AT_LOCAL : STORE_AT_REMOTE;
        for (size_t i = 0; i < n; i++)
            if (store_rep_where(&reps[i], local, obj_size) == want)
                order[k++] = (uint32_t)i;
    }
    return k;
}

size_t store_disk_order(const mc_replica_t *reps, size_t n, mc_uuid_t self, uint64_t obj_size,
                        uint32_t *order)
{
    size_t k = 0;

    if (n > MC_MAX_REPLICAS)
        n = MC_MAX_REPLICAS;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const mc_replica_t *r = &reps[i];
            if (r->type != MC_REPLICA_TYPE_DISK || r->size != obj_size || obj_size == 0)
                continue;
            if (mc_uuid_equal(r->segment_id, self) != (pass == 0))
                continue;
            if (pass == 1 && (!r->endpoint || !r->endpoint[0]))
                continue; /* a peer's replica we cannot reach */
            order[k++] = (uint32_t)i;
        }
    }
    return k;
}

static bool parse_dec(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s || strlen(s) > 20)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

int store_disk_ref_parse(const char *key, size_t key_len, const char *bucket, const char *offset,
                         const char *length, const char *crc, uint64_t max_len,
                         store_disk_ref_t *out, const char **what)
{
    uint64_t c = 0;

    memset(out, 0, sizeof(*out));
    if (!key || mc_key_validate(key, key_len, MC_MAX_KEY_LEN) != MC_OK) {
        *what = "key must be 1..4096 bytes without NUL";
        return MC_INVALID_KEY;
    }
    out->key = key;
    out->key_len = key_len;
    *what = "bucket must be a decimal integer";
    if (!parse_dec(bucket, UINT64_MAX, &out->bucket))
        return MC_INVALID_PARAMS;
    *what = "offset must be a decimal integer";
    if (!parse_dec(offset, UINT64_MAX, &out->offset))
        return MC_INVALID_PARAMS;
    *what = "length must be 1..the largest readable value";
    if (!parse_dec(length, max_len, &out->length) || out->length == 0)
        return MC_INVALID_PARAMS;
    *what = "crc must be a decimal uint32";
    if (!parse_dec(crc, UINT32_MAX, &c))
        return MC_INVALID_PARAMS;
    out->crc = (uint32_t)c;
    *what = "";
    return MC_OK;
}

store_disk_verdict_t store_disk_add_verdict(int code)
{
    switch (code) {
    case MC_OK:
    case MC_REPLICA_ALREADY_EXISTS: return STORE_DISK_KEEP;
    case MC_INVALID_REPLICA:
    case MC_OBJECT_NOT_FOUND:
    case MC_REPLICA_IS_NOT_READY:
    case MC_NO_AVAILABLE_HANDLE: return STORE_DISK_DROP;
    default: return STORE_DISK_RETRY;
    }
}

uint64_t store_lease_deadline_ms(uint64_t sent_ms, uint64_t lease_ms)
{
    return lease_ms > UINT64_MAX - sent_ms ? UINT64_MAX : sent_ms + lease_ms;
}

bool store_lease_covers(uint64_t deadline_ms, uint64_t done_ms)
{
    return done_ms < deadline_ms;
}

uint64_t store_lease_left_ms(uint64_t deadline_ms, uint64_t now_ms)
{
    return deadline_ms > now_ms ? deadline_ms - now_ms : 0;
}

int store_get_code(int master_code)
{
    if (master_code == MC_REPLICA_IS_GONE || master_code == MC_REPLICA_NOT_FOUND)
        return MC_OBJECT_NOT_FOUND;
    return master_code;
}

void store_put_plan_key(uint32_t i, int code, const mc_replica_t *reps, size_t n_reps,
                        uint64_t size, const store_local_seg_t *local, store_copy_t *copies,
                        size_t cap, size_t *nc, store_put_key_t *k)
{
    *k = (store_put_key_t){.state = STORE_PUT_FAILED, .code = code, .pending = 0};
    if (code == MC_OBJECT_ALREADY_EXISTS) {
        /* objects are immutable: a stored (or being stored) key is a success */
        k->state = STORE_PUT_DONE;
        k->code = MC_OK;
        return;
    }
    if (code != MC_OK)
        return;
    k->state = STORE_PUT_WRITING;
    if (n_reps == 0 || n_reps > MC_MAX_REPLICAS || cap - *nc < n_reps) {
        k->code = n_reps == 0 ? MC_INVALID_REPLICA : MC_INTERNAL_ERROR;
        return;
    }
    for (size_t j = 0; j < n_reps; j++) {
        store_where_t w = store_rep_where(&reps[j], local, size);
        if (w == STORE_AT_INVALID) {
            k->code = MC_INVALID_REPLICA;
            k->pending = 0;
            return; /* checked before appending: no copy of this key is planned */
        }
    }
    for (size_t j = 0; j < n_reps; j++) {
        copies[(*nc)++] = (store_copy_t){.key = i,
                                         .replica = (uint32_t)j,
                                         .where = store_rep_where(&reps[j], local, size),
                                         .status = 1};
        k->pending++;
    }
}

void store_put_copy_done(store_put_key_t *k, int status)
{
    if (k->pending > 0)
        k->pending--;
    if (status != MC_OK && k->code == MC_OK)
        k->code = status;
}

bool store_put_should_end(const store_put_key_t *k)
{
    return k->state == STORE_PUT_WRITING && k->code == MC_OK && k->pending == 0;
}

int store_put_opts_parse(const char *replica_num, const char *preferred, size_t preferred_len,
                         const char *soft_pin, store_put_opts_t *out, const char **what)
{
    uint64_t n = 1;
    bool pin = false;

    *out = (store_put_opts_t){.replica_num = 1, .preferred = NULL, .soft_pin = false};
    if (replica_num && (mc_parse_u64(replica_num, &n) != MC_OK || n < 1 || n > MC_MAX_REPLICAS)) {
        *what = "replica_num must be 1..8";
        return MC_INVALID_PARAMS;
    }
    if (preferred && (preferred_len == 0 || preferred_len > MAX_SEGMENT_NAME ||
                      memchr(preferred, '\0', preferred_len))) {
        *what = "preferred_segment must be a segment name";
        return MC_INVALID_PARAMS;
    }
    if (soft_pin && mc_parse_bool(soft_pin, &pin) != MC_OK) {
        *what = "soft_pin must be a boolean";
        return MC_INVALID_PARAMS;
    }
    out->replica_num = (uint32_t)n;
    out->preferred = preferred;
    out->soft_pin = pin;
    return MC_OK;
}

uint64_t store_backoff_ms(unsigned failures, uint64_t base, uint64_t cap)
{
    uint64_t v = base;

    for (unsigned i = 1; i < failures && v < cap; i++)
        v *= 2;
    return v < cap ? v : cap;
}
