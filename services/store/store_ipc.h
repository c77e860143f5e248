/* The store service's local-client server: a Unix socket (mode 0660, peer
 * credentials checked) speaking the IPC protocol of mc/ipc_msg.h, with the
 * clients' shared memory (sealed memfds passed with SCM_RIGHTS) mapped so
 * put_from/get_into move bytes once, between the segment (or the network)
 * and the client's memory. docs/ipc.md describes it.
 *
 * Threads: one accept thread, one thread per connected client. A client's
 * requests run in order on its own thread, so one client's large batch never
 * waits behind another's (and never delays another's small request). */
#ifndef MC_STORE_IPC_H
#define MC_STORE_IPC_H

#include "mc/errors.h"
#include "mc/metrics.h"
#include "store_service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mc/auth.h"

#include <sys/types.h>

#define STORE_IPC_MAX_GIDS 16

typedef struct store_ipc_opts {
    const char *path;     /* socket path (its directory is created 0700 if missing) */
    const char *hostname; /* told to clients in the hello reply */
    const char *master;
    uint32_t max_clients;
    uint32_t max_regions;   /* per client */
    uint64_t max_mapped;    /* bytes per client */
    uint32_t max_batch;     /* keys per request */
    uint32_t timeout_ms;    /* to finish a message once started, and to say hello */
    uint32_t view_renew_ms; /* renew open views' holds this often (0 = never) */
    bool ephemeral;         /* told to clients: this service stops with its starter */
    uint32_t allowed_gids[STORE_IPC_MAX_GIDS]; /* gid_t values */
    size_t n_gids;
    /* Admin ops (remove_all, remove_by_regex, force removes) are allowed to
     * a peer whose uid is listed (none listed: the service's own uid), or
     * that sent a token of admin_tokens in its hello (NULL: no token admits). */
    uint32_t admin_uids[STORE_IPC_MAX_GIDS]; /* uid_t values */
    size_t n_admin_uids;
    mc_auth_tokens_t *admin_tokens; /* not owned; outlives the socket */
} store_ipc_opts_t;

typedef struct store_ipc store_ipc_t;

/* Parses "1000,1001" into o->allowed_gids. MC_INVALID_PARAMS on a bad list. */
int store_ipc_parse_gids(const char *list, store_ipc_opts_t *o, mc_errmsg_t *err);
/* The same for --ipc_admin_uids into o->admin_uids. */
int store_ipc_parse_admin_uids(const char *list, store_ipc_opts_t *o, mc_errmsg_t *err);

/* Binds the socket (removing a stale one left by a dead service; refusing a
 * path a live service answers on) and starts accepting. */
int store_ipc_start(store_service_t *svc, mc_metrics_t *metrics, const store_ipc_opts_t *o,
                    store_ipc_t **out, mc_errmsg_t *err);
/* Disconnects every client (their mappings are dropped), joins the threads,
 * removes the socket file. Safe on NULL. */
void store_ipc_stop(store_ipc_t *ipc);

#endif
