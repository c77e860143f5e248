/* What every service main() does the same way: load its config table
 * (printing help or a one-line error), apply the log level, and wait for
 * SIGINT/SIGTERM. Kept here so each main.c is wiring only. */
#ifndef MC_SERVICE_H
#define MC_SERVICE_H

#include "mc/config.h"

/* Blocks SIGINT, SIGTERM, SIGHUP in the calling thread (call first in main,
 * before any thread starts, so all threads inherit the mask) and ignores SIGPIPE. */
void mc_service_block_signals(void);
/* Waits for SIGINT or SIGTERM (SIGHUP is ignored); returns the signal number. */
int mc_service_wait_signal(void);

/* Makes the process stop (SIGTERM to itself, so mc_service_wait_signal
 * returns) when fd, the read end of a pipe whose write end its starter holds,
 * reports end of file: the starter is gone. A background thread watches it;
 * fd < 0 does nothing. MC_OK or MC_INTERNAL_ERROR. */
int mc_service_watch_lifeline(int fd);

/* Loads the config and applies log_level_text (one of trace..off).
 * Returns -1 to go on, or the exit status main should return (0 after --help,
 * 2 after a bad option, with the error printed as one line on stderr). */
int mc_service_load_config(const mc_cfg_spec_t *spec, void *cfg, int argc, char **argv,
                           const char *(*log_level_of)(const void *cfg));

#endif
