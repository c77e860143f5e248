#include "lease_cache.h"

#include <stdlib.h>
#include <string.h>

#include "mc/thread.h"

typedef struct slot {
    uint16_t len; /* 0 = empty */
    char key[STORE_LEASE_KEY_MAX];
    store_lease_entry_t e;
} slot_t;

/* lock guards every slot; mask and the slots pointer are fixed at create. */
struct store_lease_cache {
    mc_mutex_t lock;
    size_t mask;
    slot_t *slots MC_PT_GUARDED_BY(lock);
};

static uint64_t fnv1a(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
    return h;
}

store_lease_cache_t *store_lease_cache_create(size_t slots)
{
    store_lease_cache_t *c = calloc(1, sizeof(*c));
    size_t n = 1;

    while (n < slots && n < (1u << 24))
        n <<= 1;
    if (!c || !(c->slots = calloc(n, sizeof(slot_t)))) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    mc_mutex_init(&c->lock);
    return c;
}

void store_lease_cache_destroy(store_lease_cache_t *c)
{
    if (!c)
        return;
    mc_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

void store_lease_cache_put(store_lease_cache_t *c, const char *key, size_t len,
                           const store_lease_entry_t *e)
{
    slot_t *s;

    if (!c || len == 0 || len > STORE_LEASE_KEY_MAX)
        return;
    s = &c->slots[fnv1a(key, len) & c->mask];
    mc_mutex_lock(&c->lock);
    memcpy(s->key, key, len);
    s->len = (uint16_t)len;
    s->e = *e;
    mc_mutex_unlock(&c->lock);
}

bool store_lease_cache_get(store_lease_cache_t *c, const char *key, size_t len, uint64_t now_ms,
                           store_lease_entry_t *out)
{
    slot_t *s;
    bool hit;

    if (!c || len == 0 || len > STORE_LEASE_KEY_MAX)
        return false;
    s = &c->slots[fnv1a(key, len) & c->mask];
    mc_mutex_lock(&c->lock);
    hit = s->len == len && memcmp(s->key, key, len) == 0 && now_ms < s->e.deadline_ms;
    if (hit)
        *out = s->e;
    mc_mutex_unlock(&c->lock);
    return hit;
}
