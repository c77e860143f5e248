/* The SSD backend under many threads as a plain program (what make tsan
 * runs: Criterion cannot start under TSan). Writers (aligned and unaligned
 * values, through the staging pipeline), batch readers, removers, an evictor
 * and the scrub on one mc_ssd_t over a small capacity, then a reopen. Every
 * read is byte-exact or a clean miss. Bounded in count; exit 0 = pass. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mc/crc32c.h"
#include "mc/errors.h"
#include "ssd.h"

#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "ssd_stress: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                            \
        }                                                                       \
    } while (0)

enum { WRITERS = 3, BATCHES = 10, PER = 4, MAXOBJ = WRITERS * BATCHES * PER };

typedef struct obj {
    char key[24];
    uint32_t seed;
    mc_ssd_loc_t loc;
} obj_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static obj_t objs[MAXOBJ];
static int nobj, writers_done;
static mc_ssd_t *S;

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static bool done(void)
{
    pthread_mutex_lock(&mu);
    bool d = writers_done == WRITERS;
    pthread_mutex_unlock(&mu);
    return d;
}

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int b = 0; b < BATCHES; b++) {
        mc_ssd_item_t it[PER];
        struct iovec iov[PER];
        uint8_t *mem[PER];
        char keys[PER][24];
        uint32_t seeds[PER];
        for (int i = 0; i < PER; i++) {
            size_t len = (size_t)((w * 7919 + b * 104729 + i * 1299709) % 3000000) + 1;
            seeds[i] = (uint32_t)(w * 100000 + b * 100 + i);
            mem[i] = aligned_alloc(4096, (len + 4096) / 4096 * 4096 + 4096);
            uint8_t *v = mem[i] + (i % 2 ? 64 : 0); /* every other one unaligned */
            fill(v, len, seeds[i]);
            iov[i] = (struct iovec){v, len};
            snprintf(keys[i], sizeof(keys[i]), "w%d-b%d-i%d", w, b, i);
            it[i] =
                (mc_ssd_item_t){keys[i], strlen(keys[i]), &iov[i], 1, len, mc_crc32c(0, v, len)};
        }
        mc_ssd_loc_t loc[PER];
        int codes[PER];
        (void)mc_ssd_write(S, it, PER, loc, codes);
        pthread_mutex_lock(&mu);
        for (int i = 0; i < PER; i++) {
            CHECK(codes[i] == MC_OK || codes[i] == MC_NO_AVAILABLE_HANDLE);
            if (codes[i] != MC_OK)
                continue;
            obj_t *o = &objs[nobj++];
            memcpy(o->key, keys[i], sizeof(o->key)); /* both 24 bytes, NUL inside */
            o->seed = seeds[i];
            o->loc = loc[i];
        }
        pthread_mutex_unlock(&mu);
        for (int i = 0; i < PER; i++)
            free(mem[i]);
    }
    pthread_mutex_lock(&mu);
    writers_done++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Reads up to 3 random objects in one batch; checks every byte of a hit. */
static int read_some(unsigned *r)
{
    obj_t o[3];
    int n = 0;
    pthread_mutex_lock(&mu);
    for (; nobj && n < 3; n++)
        o[n] = objs[(*r = *r * 1103515245u + 12345u) % (unsigned)nobj];
    pthread_mutex_unlock(&mu);
    if (!n)
        return 0;
    mc_ssd_read_item_t it[3];
    uint8_t *mem[3];
    for (int i = 0; i < n; i++) {
        mem[i] = aligned_alloc(4096, (o[i].loc.length + 4096) / 4096 * 4096 + 4096);
        it[i] =
            (mc_ssd_read_item_t){o[i].loc, o[i].key, strlen(o[i].key), mem[i] + (i == 2 ? 8 : 0)};
    }
    int codes[3];
    (void)mc_ssd_read_batch(S, it, (size_t)n, codes);
    for (int i = 0; i < n; i++) {
        CHECK(codes[i] == MC_OK || codes[i] == MC_OBJECT_NOT_FOUND);
        if (codes[i] == MC_OK) {
            uint8_t *want = malloc(o[i].loc.length + 1);
            fill(want, o[i].loc.length, o[i].seed);
            CHECK(memcmp(want, it[i].dst, o[i].loc.length) == 0);
            free(want);
        }
        free(mem[i]);
    }
    return n;
}

static void *reader(void *arg)
{
    unsigned r = (unsigned)(uintptr_t)arg;
    int reads = 0;
    while (!done() || reads < 30)
        reads += read_some(&r);
    return NULL;
}

static void *remover(void *arg)
{
    (void)arg;
    for (int i = 0; !done(); i += 3) {
        pthread_mutex_lock(&mu);
        obj_t o = i < nobj ? objs[i] : (obj_t){0};
        pthread_mutex_unlock(&mu);
        if (!o.key[0]) {
            i -= 3;
            continue;
        }
        int rc = mc_ssd_remove(S, o.key, strlen(o.key), &o.loc);
        CHECK(rc == MC_OK || rc == MC_OBJECT_NOT_FOUND);
    }
    return NULL;
}

static int count(void *arg, const char *k, size_t kl, const mc_ssd_loc_t *l)
{
    (void)k;
    (void)kl;
    (void)l;
    (*(int *)arg)++;
    return 0;
}

static void *evictor(void *arg)
{
    (void)arg;
    uint64_t cursor = 0;
    while (!done()) {
        uint64_t b;
        int n = 0;
        if (mc_ssd_evict_pick(S, &b, count, &n) == MC_OK)
            CHECK(mc_ssd_evict_commit(S, b) == MC_OK);
        int bad = 0;
        if (mc_ssd_scrub(S, &cursor, count, &bad) == MC_OBJECT_NOT_FOUND)
            cursor = 0;
        CHECK(bad == 0);
    }
    return NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(void)
{
    char dir[] = "/tmp/mc_ssd_stress_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    mc_ssd_cfg_t c = {.path = dir,
                      .cluster_id = "stress",
                      .capacity = 40u << 20,
                      .bucket_bytes = 8u << 20,
                      .bucket_keys = 6,
                      .high_wm = 0.6,
                      .low_wm = 0.4};
    CHECK(mc_ssd_open(&c, &S, NULL) == MC_OK);
    pthread_t t[WRITERS + 4];
    for (int i = 0; i < WRITERS; i++)
        CHECK(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i) == 0);
    CHECK(pthread_create(&t[WRITERS], NULL, reader, (void *)1) == 0);
    CHECK(pthread_create(&t[WRITERS + 1], NULL, reader, (void *)2) == 0);
    CHECK(pthread_create(&t[WRITERS + 2], NULL, remover, NULL) == 0);
    CHECK(pthread_create(&t[WRITERS + 3], NULL, evictor, NULL) == 0);
    for (int i = 0; i < WRITERS + 4; i++)
        pthread_join(t[i], NULL);
    mc_ssd_stats_t st;
    mc_ssd_stats(S, &st);
    CHECK(st.used <= c.capacity);
    CHECK(st.crc_errors == 0 && st.read_errors == 0 && st.write_errors == 0);
    mc_ssd_close(S);
    mc_ssd_recovery_t rep;
    CHECK(mc_ssd_open(&c, &S, &rep) == MC_OK);
    CHECK(rep.discarded == 0 && rep.records == st.records);
    unsigned r = 7;
    for (int i = 0; i < 20; i++)
        (void)read_some(&r);
    mc_ssd_close(S);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    printf("ssd_stress: %d objects written, %llu live after, %llu evicted buckets, ok\n", nobj,
           (unsigned long long)st.records, (unsigned long long)st.evicted_buckets);
    return 0;
}
