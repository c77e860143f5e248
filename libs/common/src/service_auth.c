#include "mc/service_auth.h"

#include "mc/log.h"
#include "mc/strutil.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int mc_service_auth_setup(const char *prog, mc_auth_t *a, const char *token_file,
                          const char *admin_file, bool insecure, const mc_listen_t *listen,
                          size_t n)
{
    mc_errmsg_t err = {""};
    const char *remote = NULL;

    if (mc_auth_open(a, token_file, admin_file, &err) != MC_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (mc_auth_bind_check(a, listen[i].flag, listen[i].host, insecure, &err) != MC_OK) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            mc_auth_close(a);
            return 2;
        }
        if (!remote && !mc_auth_is_loopback(listen[i].host))
            remote = listen[i].host;
    }
    /* the mode goes into each service's "listening on" line (mc_auth_mode);
     * only running open to the network gets a line of its own */
    if (!a->cluster && remote)
        MC_WARN("%s: INSECURE: no --auth_token_file and listening on %s "
                "(--insecure_allow_remote): anyone who reaches the port owns the cluster",
                prog, remote);
    return -1;
}

const char *mc_auth_mode(const mc_auth_t *a)
{
    if (a && a->cluster)
        return a->admin ? "auth: cluster and admin tokens" : "auth: cluster token, also admin";
    return a && a->admin ? "auth: admin token only" : "auth off";
}

int mc_service_wait_signal_reload(const char *prog, mc_auth_t *a, void (*reloaded)(void *),
                                  void *ctx)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        mc_errmsg_t err = {""};
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        if (!mc_auth_enabled(a))
            continue;
        if (mc_auth_reload(a, &err) == MC_OK) {
            MC_INFO("%s: SIGHUP: token files reloaded", prog);
            if (reloaded)
                reloaded(ctx);
        } else
            MC_WARN("%s: SIGHUP: kept the old tokens: %s", prog, err.msg);
    }
}

void mc_listen_host(const char *hostport, char *buf, size_t cap)
{
    const char *colon;
    size_t n;

    if (!hostport)
        hostport = "";
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        n = end ? (size_t)(end - hostport - 1) : strlen(hostport + 1);
        hostport++;
    } else {
        colon = strchr(hostport, ':');
        /* one colon: host:port; more: a bare IPv6 literal */
        n = colon && !strchr(colon + 1, ':') ? (size_t)(colon - hostport) : strlen(hostport);
    }
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, hostport, n);
    buf[n] = '\0';
}
