/* Helpers shared by the transfer engine tests. */
#ifndef TE_TEST_UTIL_H
#define TE_TEST_UTIL_H

#include "mc/transfer.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deterministic bytes: pattern(seed, i) for i in [0, len). */
void tu_fill(void *buf, size_t len, uint32_t seed, uint64_t start);
/* Index of the first byte differing from the pattern, or len when all match. */
size_t tu_check(const void *buf, size_t len, uint32_t seed, uint64_t start);
/* malloc'd + filled with a pattern (seed). */
void *tu_alloc(size_t len, uint32_t seed);

/* A TCP engine on 127.0.0.1:0 with defaults changed as given. */
mc_te_t *tu_engine(unsigned conns, uint32_t timeout_ms, int crc);

/* A peer process: an engine with segment `name` of `len` bytes filled with
 * pattern seed `seed`; its descriptor arrives in *desc (caller frees). */
typedef struct tu_peer {
    pid_t pid;
    int ctl; /* closing it makes the peer exit cleanly */
    char *desc;
    size_t desc_len;
} tu_peer_t;
int tu_peer_start(tu_peer_t *p, const char *name, size_t len, uint32_t seed,
                  const char *local_name);
/* The same in two steps: fork while this process has no threads yet (a fork
 * of a threaded process may inherit a held allocator lock), start later. */
int tu_peer_fork(tu_peer_t *p);
int tu_peer_go(tu_peer_t *p, const char *name, size_t len, uint32_t seed, const char *local_name);
/* Asks the peer to check its segment [off, off+len) against seed; 0 = match. */
int tu_peer_verify(tu_peer_t *p, uint64_t off, uint64_t len, uint32_t seed);
/* Stops the peer cleanly (or reaps it if it was killed); returns its exit status. */
int tu_peer_stop(tu_peer_t *p);

/* A listener on 127.0.0.1 that accepts and never answers. */
typedef struct tu_silent {
    int lfd;
    uint16_t port;
} tu_silent_t;
int tu_silent_start(tu_silent_t *s);
void tu_silent_stop(tu_silent_t *s);
/* A descriptor JSON for a fake segment at 127.0.0.1:port; caller frees. */
char *tu_fake_desc(const char *name, uint16_t port, uint64_t len);

#endif
