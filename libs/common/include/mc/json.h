/* Typed, range-checked access to cJSON objects, so decoders are one line per
 * field. Each getter returns MC_OK, or MC_INVALID_PARAMS with a message naming
 * the field in err. An absent optional field leaves *out untouched. */
#ifndef MC_JSON_H
#define MC_JSON_H

#include "mc/buf.h"

#include <cjson/cJSON.h>
#include "mc/errors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest integer a JSON number (IEEE double) carries exactly. */
#define MC_JSON_MAX_INT 9007199254740992ull

/* Parses buf[0..len) and requires a JSON object at the top. Caller frees with cJSON_Delete. */
cJSON *mc_json_parse_object(const char *buf, size_t len, mc_errmsg_t *err);

/* True when item is a string that held a NUL (raw or \u0000) in the text
 * mc_json_parse_object parsed: its valuestring is cut there, so it is never
 * used. mc_json_get_str refuses such strings (INVALID_PARAMS); key decoders
 * check this and answer INVALID_KEY. */
bool mc_json_has_nul(const cJSON *item);

/* A required key field: MC_INVALID_KEY when absent, not a string, holding a
 * NUL, empty or longer than max_len; *len gets its length. */
int mc_json_get_key(const cJSON *obj, const char *name, size_t max_len, const char **out,
                    size_t *len, mc_errmsg_t *err);

int mc_json_get_str(const cJSON *obj, const char *name, bool required, size_t max_len,
                    const char **out, mc_errmsg_t *err);
int mc_json_get_u64(const cJSON *obj, const char *name, bool required, uint64_t min, uint64_t max,
                    uint64_t *out, mc_errmsg_t *err);
int mc_json_get_i64(const cJSON *obj, const char *name, bool required, int64_t min, int64_t max,
                    int64_t *out, mc_errmsg_t *err);
int mc_json_get_double(const cJSON *obj, const char *name, bool required, double min, double max,
                       double *out, mc_errmsg_t *err);
int mc_json_get_bool(const cJSON *obj, const char *name, bool required, bool *out,
                     mc_errmsg_t *err);
/* Array field with at most max_items elements. */
int mc_json_get_array(const cJSON *obj, const char *name, bool required, size_t max_items,
                      const cJSON **out, mc_errmsg_t *err);

/* Prints unformatted and deletes obj; returns a malloc'd string (caller frees),
 * NULL on allocation failure. *len receives strlen when len is not NULL. */
char *mc_json_print_take(cJSON *obj, size_t *len);

/* ---- a small streaming writer for hot-path responses ----
 * Produces compact JSON without building a cJSON tree. Commas are placed
 * automatically; nesting is limited to 32 levels. Any allocation failure
 * sticks (mc_jw_take then returns NULL). */
typedef struct mc_jw {
    mc_buf_t out;
    uint32_t first; /* bit d: nothing written yet at depth d */
    int depth;
    bool after_key;
} mc_jw_t;

void mc_jw_init(mc_jw_t *w, size_t initial_cap);
void mc_jw_obj_begin(mc_jw_t *w);
void mc_jw_obj_end(mc_jw_t *w);
void mc_jw_arr_begin(mc_jw_t *w);
void mc_jw_arr_end(mc_jw_t *w);
void mc_jw_key(mc_jw_t *w, const char *key);
void mc_jw_str(mc_jw_t *w, const char *s, size_t n); /* escaped */
void mc_jw_u64(mc_jw_t *w, uint64_t v);
void mc_jw_i64(mc_jw_t *w, int64_t v);
void mc_jw_bool(mc_jw_t *w, bool v);
/* Appends bytes as they are: no separator, no escaping (for plain-text
 * replies built with the same growing buffer). */
void mc_jw_raw(mc_jw_t *w, const char *s, size_t n);
/* Marks the document failed (mc_jw_take then returns NULL), e.g. when the
 * caller could not gather what it was writing; mc_jw_failed tells. */
void mc_jw_fail(mc_jw_t *w);
bool mc_jw_failed(const mc_jw_t *w);
/* Returns the text (malloc'd, NUL-terminated; caller frees) or NULL after an
 * allocation failure; the writer is reset either way. */
char *mc_jw_take(mc_jw_t *w, size_t *len);

#endif
