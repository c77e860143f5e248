#include "verified.h"

#include <stdlib.h>

#include "mc/thread.h"

typedef struct slot {
    bool used;
    store_verified_key_t k;
} slot_t;

/* lock guards every slot; mask and the slots pointer are fixed at create. */
struct store_verified {
    mc_mutex_t lock;
    size_t mask;
    slot_t *slots MC_PT_GUARDED_BY(lock);
};

/* Offsets are unique among live replicas of one epoch: they pick the slot. */
static size_t slot_of(const store_verified_t *v, const store_verified_key_t *k)
{
    uint64_t h = (k->offset ^ (k->epoch << 40)) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & v->mask;
}

static bool same(const store_verified_key_t *a, const store_verified_key_t *b)
{
    return a->epoch == b->epoch && a->offset == b->offset && a->size == b->size &&
           a->checksum == b->checksum;
}

store_verified_t *store_verified_create(size_t slots)
{
    store_verified_t *v = calloc(1, sizeof(*v));
    size_t n = 1;

    while (n < slots && n < (1u << 24))
        n <<= 1;
    if (!v || !(v->slots = calloc(n, sizeof(slot_t)))) {
        free(v);
        return NULL;
    }
    v->mask = n - 1;
    mc_mutex_init(&v->lock);
    return v;
}

void store_verified_destroy(store_verified_t *v)
{
    if (!v)
        return;
    mc_mutex_destroy(&v->lock);
    free(v->slots);
    free(v);
}

void store_verified_mark(store_verified_t *v, const store_verified_key_t *k)
{
    if (!v)
        return;
    mc_mutex_lock(&v->lock);
    v->slots[slot_of(v, k)] = (slot_t){true, *k};
    mc_mutex_unlock(&v->lock);
}

bool store_verified_has(store_verified_t *v, const store_verified_key_t *k)
{
    size_t i;
    bool hit;

    if (!v)
        return false;
    i = slot_of(v, k);
    mc_mutex_lock(&v->lock);
    hit = v->slots[i].used && same(&v->slots[i].k, k);
    mc_mutex_unlock(&v->lock);
    return hit;
}
