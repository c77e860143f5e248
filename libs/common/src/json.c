#include "mc/json.h"

#include "mc/errors.h"
#include "mc/strutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON keeps no string length: a NUL inside a string, raw or as \u0000,
 * silently cuts valuestring. nul_strings() lexes the text once and returns
 * a bitmap of the string tokens, in document order, that hold one (bit i =
 * token i; a text of len bytes has fewer than len tokens); mark_nul() walks
 * the tree in the same order (member names are tokens too; cJSON bounds the
 * nesting) and flags those nodes, so getters can refuse them. Runs only when
 * the text holds a NUL byte or "\u0000". */
#define NUL_FLAG (1 << 12) /* outside cJSON's type bits (0xFF, 256, 512) */

static bool may_hold_nul(const char *buf, size_t len)
{
    return memchr(buf, 0, len) != NULL || (len >= 6 && memmem(buf, len, "\\u0000", 6));
}

static uint8_t *nul_strings(const char *buf, size_t len)
{
    uint8_t *bits = calloc(len / 8 + 1, 1); /* at most len tokens */
    size_t tok = 0;

    if (!bits)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '"')
            continue;
        for (i++; i < len && buf[i] != '"'; i++) {
            if (buf[i] == '\\' && i + 1 < len) {
                if (buf[i + 1] == 'u' && i + 5 < len && memcmp(buf + i + 2, "0000", 4) == 0)
                    bits[tok / 8] |= (uint8_t)(1u << (tok % 8));
                i++;
            } else if (buf[i] == '\0') {
                bits[tok / 8] |= (uint8_t)(1u << (tok % 8));
            }
        }
        tok++;
    }
    return bits;
}

static bool tok_has_nul(const uint8_t *bits, size_t tok)
{
    return ((unsigned)bits[tok / 8] >> (tok % 8)) & 1u;
}

/* Returns false when a member name holds a NUL (the document is refused:
 * "ke\u0000y" would otherwise read as "ke"). */
static bool mark_nul(cJSON *node, const uint8_t *bits, size_t *tok)
{
    cJSON *c;

    if (cJSON_IsString(node) && tok_has_nul(bits, (*tok)++))
        node->type |= NUL_FLAG;
    cJSON_ArrayForEach (c, node) {
        if (cJSON_IsObject(node) && tok_has_nul(bits, (*tok)++))
            return false;
        if (!mark_nul(c, bits, tok))
            return false;
    }
    return true;
}

bool mc_json_has_nul(const cJSON *item)
{
    return item && (item->type & NUL_FLAG);
}

