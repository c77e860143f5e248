#include "mc/config.h"

#include "mc/errors.h"
#include "mc/json.h"
#include "mc/strutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_FILE (4u << 20)

static const char *const type_names[] = {"string", "int", "uint", "size", "double", "bool"};

static mc_cfg_status_t fail(mc_cfg_result_t *res, const char *fmt, ...) MC_PRINTF(2, 3);
static mc_cfg_status_t fail(mc_cfg_result_t *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mc_vfail(&res->err, MC_CFG_ERROR, fmt, ap);
    va_end(ap);
    return MC_CFG_ERROR;
}

static const mc_opt_t *find_opt(const mc_cfg_spec_t *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->nopts; i++)
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0)
            return &spec->opts[i];
    return NULL;
}

static bool in_bounds(const mc_opt_t *o, double v)
{
    return o->min > o->max || (v >= o->min && v <= o->max);
}

static bool in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* Parses text into the option's field; on failure writes why (no option name). */
static int set_value(const mc_opt_t *o, void *out, const char *text, char *why, size_t wlen)
{
    char *field = (char *)out + o->offset;
    uint64_t u;
    int64_t i;
    double d;
    bool b;

    if (!text)
        text = "";
    switch (o->type) {
    case MC_OPT_STR:
        if (o->choices && !in_choices(o->choices, text)) {
            snprintf(why, wlen, "'%s' is not one of %s", text, o->choices);
            return MC_INVALID_PARAMS;
        }
        if (strlen(text) >= o->size) {
            snprintf(why, wlen, "longer than %zu bytes", o->size - 1);
            return MC_INVALID_PARAMS;
        }
        memcpy(field, text, strlen(text) + 1);
        return MC_OK;
    case MC_OPT_INT:
        if (mc_parse_i64(*text ? text : "0", &i) != MC_OK) {
            snprintf(why, wlen, "'%s' is not an integer", text);
            return MC_INVALID_PARAMS;
        }
        d = (double)i;
        if (!in_bounds(o, d))
            goto range;
        memcpy(field, &i, sizeof(i));
        return MC_OK;
    case MC_OPT_UINT:
    case MC_OPT_SIZE:
        if ((o->type == MC_OPT_UINT ? mc_parse_u64(*text ? text : "0", &u)
                                    : mc_parse_size(*text ? text : "0", &u)) != MC_OK) {
            snprintf(why, wlen, "'%s' is not %s", text,
                     o->type == MC_OPT_UINT ? "a non-negative integer"
                                            : "a size (e.g. 1048576, 16MB, 1.5GB)");
            return MC_INVALID_PARAMS;
        }
        d = (double)u;
        if (!in_bounds(o, d))
            goto range;
        memcpy(field, &u, sizeof(u));
        return MC_OK;
    case MC_OPT_DOUBLE:
        if (mc_parse_double(*text ? text : "0", &d) != MC_OK) {
            snprintf(why, wlen, "'%s' is not a number", text);
            return MC_INVALID_PARAMS;
        }
        if (!in_bounds(o, d))
            goto range;
        memcpy(field, &d, sizeof(d));
        return MC_OK;
    case MC_OPT_BOOL:
        if (mc_parse_bool(*text ? text : "false", &b) != MC_OK) {
            snprintf(why, wlen, "'%s' is not a boolean (true/false)", text);
            return MC_INVALID_PARAMS;
        }
        memcpy(field, &b, sizeof(b));
        return MC_OK;
    }
    snprintf(why, wlen, "unknown option type");
    return MC_INVALID_PARAMS;
range:
    snprintf(why, wlen, "'%s' out of range [%.17g, %.17g]", text, o->min, o->max);
    return MC_INVALID_PARAMS;
}

mc_cfg_status_t mc_config_defaults(const mc_cfg_spec_t *spec, void *out, mc_cfg_result_t *res)
{
    char why[256];

    for (size_t i = 0; i < spec->nopts; i++) {
        const mc_opt_t *o = &spec->opts[i];
        if (set_value(o, out, o->def, why, sizeof(why)) != MC_OK)
            return fail(res, "%s: default of option --%s: %s", spec->prog, o->name, why);
    }
    return MC_CFG_LOADED;
}

