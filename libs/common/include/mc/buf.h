/* One growable byte buffer: checked appends under an optional size cap,
 * errors that stick (so a run of appends is checked once, at the end), and
 * _take, which hands the bytes to the caller. Used by the JSON writer, the
 * metrics text, and the HTTP server's and client's bodies.
 *
 * An append that would pass the cap fails with MC_BUFFER_OVERFLOW; one that
 * cannot get memory fails with MC_INTERNAL_ERROR: the two stay apart, so a
 * caller can answer "too large" and "out of memory" differently. */
#ifndef MC_BUF_H
#define MC_BUF_H

#include "mc/errors.h"

#include <stddef.h>

typedef struct mc_buf {
    char *data; /* NUL-terminated whenever len > 0 or cap > 0 */
    size_t len, cap;
    size_t max; /* most bytes the buffer may hold; 0 = no cap */
    int err;    /* MC_OK, or the first error (sticky) */
} mc_buf_t;

/* An empty buffer (no allocation yet) holding at most max bytes (0 = no cap). */
void mc_buf_init(mc_buf_t *b, size_t max);
/* Room for more bytes (and a NUL) without another allocation. */
int mc_buf_reserve(mc_buf_t *b, size_t more);
int mc_buf_append(mc_buf_t *b, const void *p, size_t n);
int mc_buf_printf(mc_buf_t *b, const char *fmt, ...) MC_PRINTF(2, 3);
/* The bytes (malloc'd, NUL-terminated, caller frees; never NULL on success,
 * even when empty), or NULL after an error; *len gets the length. The buffer
 * is empty again either way. */
char *mc_buf_take(mc_buf_t *b, size_t *len);
void mc_buf_cleanup(mc_buf_t *b);

#endif
