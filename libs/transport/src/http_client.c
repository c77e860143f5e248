#include "mc/http_client.h"

#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/mtime.h"
#include "mc/strutil.h"
#include "mc/thread.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDLE_HANDLES 64

/* lock guards the idle handle stack only; requests run without it. */
struct mc_http_client {
    mc_http_client_opts_t o;
    mc_mutex_t lock;
    CURL *idle[MAX_IDLE_HANDLES] MC_GUARDED_BY(lock);
    int nidle MC_GUARDED_BY(lock);
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

mc_http_client_t *mc_http_client_create(const mc_http_client_opts_t *opts)
{
    mc_http_client_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    pthread_once(&curl_once, curl_init_once);
    if (opts)
        c->o = *opts;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 2000;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = 10000;
    if (!opts)
        c->o.retries = 2;
    else if (c->o.retries < 0)
        c->o.retries = 0;
    if (c->o.retry_backoff_ms <= 0)
        c->o.retry_backoff_ms = 50;
    if (c->o.max_response == 0)
        c->o.max_response = 256u << 20;
    mc_mutex_init(&c->lock);
    return c;
}

/* Unlocked: the caller guarantees no other thread uses c any more. */
void mc_http_client_destroy(mc_http_client_t *c) MC_NO_THREAD_SAFETY_ANALYSIS
{
    if (!c)
        return;
    for (int i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    mc_mutex_destroy(&c->lock);
    free(c);
}

static CURL *handle_get(mc_http_client_t *c)
{
    CURL *h = NULL;
    mc_mutex_lock(&c->lock);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    mc_mutex_unlock(&c->lock);
    return h ? h : curl_easy_init();
}

static void handle_release(mc_http_client_t *c, CURL *h)
{
    mc_mutex_lock(&c->lock);
    if (c->nidle < MAX_IDLE_HANDLES) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    mc_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

/* The response body, capped at max_response: a body over the cap aborts the
 * transfer (MC_BUFFER_OVERFLOW), so does running out of memory
 * (MC_INTERNAL_ERROR); neither is retried. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    return mc_buf_append(ud, ptr, n) == MC_OK ? n : 0;
}

static bool idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

static bool retryable(CURLcode rc, const char *method)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST: return true; /* nothing was sent */
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT: return idempotent(method);
    default: return false;
    }
}

static CURLcode perform_once(mc_http_client_t *c, CURL *h, const char *method, const char *url,
                             const void *body, size_t len, struct curl_slist *hdrs, mc_buf_t *sink)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    return curl_easy_perform(h);
}

int mc_http_request(mc_http_client_t *c, const char *method, const char *url, const void *body,
                    size_t len, const char *content_type, mc_http_result_t *out)
{
    struct curl_slist *hdrs = NULL;
    char ct[128];
    CURL *h;
    CURLcode rc = CURLE_OK;
    mc_buf_t sink;
    int rv;

    memset(out, 0, sizeof(*out));
    h = handle_get(c);
    if (!h)
        return MC_INTERNAL_ERROR;
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, ct);
    }
    if (c->o.bearer) {
        char auth[MC_AUTH_MAX_TOKEN + 32];
        size_t n = mc_auth_tokens_primary(c->o.bearer, auth + 22, sizeof(auth) - 22);
        memcpy(auth, "Authorization: Bearer ", 22);
        if (n)
            hdrs = curl_slist_append(hdrs, auth);
        memset(auth, 0, sizeof(auth));
    }
    if (c->o.header[0])
        hdrs = curl_slist_append(hdrs, c->o.header);
    mc_buf_init(&sink, c->o.max_response);
    for (int attempt = 0; attempt <= c->o.retries; attempt++) {
        mc_buf_cleanup(&sink);
        mc_buf_init(&sink, c->o.max_response);
        if (attempt > 0)
            mc_sleep_ms((uint64_t)(c->o.retry_backoff_ms << (attempt - 1)));
        rc = perform_once(c, h, method, url, body, len, hdrs, &sink);
        if (rc == CURLE_OK || sink.err || !retryable(rc, method))
            break;
    }
    if (rc == CURLE_OK) {
        long status = 0;
        char *ctype = NULL;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
        out->status = (int)status;
        if (ctype)
            mc_strlcpy(out->content_type, ctype, sizeof(out->content_type));
        out->body = mc_buf_take(&sink, &out->len);
        rv = out->body ? MC_OK : MC_INTERNAL_ERROR;
    } else {
        rv = sink.err ? sink.err : MC_RPC_FAIL;
    }
    mc_buf_cleanup(&sink);
    curl_slist_free_all(hdrs);
    handle_release(c, h);
    return rv;
}

void mc_http_result_cleanup(mc_http_result_t *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int mc_http_result_err(const mc_http_result_t *r)
{
    int code;

    if (r->status == 0)
        return MC_RPC_FAIL;
    code = mc_err_from_http_status(r->status);
    if (code != MC_OK && r->body && r->len) {
        cJSON *o = cJSON_ParseWithLength(r->body, r->len);
        const cJSON *jc = o ? cJSON_GetObjectItemCaseSensitive(o, "code") : NULL;
        if (cJSON_IsNumber(jc) && mc_err_known((int)jc->valuedouble) && jc->valuedouble != 0)
            code = (int)jc->valuedouble;
        cJSON_Delete(o);
    }
    return code;
}

char *mc_http_escape_take(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(len * 3 + 1), *p = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return out;
}
