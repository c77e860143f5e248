/* Table-driven configuration: each service declares its options once (name,
 * type, default, bounds, env alias, help) and gets a typed struct filled from,
 * in rising precedence: the defaults, a JSON file (--config PATH or
 * MOONCAKE_CONFIG_PATH), the environment, and the command line.
 *
 * Flags are --name=value, --name value, or the gflags spellings -name=value;
 * a bool flag alone (--name) means true. --help prints text generated from the
 * table; --help_markdown prints the docs table. This is the only module that
 * calls getenv. */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include "mc/errors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum mc_opt_type {
    MC_OPT_STR,    /* char field[N] */
    MC_OPT_INT,    /* int64_t */
    MC_OPT_UINT,   /* uint64_t */
    MC_OPT_SIZE,   /* uint64_t, accepts "16MB", "4gb", "1.5GB", "3355443200" */
    MC_OPT_DOUBLE, /* double */
    MC_OPT_BOOL,   /* bool */
} mc_opt_type_t;

typedef struct mc_opt {
    const char *name; /* flag and JSON key, without dashes */
    mc_opt_type_t type;
    size_t offset;       /* offsetof the field in the config struct */
    size_t size;         /* sizeof the field (capacity for strings) */
    const char *def;     /* default as text; NULL = empty / 0 / false */
    double min, max;     /* numeric bounds, inclusive; ignored when min > max */
    const char *choices; /* for strings: "a|b|c" or NULL for any */
    const char *env;     /* comma-separated environment names, or NULL */
    const char *help;
} mc_opt_t;

#define MC_OPT_FIELD_(st, f) offsetof(st, f), sizeof(((st *)0)->f)
/* One table row per macro (the formatter would split their braces). */
/* clang-format off */
#define MC_OPT_STR(st, f, name, def, choices, env, help) \
    {name, MC_OPT_STR, MC_OPT_FIELD_(st, f), def, 1, 0, choices, env, help}
#define MC_OPT_INT(st, f, name, def, lo, hi, env, help) \
    {name, MC_OPT_INT, MC_OPT_FIELD_(st, f), def, lo, hi, NULL, env, help}
#define MC_OPT_UINT(st, f, name, def, lo, hi, env, help) \
    {name, MC_OPT_UINT, MC_OPT_FIELD_(st, f), def, lo, hi, NULL, env, help}
#define MC_OPT_SIZE(st, f, name, def, lo, hi, env, help) \
    {name, MC_OPT_SIZE, MC_OPT_FIELD_(st, f), def, lo, hi, NULL, env, help}
#define MC_OPT_DOUBLE(st, f, name, def, lo, hi, env, help) \
    {name, MC_OPT_DOUBLE, MC_OPT_FIELD_(st, f), def, lo, hi, NULL, env, help}
#define MC_OPT_BOOL(st, f, name, def, env, help) \
    {name, MC_OPT_BOOL, MC_OPT_FIELD_(st, f), def, 1, 0, NULL, env, help}
/* clang-format on */

typedef struct mc_cfg_spec {
    const char *prog;    /* binary name for usage and errors */
    const char *summary; /* one line under the usage line */
    const mc_opt_t *opts;
    size_t nopts;
} mc_cfg_spec_t;

typedef enum mc_cfg_status {
    MC_CFG_LOADED = 0, /* struct filled; go on */
    MC_CFG_HELP = 1,   /* help was printed to stdout; exit 0 */
    MC_CFG_ERROR = -1, /* res->err.msg holds one line naming the option; exit non-zero */
} mc_cfg_status_t;

typedef struct mc_cfg_result {
    mc_errmsg_t err;        /* on MC_CFG_ERROR */
    char ignored_keys[256]; /* config-file keys no option matched, comma-separated */
    char config_path[1024]; /* the file read, or "" */
} mc_cfg_result_t;

/* Fills out (a struct the table describes) from defaults, file, env, argv. */
mc_cfg_status_t mc_config_load(const mc_cfg_spec_t *spec, void *out, int argc, char **argv,
                               mc_cfg_result_t *res);
/* Resets out to the table's defaults only. MC_CFG_ERROR if a default is invalid. */
mc_cfg_status_t mc_config_defaults(const mc_cfg_spec_t *spec, void *out, mc_cfg_result_t *res);

/* Generated help text and the markdown table used in docs/. */
void mc_config_print_help(const mc_cfg_spec_t *spec, FILE *f);
void mc_config_print_markdown(const mc_cfg_spec_t *spec, FILE *f);

#endif