static char *read_file(const char *path, size_t *len, char *why, size_t wlen)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f) {
        snprintf(why, wlen, "%s", strerror(errno));
        return NULL;
    }
    buf = malloc(MAX_CONFIG_FILE + 1);
    if (!buf) {
        fclose(f);
        snprintf(why, wlen, "out of memory");
        return NULL;
    }
    n = fread(buf, 1, MAX_CONFIG_FILE + 1, f);
    fclose(f);
    if (n > MAX_CONFIG_FILE) {
        free(buf);
        snprintf(why, wlen, "larger than %u bytes", MAX_CONFIG_FILE);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void note_ignored(mc_cfg_result_t *res, const char *key)
{
    size_t used = strlen(res->ignored_keys);
    if (used + strlen(key) + 2 < sizeof(res->ignored_keys))
        snprintf(res->ignored_keys + used, sizeof(res->ignored_keys) - used, "%s%s",
                 used ? "," : "", key);
}

static mc_cfg_status_t load_file(const mc_cfg_spec_t *spec, void *out, const char *path,
                                 mc_cfg_result_t *res)
{
    char why[256];
    size_t len = 0;
    char *text = read_file(path, &len, why, sizeof(why));
    cJSON *root, *it;
    mc_errmsg_t jerr;

    if (!text)
        return fail(res, "%s: config file %s: %s", spec->prog, path, why);
    root = mc_json_parse_object(text, len, &jerr);
    free(text);
    if (!root)
        return fail(res, "%s: config file %s: not a JSON object (%s)", spec->prog, path, jerr.msg);
    cJSON_ArrayForEach (it, root) {
        const mc_opt_t *o = find_opt(spec, it->string, strlen(it->string));
        char num[64];
        const char *val;

        if (!o) {
            note_ignored(res, it->string);
            continue;
        }
        if (cJSON_IsString(it) && !mc_json_has_nul(it)) {
            val = it->valuestring;
        } else if (cJSON_IsBool(it)) {
            val = cJSON_IsTrue(it) ? "true" : "false";
        } else if (cJSON_IsNumber(it) && o->type != MC_OPT_STR) {
            snprintf(num, sizeof(num), "%.17g", it->valuedouble);
            val = num;
        } else {
            cJSON_Delete(root);
            return fail(res, "%s: config file %s: option '%s': expected a %s", spec->prog, path,
                        o->name, type_names[o->type]);
        }
        if (set_value(o, out, val, why, sizeof(why)) != MC_OK) {
            cJSON_Delete(root);
            return fail(res, "%s: config file %s: option '%s': %s", spec->prog, path, o->name, why);
        }
    }
    cJSON_Delete(root);
    mc_strlcpy(res->config_path, path, sizeof(res->config_path));
    return MC_CFG_LOADED;
}

static mc_cfg_status_t load_env(const mc_cfg_spec_t *spec, void *out, mc_cfg_result_t *res)
{
    char why[256], name[128];

    for (size_t i = 0; i < spec->nopts; i++) {
        const mc_opt_t *o = &spec->opts[i];
        const char *p = o->env;
        while (p && *p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            const char *val;
            if (len < sizeof(name)) {
                memcpy(name, p, len);
                name[len] = '\0';
                val = getenv(name);
                if (val) {
                    if (set_value(o, out, val, why, sizeof(why)) != MC_OK)
                        return fail(res, "%s: environment %s (option --%s): %s", spec->prog, name,
                                    o->name, why);
                    break; /* the first name set wins */
                }
            }
            p = comma ? comma + 1 : NULL;
        }
    }
    return MC_CFG_LOADED;
}

/* Splits "--name=value" / "-name" into name and optional value. */
static bool split_flag(const char *arg, const char **name, size_t *nlen, const char **val)
{
    if (arg[0] != '-' || arg[1] == '\0')
        return false;
    arg += (arg[1] == '-') ? 2 : 1;
    *name = arg;
    *val = strchr(arg, '=');
    *nlen = *val ? (size_t)(*val - arg) : strlen(arg);
    if (*val)
        (*val)++;
    return *nlen > 0;
}

static bool is_flag(const char *arg, const char *want)
{
    const char *name, *val;
    size_t nlen;
    return split_flag(arg, &name, &nlen, &val) && strlen(want) == nlen &&
           strncmp(name, want, nlen) == 0;
}

mc_cfg_status_t mc_config_load(const mc_cfg_spec_t *spec, void *out, int argc, char **argv,
                               mc_cfg_result_t *res)
{
    const char *config_path = NULL;
    char why[256];
    mc_cfg_status_t st;

    memset(res, 0, sizeof(*res));
    /* Pass 1: help and the config file name. */
    for (int i = 1; i < argc; i++) {
        const char *name, *val;
        size_t nlen;
        if (is_flag(argv[i], "help") || is_flag(argv[i], "h")) {
            mc_config_print_help(spec, stdout);
            return MC_CFG_HELP;
        }
        if (is_flag(argv[i], "help_markdown")) {
            mc_config_print_markdown(spec, stdout);
            return MC_CFG_HELP;
        }
        if (split_flag(argv[i], &name, &nlen, &val) && nlen == 6 &&
            strncmp(name, "config", 6) == 0) {
            if (!val) {
                if (i + 1 >= argc)
                    return fail(res, "%s: option --config: missing value", spec->prog);
                val = argv[++i];
            }
            config_path = val;
        }
    }
    if (!config_path) {
        config_path = getenv("MOONCAKE_CONFIG_PATH");
        if (config_path && !*config_path)
            config_path = NULL;
    }

    st = mc_config_defaults(spec, out, res);
    if (st != MC_CFG_LOADED)
        return st;
    if (config_path && (st = load_file(spec, out, config_path, res)) != MC_CFG_LOADED)
        return st;
    if ((st = load_env(spec, out, res)) != MC_CFG_LOADED)
        return st;

    /* Pass 2: flags, highest precedence. */
    for (int i = 1; i < argc; i++) {
        const char *name, *val;
        size_t nlen;
        const mc_opt_t *o;

        if (strcmp(argv[i], "--") == 0) {
            if (i + 1 < argc)
                return fail(res, "%s: unexpected argument '%s'", spec->prog, argv[i + 1]);
            break;
        }
        if (!split_flag(argv[i], &name, &nlen, &val))
            return fail(res, "%s: unexpected argument '%s' (options look like --name=value)",
                        spec->prog, argv[i]);
        if (nlen == 6 && strncmp(name, "config", 6) == 0) {
            if (!val)
                i++;
            continue;
        }
        o = find_opt(spec, name, nlen);
        if (!o && nlen > 2 && strncmp(name, "no", 2) == 0 && !val) {
            /* gflags' --noflag */
            o = find_opt(spec, name + 2, nlen - 2);
            if (o && o->type == MC_OPT_BOOL) {
                val = "false";
            } else {
                o = NULL;
            }
        }
        if (!o)
            return fail(res, "%s: unknown option --%.*s (see --help)", spec->prog, (int)nlen, name);
        if (!val) {
            if (o->type == MC_OPT_BOOL) {
                val = "true";
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                return fail(res, "%s: option --%s: missing value", spec->prog, o->name);
            }
        }
        if (set_value(o, out, val, why, sizeof(why)) != MC_OK)
            return fail(res, "%s: option --%s: %s", spec->prog, o->name, why);
    }
    return MC_CFG_LOADED;
}

static void format_bounds(const mc_opt_t *o, char *buf, size_t len)
{
    buf[0] = '\0';
    if (o->type == MC_OPT_STR && o->choices) {
        /* '|' would split a markdown table cell */
        snprintf(buf, len, "one of %s", o->choices);
        for (char *p = buf; *p; p++)
            if (*p == '|')
                *p = '/';
    } else if (o->type != MC_OPT_STR && o->type != MC_OPT_BOOL && o->min <= o->max)
        snprintf(buf, len, "%.17g..%.17g", o->min, o->max);
}

void mc_config_print_help(const mc_cfg_spec_t *spec, FILE *f)
{
    char bounds[128];

    fprintf(f, "Usage: %s [--option=value ...]\n%s\n\nOptions:\n", spec->prog, spec->summary);
    for (size_t i = 0; i < spec->nopts; i++) {
        const mc_opt_t *o = &spec->opts[i];
        format_bounds(o, bounds, sizeof(bounds));
        fprintf(f, "  --%s=<%s>\n      %s\n      default: \"%s\"%s%s%s%s\n", o->name,
                type_names[o->type], o->help, o->def ? o->def : "", bounds[0] ? "; " : "", bounds,
                o->env ? "; env: " : "", o->env ? o->env : "");
    }
    fprintf(f, "  --config=<path>\n      JSON file of option values (keys are option names)"
               "\n      env: MOONCAKE_CONFIG_PATH\n");
    fprintf(f, "  --help\n      Print this help and exit.\n");
}

void mc_config_print_markdown(const mc_cfg_spec_t *spec, FILE *f)
{
    char bounds[128];

    fprintf(f, "| Flag | Type | Default | Allowed | Env | Description |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < spec->nopts; i++) {
        const mc_opt_t *o = &spec->opts[i];
        format_bounds(o, bounds, sizeof(bounds));
        fprintf(f, "| `--%s` | %s | `%s` | %s | %s | %s |\n", o->name, type_names[o->type],
                o->def ? o->def : "", bounds, o->env ? o->env : "", o->help);
    }
    fprintf(f, "| `--config` | path | | | MOONCAKE_CONFIG_PATH | JSON file of option values "
               "(keys are option names) |\n");
}
