/* What the embedded default (embedded.c) needs from a handle (client.c). */
#ifndef MC_CLIENT_INTERNAL_H
#define MC_CLIENT_INTERNAL_H

#include "mooncake_client.h"

#include <stdbool.h>
#include <stddef.h>

/* fn(arg) runs once the handle is closed and freed (the embedded default
 * counts the handles of the service it started). */
void client_on_close(mooncake_client_t *c, void (*fn)(void *), void *arg);
/* The staging area's size; 0 = none: calls that need staging (plain
 * memory) fail with INVALID_PARAMS, as Mooncake's do with a zero
 * local_buffer_size. */
void client_set_staging(mooncake_client_t *c, size_t size);
/* The hello reply's hostname, master address and EPHEMERAL flag. */
void client_identity(mooncake_client_t *c, char *hostname, size_t hcap, char *master, size_t mcap,
                     bool *ephemeral);

#endif
