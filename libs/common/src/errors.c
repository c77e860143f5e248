#include "mc/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int code;
    int http;
    const char *name;
    const char *desc;
} err_row_t;

static const err_row_t rows[] = {
#define MC_ERR_ROW_(name, code, http, desc) {code, http, #name, desc},
    MC_ERROR_MAP(MC_ERR_ROW_)
#undef MC_ERR_ROW_
};

static const err_row_t *find(int code)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].code == code)
            return &rows[i];
    return NULL;
}

const char *mc_err_name(int code)
{
    const err_row_t *r = find(code);
    return r ? r->name : "UNKNOWN_ERROR";
}

const char *mc_err_desc(int code)
{
    const err_row_t *r = find(code);
    return r ? r->desc : "unknown error";
}

int mc_err_http_status(int code)
{
    const err_row_t *r = find(code);
    return r ? r->http : 500;
}

int mc_err_known(int code)
{
    return find(code) != NULL;
}

int mc_err_from_name(const char *name)
{
    if (!name)
        return 1;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (strcmp(rows[i].name, name) == 0)
            return rows[i].code;
    return 1;
}

int mc_err_from_http_status(int status)
{
    if (status >= 200 && status < 300)
        return MC_OK;
    switch (status) {
    case 400:
    case 405:
    case 411:
    case 413:
    case 414:
    case 415:
    case 422: return MC_INVALID_PARAMS;
    case 403: return MC_ILLEGAL_CLIENT;
    case 404: return MC_OBJECT_NOT_FOUND;
    case 409: return MC_OBJECT_ALREADY_EXISTS;
    case 410: return MC_LEASE_EXPIRED;
    case 507: return MC_NO_AVAILABLE_HANDLE;
    case 502:
    case 503:
    case 504: return MC_RPC_FAIL;
    default: return MC_INTERNAL_ERROR;
    }
}

int mc_vfail(mc_errmsg_t *err, int code, const char *fmt, va_list ap)
{
    if (err)
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int mc_fail(mc_errmsg_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = mc_vfail(err, code, fmt, ap);
    va_end(ap);
    return code;
}
