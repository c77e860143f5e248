/* remove_by_regex's matcher over PCRE2 (see master_regex.h).
 *
 * Why these options: std::regex's ECMAScript grammar is what Mooncake users
 * write. PCRE2 reads the same patterns with three adjustments: `$` matches at
 * the very end only (DOLLAR_ENDONLY; PCRE2 would also match before a final
 * newline), `[]` matches nothing and `[^]` any byte (ALLOW_EMPTY_CLASS), and
 * `\uhhhh` / `\xhh` are ECMAScript's escapes (ALT_BSUX). Keys are bytes, so
 * UTF and Unicode properties are off, and `\C` is refused.
 *
 * Why the caps: glibc's regcomp expands counted repetition into an automaton,
 * so `((a{150}){150}){150}` cost seconds of CPU and a gigabyte of memory.
 * PCRE2 compiles it into a size it computes first, and refuses it; the compile
 * allocator below refuses any allocation over MCM_REGEX_MAX_CODE as well, so
 * the bound holds however PCRE2 was built (its link size). Matching is
 * backtracking, bounded per key by the match, depth and heap limits. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "master_regex.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>

struct mcm_regex {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

static void *capped_malloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return n > MCM_REGEX_MAX_CODE ? NULL : malloc(n);
}

static void capped_free(void *p, void *data)
{
    (void)data;
    free(p);
}

static int compile(const char *pattern, size_t len, pcre2_code **out, mc_errmsg_t *err)
{
    const uint32_t opts = PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_ALT_BSUX |
                          PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | PCRE2_NEVER_BACKSLASH_C;
    pcre2_general_context *g = pcre2_general_context_create(capped_malloc, capped_free, NULL);
    pcre2_compile_context *cc = g ? pcre2_compile_context_create(g) : NULL;
    int ec = 0;
    PCRE2_SIZE at = 0;

    *out = NULL;
    if (cc) {
        pcre2_set_max_pattern_length(cc, MCM_REGEX_MAX_PATTERN);
        pcre2_set_parens_nest_limit(cc, MCM_REGEX_MAX_NEST);
        pcre2_set_newline(cc, PCRE2_NEWLINE_ANYCRLF); /* `.` stops at \r too, as in ECMAScript */
        *out = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &ec, &at, cc);
    }
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(g);
    if (*out)
        return MC_OK;
    if (!cc)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory compiling a regular expression");
    if (ec == PCRE2_ERROR_HEAP_FAILED || ec == PCRE2_ERROR_PATTERN_TOO_LARGE)
        return mc_fail(err, MC_INVALID_PARAMS,
                       "regular expression too complex: its compiled form would be too large "
                       "(nested counted repetition such as ((a{150}){150}){150} multiplies it)");
    PCRE2_UCHAR why[160];
    if (pcre2_get_error_message(ec, why, sizeof(why)) < 0)
        why[0] = '\0';
    return mc_fail(err, MC_INVALID_PARAMS, "bad regular expression at offset %zu: %s", (size_t)at,
                   (const char *)why);
}

int mcm_regex_create(const char *pattern, size_t len, mcm_regex_t **out, mc_errmsg_t *err)
{
    *out = NULL;
    if (!pattern || len == 0)
        return mc_fail(err, MC_INVALID_PARAMS, "empty regular expression");
    if (len > MCM_REGEX_MAX_PATTERN)
        return mc_fail(err, MC_INVALID_PARAMS, "regular expression of %zu bytes (at most %u)", len,
                       MCM_REGEX_MAX_PATTERN);
    mcm_regex_t *re = calloc(1, sizeof(*re));
    if (!re)
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    int rc = compile(pattern, len, &re->code, err);
    if (rc != MC_OK) {
        free(re);
        return rc;
    }
    /* One pair is enough: only whether it matched counts. */
    re->md = pcre2_match_data_create(1, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->md || !re->mctx) {
        mcm_regex_destroy(re);
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory");
    }
    pcre2_set_match_limit(re->mctx, MCM_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, MCM_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, MCM_REGEX_HEAP_LIMIT_KIB);
    *out = re;
    return MC_OK;
}

int mcm_regex_search(mcm_regex_t *re, const char *s, size_t len, mc_errmsg_t *err)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md, re->mctx);
    if (rc >= 0)
        return 1; /* 0: matched, the ovector was too small for the groups */
    switch (rc) {
    case PCRE2_ERROR_NOMATCH: return 0;
    case PCRE2_ERROR_MATCHLIMIT:
        return mc_fail(err, MC_INVALID_PARAMS,
                       "regular expression too costly: a key needed more than %u backtracking "
                       "steps",
                       MCM_REGEX_MATCH_LIMIT);
    case PCRE2_ERROR_DEPTHLIMIT:
        return mc_fail(err, MC_INVALID_PARAMS,
                       "regular expression too costly: a key needed more than %u nested "
                       "backtracking points",
                       MCM_REGEX_DEPTH_LIMIT);
    case PCRE2_ERROR_HEAPLIMIT:
        return mc_fail(err, MC_INVALID_PARAMS,
                       "regular expression too costly: a key needed more than %u KiB of "
                       "backtracking memory",
                       MCM_REGEX_HEAP_LIMIT_KIB);
    case PCRE2_ERROR_NOMEMORY:
        return mc_fail(err, MC_INTERNAL_ERROR, "out of memory matching a regular expression");
    default: {
        PCRE2_UCHAR why[160];
        if (pcre2_get_error_message(rc, why, sizeof(why)) < 0)
            why[0] = '\0';
        return mc_fail(err, MC_INVALID_PARAMS, "regular expression failed on a key: %s",
                       (const char *)why);
    }
    }
}

void mcm_regex_destroy(mcm_regex_t *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    free(re);
}
