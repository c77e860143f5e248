/* The pattern matcher of remove_by_regex: PCRE2 with bounded compile and
 * match (docs/master-core.md, "remove_by_regex").
 *
 * Syntax is ECMAScript-like (what Mooncake's std::regex accepts) and a
 * pattern matches when it is found anywhere in the key (search, not full
 * match). Every cost is capped: the pattern's length and nesting, the size of
 * its compiled form, and per key the backtracking steps, depth and heap of a
 * match. A match that reaches a cap is an error, never "no match". */
#ifndef MC_MASTER_REGEX_H
#define MC_MASTER_REGEX_H

#include <stddef.h>

#include "mc/errors.h"

#define MCM_REGEX_MAX_PATTERN 1024u       /* bytes */
#define MCM_REGEX_MAX_NEST 32u            /* nested parentheses */
#define MCM_REGEX_MAX_CODE (256u * 1024u) /* bytes of one compile allocation */
#define MCM_REGEX_MATCH_LIMIT 1000000u    /* backtracking steps per key */
#define MCM_REGEX_DEPTH_LIMIT 10000u      /* nested backtracking points per key */
#define MCM_REGEX_HEAP_LIMIT_KIB 4096u    /* match frames per key */

/* A compiled pattern and the match data its searches reuse: one thread at a
 * time. */
typedef struct mcm_regex mcm_regex_t;

/* Compiles pattern[0..len). MC_INVALID_PARAMS with err naming the reason (too
 * long, too complex, a syntax error and its offset), MC_INTERNAL_ERROR when
 * out of memory. The caller destroys *out. */
int mcm_regex_create(const char *pattern, size_t len, mcm_regex_t **out, mc_errmsg_t *err);

/* 1 when the pattern occurs in s[0..len), 0 when not; MC_INVALID_PARAMS when
 * the match reached a limit (err says which), MC_INTERNAL_ERROR when out of
 * memory. */
int mcm_regex_search(mcm_regex_t *re, const char *s, size_t len, mc_errmsg_t *err);

void mcm_regex_destroy(mcm_regex_t *re);

#endif
