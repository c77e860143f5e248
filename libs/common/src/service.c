#include "mc/service.h"

#include "mc/errors.h"
#include "mc/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

void mc_service_block_signals(void)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int mc_service_wait_signal(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    for (;;) {
        if (sigwait(&set, &sig) == 0 && sig != SIGHUP)
            return sig;
    }
}

int mc_service_load_config(const mc_cfg_spec_t *spec, void *cfg, int argc, char **argv,
                           const char *(*log_level_of)(const void *cfg))
{
    mc_cfg_result_t res;
    mc_cfg_status_t st = mc_config_load(spec, cfg, argc, argv, &res);
    int level;

    if (st == MC_CFG_HELP)
        return 0;
    if (st == MC_CFG_ERROR) {
        fprintf(stderr, "%s\n", res.err.msg);
        return 2;
    }
    level = mc_log_level_parse(log_level_of(cfg));
    mc_log_set_level(level < 0 ? MC_LOG_INFO : (mc_log_level_t)level);
    if (res.config_path[0])
        MC_INFO("%s: read config file %s", spec->prog, res.config_path);
    if (res.ignored_keys[0])
        MC_WARN("%s: config file keys not used by this service: %s", spec->prog, res.ignored_keys);
    return -1;
}

static void *lifeline_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];

    /* the starter never writes: any return of read is the end (0 = closed) */
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    kill(getpid(), SIGTERM);
    return NULL;
}

int mc_service_watch_lifeline(int fd)
{
    pthread_t t;

    if (fd < 0)
        return MC_OK;
    if (pthread_create(&t, NULL, lifeline_main, (void *)(intptr_t)fd) != 0)
        return MC_INTERNAL_ERROR;
    pthread_detach(t);
    return MC_OK;
}
