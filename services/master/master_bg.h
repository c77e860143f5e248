/* The master's background thread: eviction when usage crosses the high
 * watermark or a put could not be placed, and about once a second the
 * housekeeping tick (client expiry, graceful unmounts, retired buffers,
 * abandoned puts). */
#ifndef MC_MASTER_BG_H
#define MC_MASTER_BG_H

#include "master_core.h"

typedef struct master_bg master_bg_t;

master_bg_t *master_bg_start(mc_master_t *core);
/* Stops the thread (within ~100 ms) and frees. Safe on NULL. */
void master_bg_stop(master_bg_t *bg);

#endif
