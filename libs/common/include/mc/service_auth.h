/* A service's credentials at start-up and on SIGHUP, the same way in every
 * main(): load --auth_token_file / --admin_token_file, apply the loopback
 * rule to each listen address, warn when it runs open to the network, and reload the
 * files on SIGHUP (docs/security.md). */
#ifndef MC_SERVICE_AUTH_H
#define MC_SERVICE_AUTH_H

#include "mc/auth.h"
#include "mc/config.h"

#include <stdbool.h>
#include <stddef.h>

/* The options every service has, one table row each; CFG has the fields
 * char auth_token_file[1024], char admin_token_file[1024],
 * bool insecure_allow_remote, bool metrics_require_auth. */
#define MC_SERVICE_AUTH_OPTS(CFG)                                                             \
    MC_OPT_STR(CFG, auth_token_file, "auth_token_file", "", NULL, "MOONCAKE_AUTH_TOKEN_FILE", \
               "File with the cluster token(s), one or two lines (the first is sent): every " \
               "HTTP API then needs Authorization: Bearer TOKEN; mode 0400 or 0600 "          \
               "(docs/security.md)"),                                                         \
        MC_OPT_STR(CFG, admin_token_file, "admin_token_file", "", NULL,                       \
                   "MOONCAKE_ADMIN_TOKEN_FILE",                                               \
                   "File with the admin token(s): remove_all, remove_by_regex and force "     \
                   "removes need it (without it the cluster token admits them)"),             \
        MC_OPT_BOOL(CFG, insecure_allow_remote, "insecure_allow_remote", "false", NULL,       \
                    "Listen on a non-loopback address without --auth_token_file"),            \
        MC_OPT_BOOL(CFG, metrics_require_auth, "metrics_require_auth", "false", NULL,         \
                    "/metrics needs the cluster token too (else it is open, like /health)")

/* One address the service listens on and the option that set it. */
typedef struct mc_listen {
    const char *flag; /* "rpc_address" */
    const char *host; /* an IP literal or "localhost", without the port */
} mc_listen_t;

/* Loads the files into a and checks every listen host: a non-loopback one
 * needs a cluster token file unless insecure. Returns -1 to go on, or the
 * exit status main returns (2) after printing one line on stderr. */
int mc_service_auth_setup(const char *prog, mc_auth_t *a, const char *token_file,
                          const char *admin_file, bool insecure, const mc_listen_t *listen,
                          size_t n);

/* "auth: cluster and admin tokens", ..., "auth off": for the service's
 * "listening on" line. */
const char *mc_auth_mode(const mc_auth_t *a);

/* Like mc_service_wait_signal, but SIGHUP reloads a's files (one log line:
 * reloaded, or kept the old tokens and why) and then runs reloaded(ctx) when
 * given. Returns the signal number. */
int mc_service_wait_signal_reload(const char *prog, mc_auth_t *a, void (*reloaded)(void *),
                                  void *ctx);

/* The host part of "host:port" / "[v6]:port" into buf (a bare host is copied). */
void mc_listen_host(const char *hostport, char *buf, size_t cap);

#endif
