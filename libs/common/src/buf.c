#include "mc/buf.h"

#include "mc/errors.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mc_buf_init(mc_buf_t *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

int mc_buf_reserve(mc_buf_t *b, size_t more)
{
    size_t need, ncap;
    char *nb;

    if (b->err)
        return b->err;
    if (more > (b->max ? b->max : SIZE_MAX - 1) - b->len)
        return b->err = MC_BUFFER_OVERFLOW;
    need = b->len + more + 1;
    if (need <= b->cap)
        return MC_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (b->max && ncap > b->max + 1)
        ncap = b->max + 1;
    nb = realloc(b->data, ncap);
    if (!nb)
        return b->err = MC_INTERNAL_ERROR;
    b->data = nb;
    b->cap = ncap;
    return MC_OK;
}

int mc_buf_append(mc_buf_t *b, const void *p, size_t n)
{
    int rc = mc_buf_reserve(b, n);

    if (rc != MC_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MC_OK;
}

int mc_buf_printf(mc_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    /* first try in the room there is; on a miss, grow to fit and redo */
    for (int pass = 0; pass < 2; pass++) {
        size_t room = b->cap > b->len ? b->cap - b->len : 0;
        if (b->err)
            return b->err;
        va_start(ap, fmt);
        n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return b->err = MC_INTERNAL_ERROR;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return MC_OK;
        }
        if ((rc = mc_buf_reserve(b, (size_t)n)) != MC_OK)
            return rc;
    }
    return b->err = MC_INTERNAL_ERROR; /* not reached: the second pass fits */
}

char *mc_buf_take(mc_buf_t *b, size_t *len)
{
    char *out = NULL;
    size_t max = b->max;

    if (!b->err && mc_buf_reserve(b, 0) == MC_OK) {
        out = b->data;
        out[b->len] = '\0';
        if (len)
            *len = b->len;
        b->data = NULL;
    }
    mc_buf_cleanup(b);
    b->max = max;
    return out;
}

void mc_buf_cleanup(mc_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}
