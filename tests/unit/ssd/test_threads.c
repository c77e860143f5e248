/* Concurrent writers, readers, removers and an evictor on one mc_ssd_t:
 * every read is byte-exact or a clean miss (never wrong bytes). Bounded in
 * count; run under ASan here (and TSan by make tsan). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "ssd_util.h"

static char dir[64];
static void setup(void)
{
    tu_tmpdir(dir);
}
static void teardown(void)
{
    tu_rmrf(dir);
}
TestSuite(ssd_threads, .init = setup, .fini = teardown);

enum { WRITERS = 3, BATCHES = 12, PER = 4, MAXOBJ = WRITERS * BATCHES * PER };

typedef struct obj {
    char key[24];
    uint32_t seed;
    mc_ssd_loc_t loc;
    int state; /* 0 none, 1 written, 2 removed */
} obj_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static obj_t objs[MAXOBJ];
static int nobj, writers_done;
static mc_ssd_t *S;

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int b = 0; b < BATCHES; b++) {
        mc_ssd_item_t it[PER];
        struct iovec iov[PER];
        uint8_t *vals[PER];
        char keys[PER][24];
        uint32_t seeds[PER];
        for (int i = 0; i < PER; i++) {
            size_t len = (size_t)((w * 7919 + b * 104729 + i * 1299709) % 200000) + 1;
            seeds[i] = (uint32_t)(w * 100000 + b * 100 + i);
            vals[i] = malloc(len);
            tu_fill(vals[i], len, seeds[i]);
            iov[i] = (struct iovec){vals[i], len};
            snprintf(keys[i], sizeof(keys[i]), "w%d-b%d-i%d", w, b, i);
            it[i] = (mc_ssd_item_t){keys[i], strlen(keys[i]),           &iov[i], 1,
                                    len,     mc_crc32c(0, vals[i], len)};
        }
        mc_ssd_loc_t loc[PER];
        int codes[PER];
        (void)mc_ssd_write(S, it, PER, loc, codes);
        pthread_mutex_lock(&mu);
        for (int i = 0; i < PER; i++) {
            cr_assert(codes[i] == MC_OK ||
                      codes[i] == MC_NO_AVAILABLE_HANDLE); /* full: the evictor lags */
            if (codes[i] != MC_OK)
                continue;
            obj_t *o = &objs[nobj++];
            memcpy(o->key, keys[i], sizeof(o->key)); /* both 24 bytes, NUL inside */
            o->seed = seeds[i];
            o->loc = loc[i];
            o->state = 1;
        }
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < PER; i++)
            free(vals[i]);
    }
    pthread_mutex_lock(&mu);
    writers_done++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

static bool done(void)
{
    pthread_mutex_lock(&mu);
    bool d = writers_done == WRITERS;
    pthread_mutex_unlock(&mu);
    return d;
}

static void *reader(void *arg)
{
    unsigned r = (unsigned)(uintptr_t)arg;
    int reads = 0;
    while (!done() || reads < 50) {
        pthread_mutex_lock(&mu);
        obj_t o = nobj ? objs[(r = r * 1103515245u + 12345u) % (unsigned)nobj] : (obj_t){0};
        pthread_mutex_unlock(&mu);
        if (!o.state)
            continue;
        int rc = tu_get(S, o.key, &o.loc, o.seed); /* compares the bytes when MC_OK */
        /* a miss: removed, or its bucket picked for eviction */
        cr_assert(rc == MC_OK || rc == MC_OBJECT_NOT_FOUND, "read %s: %d", o.key, rc);
        reads++;
    }
    return NULL;
}

static void *remover(void *arg)
{
    (void)arg;
    int i = 0;
    while (!done()) {
        pthread_mutex_lock(&mu);
        obj_t *o = i < nobj ? &objs[i] : NULL;
        obj_t c = o ? *o : (obj_t){0};
        if (o)
            o->state = 2;
        pthread_mutex_unlock(&mu);
        if (!o)
            continue;
        int rc = mc_ssd_remove(S, c.key, strlen(c.key), &c.loc);
        cr_assert(rc == MC_OK || rc == MC_OBJECT_NOT_FOUND);
        i += 3;
    }
    return NULL;
}

static void *evictor(void *arg)
{
    (void)arg;
    while (!done()) {
        uint64_t b;
        if (mc_ssd_evict_pick(S, &b, NULL, NULL) == MC_OK)
            cr_assert_eq(mc_ssd_evict_commit(S, b), MC_OK);
    }
    return NULL;
}

Test(ssd_threads, writers_readers_removers_evictor)
{
    mc_ssd_cfg_t c = tu_cfg(dir);
    c.capacity = 12u << 20; /* small: the evictor has work */
    c.bucket_bytes = 1u << 20;
    c.bucket_keys = 6;
    c.high_wm = 0.6;
    c.low_wm = 0.4;
    S = tu_open(&c, NULL);
    pthread_t t[WRITERS + 4];
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i);
    pthread_create(&t[WRITERS], NULL, reader, (void *)1);
    pthread_create(&t[WRITERS + 1], NULL, reader, (void *)2);
    pthread_create(&t[WRITERS + 2], NULL, remover, NULL);
    pthread_create(&t[WRITERS + 3], NULL, evictor, NULL);
    for (int i = 0; i < WRITERS + 4; i++)
        pthread_join(t[i], NULL);
    mc_ssd_stats_t st;
    mc_ssd_stats(S, &st);
    cr_assert_leq(st.used, c.capacity);
    /* what is left reads back after a restart */
    mc_ssd_close(S);
    mc_ssd_recovery_t rep;
    S = tu_open(&c, &rep);
    cr_assert_eq(rep.discarded, 0);
    cr_assert_eq(rep.records, st.records);
    for (int i = 0; i < nobj; i++) {
        int rc = tu_get(S, objs[i].key, &objs[i].loc, objs[i].seed);
        cr_assert(rc == MC_OK || rc == MC_OBJECT_NOT_FOUND);
    }
    mc_ssd_close(S);
}