cJSON *mc_json_parse_object(const char *buf, size_t len, mc_errmsg_t *err)
{
    const char *end = NULL;
    cJSON *root;

    if (!buf || len == 0) {
        mc_fail(err, MC_INVALID_PARAMS, "empty body, expected a JSON object");
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    while (root && end < buf + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (!root || end != buf + len) {
        cJSON_Delete(root);
        mc_fail(err, MC_INVALID_PARAMS, "malformed JSON");
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        mc_fail(err, MC_INVALID_PARAMS, "expected a JSON object");
        return NULL;
    }
    if (may_hold_nul(buf, len)) {
        uint8_t *bits = nul_strings(buf, len);
        size_t tok = 0;
        bool oom = !bits, ok = !oom && mark_nul(root, bits, &tok);
        free(bits);
        if (!ok) {
            cJSON_Delete(root);
            mc_fail(err, MC_INVALID_PARAMS,
                    oom ? "out of memory" : "NUL character in a member name");
            return NULL;
        }
    }
    return root;
}

/* Finds name in obj: NULL and MC_OK when absent and optional. */
static int field(const cJSON *obj, const char *name, bool required, const cJSON **item,
                 mc_errmsg_t *err)
{
    *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (*item && cJSON_IsNull(*item))
        *item = NULL;
    if (!*item && required)
        return mc_fail(err, MC_INVALID_PARAMS, "missing field '%s'", name);
    return MC_OK;
}

int mc_json_get_str(const cJSON *obj, const char *name, bool required, size_t max_len,
                    const char **out, mc_errmsg_t *err)
{
    const cJSON *it;
    int rc = field(obj, name, required, &it, err);

    if (rc || !it)
        return rc;
    if (!cJSON_IsString(it) || !it->valuestring)
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': expected a string", name);
    if (mc_json_has_nul(it))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': holds a NUL character", name);
    if (strlen(it->valuestring) > max_len)
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': longer than %zu bytes", name, max_len);
    *out = it->valuestring;
    return MC_OK;
}

int mc_json_get_key(const cJSON *obj, const char *name, size_t max_len, const char **out,
                    size_t *len, mc_errmsg_t *err)
{
    const char *s = NULL;
    size_t n;

    if (mc_json_get_str(obj, name, true, max_len, &s, err) != MC_OK)
        return MC_INVALID_KEY;
    n = strlen(s); /* exact: a NUL-holding string was refused above */
    if (mc_key_validate(s, n, max_len) != MC_OK) {
        return mc_fail(err, MC_INVALID_KEY, "field '%s': empty key", name);
    }
    *out = s;
    *len = n;
    return MC_OK;
}

static int get_integral(const cJSON *obj, const char *name, bool required, double min, double max,
                        double *out, mc_errmsg_t *err)
{
    const cJSON *it;
    int rc = field(obj, name, required, &it, err);

    if (rc || !it)
        return rc ? rc : 1; /* 1: absent, leave untouched */
    if (!cJSON_IsNumber(it))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': expected a number", name);
    if (it->valuedouble != floor(it->valuedouble))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': expected an integer", name);
    if (it->valuedouble < min || it->valuedouble > max)
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': %.0f out of range [%.0f, %.0f]", name,
                       it->valuedouble, min, max);
    *out = it->valuedouble;
    return MC_OK;
}

int mc_json_get_u64(const cJSON *obj, const char *name, bool required, uint64_t min, uint64_t max,
                    uint64_t *out, mc_errmsg_t *err)
{
    double v = 0;
    int rc;

    if (max > MC_JSON_MAX_INT)
        max = MC_JSON_MAX_INT;
    rc = get_integral(obj, name, required, (double)min, (double)max, &v, err);
    if (rc == 1)
        return MC_OK;
    if (rc == MC_OK)
        *out = (uint64_t)v;
    return rc;
}

int mc_json_get_i64(const cJSON *obj, const char *name, bool required, int64_t min, int64_t max,
                    int64_t *out, mc_errmsg_t *err)
{
    const double lim = (double)MC_JSON_MAX_INT;
    double lo = (double)min < -lim ? -lim : (double)min;
    double hi = (double)max > lim ? lim : (double)max;
    double v = 0;
    int rc = get_integral(obj, name, required, lo, hi, &v, err);

    if (rc == 1)
        return MC_OK;
    if (rc == MC_OK)
        *out = (int64_t)v;
    return rc;
}

int mc_json_get_double(const cJSON *obj, const char *name, bool required, double min, double max,
                       double *out, mc_errmsg_t *err)
{
    const cJSON *it;
    int rc = field(obj, name, required, &it, err);

    if (rc || !it)
        return rc;
    if (!cJSON_IsNumber(it))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': expected a number", name);
    if (!(it->valuedouble >= min && it->valuedouble <= max))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': %g out of range [%g, %g]", name,
                       it->valuedouble, min, max);
    *out = it->valuedouble;
    return MC_OK;
}

int mc_json_get_bool(const cJSON *obj, const char *name, bool required, bool *out, mc_errmsg_t *err)
{
    const cJSON *it;
    int rc = field(obj, name, required, &it, err);

    if (rc || !it)
        return rc;
    if (!cJSON_IsBool(it))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': expected true or false", name);
    *out = cJSON_IsTrue(it);
    return MC_OK;
}

int mc_json_get_array(const cJSON *obj, const char *name, bool required, size_t max_items,
                      const cJSON **out, mc_errmsg_t *err)
{
    const cJSON *it;
    int rc = field(obj, name, required, &it, err);

    if (rc || !it)
        return rc;
    if (!cJSON_IsArray(it))
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': expected an array", name);
    if ((size_t)cJSON_GetArraySize(it) > max_items)
        return mc_fail(err, MC_INVALID_PARAMS, "field '%s': more than %zu items", name, max_items);
    *out = it;
    return MC_OK;
}

char *mc_json_print_take(cJSON *obj, size_t *len)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;

    cJSON_Delete(obj);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* ---------------- streaming writer ---------------- */

static void jw_put(mc_jw_t *w, const char *s, size_t n)
{
    mc_buf_append(&w->out, s, n);
}

/* Comma before a value or key that is not the first in its container. */
static void jw_sep(mc_jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && !(w->first & (1u << w->depth)))
        jw_put(w, ",", 1);
    w->first &= ~(1u << w->depth);
}

void mc_jw_init(mc_jw_t *w, size_t initial_cap)
{
    memset(w, 0, sizeof(*w));
    mc_buf_init(&w->out, 0);
    mc_buf_reserve(&w->out, initial_cap);
}

static void jw_open(mc_jw_t *w, char c)
{
    jw_sep(w);
    jw_put(w, &c, 1);
    if (w->depth < 31)
        w->depth++;
    else
        mc_jw_fail(w); /* too deep: fail the whole document */
    w->first |= 1u << w->depth;
}

static void jw_close(mc_jw_t *w, char c)
{
    jw_put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

void mc_jw_obj_begin(mc_jw_t *w)
{
    jw_open(w, '{');
}

void mc_jw_obj_end(mc_jw_t *w)
{
    jw_close(w, '}');
}

void mc_jw_arr_begin(mc_jw_t *w)
{
    jw_open(w, '[');
}

void mc_jw_arr_end(mc_jw_t *w)
{
    jw_close(w, ']');
}

static void jw_escaped(mc_jw_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending run of bytes that need no escape */

    jw_put(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jw_put(w, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jw_put(w, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jw_put(w, e, 6);
        }
    }
    jw_put(w, s + run, n - run);
    jw_put(w, "\"", 1);
}

void mc_jw_key(mc_jw_t *w, const char *key)
{
    jw_sep(w);
    jw_escaped(w, key, strlen(key));
    jw_put(w, ":", 1);
    w->after_key = true;
}

void mc_jw_str(mc_jw_t *w, const char *s, size_t n)
{
    jw_sep(w);
    jw_escaped(w, s ? s : "", s ? n : 0);
}

/* Decimal digits of v, right-aligned in tmp[24]; returns the first digit. */
static char *u64_digits(uint64_t v, char tmp[24])
{
    char *p = tmp + 24;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void mc_jw_u64(mc_jw_t *w, uint64_t v)
{
    char tmp[24], *p = u64_digits(v, tmp);
    jw_sep(w);
    jw_put(w, p, (size_t)(tmp + 24 - p));
}

void mc_jw_i64(mc_jw_t *w, int64_t v)
{
    char tmp[24], *p = u64_digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, tmp);
    if (v < 0)
        *--p = '-';
    jw_sep(w);
    jw_put(w, p, (size_t)(tmp + 24 - p));
}

void mc_jw_bool(mc_jw_t *w, bool v)
{
    jw_sep(w);
    jw_put(w, v ? "true" : "false", v ? 4 : 5);
}

void mc_jw_raw(mc_jw_t *w, const char *s, size_t n)
{
    jw_put(w, s, n);
}

void mc_jw_fail(mc_jw_t *w)
{
    if (!w->out.err)
        w->out.err = MC_INTERNAL_ERROR;
}

bool mc_jw_failed(const mc_jw_t *w)
{
    return w->out.err != MC_OK;
}

char *mc_jw_take(mc_jw_t *w, size_t *len)
{
    char *out = mc_buf_take(&w->out, len);

    memset(w, 0, sizeof(*w));
    return out;
}
