/* mooncake._store: the C extension under mooncake.store. A thin layer over
 * libmooncake_client (mooncake_client.h): Python objects in, C calls with
 * the GIL released, Python objects out. Argument names, defaults and types
 * are checked by the Python layer (mooncake/store.py); here every method
 * takes positional arguments of the exact types that layer passes.
 *
 * A config travels as a tuple (replica_num, with_soft_pin, with_hard_pin,
 * preferred segment names tuple[, upsert]) or None; upsert true turns a put
 * call into its upsert form. Keys are str; a key holding a NUL
 * or that is not valid UTF-8 answers INVALID_KEY (-400) like any bad key. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "mooncake_client.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INVALID_KEY (-400)
#define INVALID_PARAMS (-600)
#define INTERNAL_ERROR (-1)

typedef struct {
    PyObject_HEAD mooncake_client_t *c;
} ClientObject;

static PyTypeObject ClientType;

/* Runs stmt with the GIL released (every call into the library). */
#define UNLOCKED(stmt)                            \
    do {                                          \
        PyThreadState *ts_ = PyEval_SaveThread(); \
        stmt;                                     \
        PyEval_RestoreThread(ts_);                \
    } while (0)

/* ---- argument conversion (GIL held) ---- */

/* A key's UTF-8 bytes (owned by the str object), or NULL when it cannot be
 * a key. */
static const char *key_of(PyObject *o)
{
    Py_ssize_t n;
    const char *s;

    if (!PyUnicode_Check(o))
        return NULL;
    s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) {
        PyErr_Clear();
        return NULL;
    }
    return strlen(s) == (size_t)n && n > 0 ? s : NULL;
}

/* The config tuple (or None) as the C struct; names points at the tuple's
 * strings, valid while it lives. */
static int cfg_of(PyObject *t, mooncake_client_replicate_config_t *cfg, const char **names,
                  size_t cap, bool *upsert)
{
    PyObject *pref;
    Py_ssize_t n;

    memset(cfg, 0, sizeof(*cfg));
    *upsert = false;
    if (t == Py_None)
        return 0;
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 4 || PyTuple_GET_SIZE(t) > 5)
        return -1;
    *upsert = PyTuple_GET_SIZE(t) == 5 && PyObject_IsTrue(PyTuple_GET_ITEM(t, 4)) == 1;
    cfg->replica_num = PyLong_AsSize_t(PyTuple_GET_ITEM(t, 0));
    cfg->with_soft_pin = PyObject_IsTrue(PyTuple_GET_ITEM(t, 1));
    cfg->with_hard_pin = PyObject_IsTrue(PyTuple_GET_ITEM(t, 2));
    pref = PyTuple_GET_ITEM(t, 3);
    if (PyErr_Occurred() || !PyTuple_Check(pref))
        return -1;
    n = PyTuple_GET_SIZE(pref);
    for (Py_ssize_t i = 0; i < n && (size_t)i < cap; i++)
        if (!(names[i] = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pref, i))))
            return -1;
    cfg->preferred_segments = n ? names : NULL;
    cfg->preferred_segments_count = (size_t)n < cap ? (size_t)n : cap;
    return 0;
}

/* keys: a tuple of str -> a C array (malloc'd, caller frees); NULL entries
 * for keys that cannot be keys. */
static const char **keys_of(PyObject *keys, Py_ssize_t *n)
{
    const char **k;

    *n = PyTuple_GET_SIZE(keys);
    if (!(k = calloc((size_t)(*n ? *n : 1), sizeof(*k))))
        return NULL;
    for (Py_ssize_t i = 0; i < *n; i++)
        k[i] = key_of(PyTuple_GET_ITEM(keys, i));
    return k;
}

static bool all_keys(const char **k, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (!k[i])
            return false;
    return true;
}

static PyObject *int_list(const int *v, Py_ssize_t n)
{
    PyObject *l = PyList_New(n);
    for (Py_ssize_t i = 0; l && i < n; i++)
        PyList_SET_ITEM(l, i, PyLong_FromLong(v[i]));
    return l;
}

static PyObject *i64_list(const int64_t *v, Py_ssize_t n)
{
    PyObject *l = PyList_New(n);
    for (Py_ssize_t i = 0; l && i < n; i++)
        PyList_SET_ITEM(l, i, PyLong_FromLongLong(v[i]));
    return l;
}

static PyObject *same_code(Py_ssize_t n, long code)
{
    PyObject *l = PyList_New(n);
    for (Py_ssize_t i = 0; l && i < n; i++)
        PyList_SET_ITEM(l, i, PyLong_FromLong(code));
    return l;
}

static mooncake_client_t *cli(ClientObject *self)
{
    if (!self->c)
        PyErr_SetString(PyExc_RuntimeError, "the store is closed");
    return self->c;
}

/* ---- module functions: making a client ---- */

static PyObject *wrap(int rc, mooncake_client_t *c)
{
    ClientObject *o;

    if (rc != 0)
        return Py_BuildValue("(iO)", rc, Py_None);
    if (!(o = PyObject_New(ClientObject, &ClientType))) {
        mooncake_client_close(c);
        return NULL;
    }
    o->c = c;
    return Py_BuildValue("(iN)", 0, (PyObject *)o);
}

static PyObject *mod_setup(PyObject *m, PyObject *args)
{
    mooncake_client_setup_t st = {0};
    unsigned long long gss, lbs;
    mooncake_client_t *c = NULL;
    int rc;

    (void)m;
    if (!PyArg_ParseTuple(args, "ssKKssspz", &st.local_hostname, &st.metadata_server, &gss, &lbs,
                          &st.protocol, &st.device_name, &st.master_server_addr,
                          &st.enable_ssd_offload, &st.ssd_offload_path))
        return NULL;
    st.global_segment_size = gss;
    st.local_buffer_size = lbs;
    UNLOCKED(rc = mooncake_client_setup(&st, &c));
    return wrap(rc, c);
}

static PyObject *mod_connect(PyObject *m, PyObject *args)
{
    const char *where;
    unsigned long long lbs;
    mooncake_client_t *c = NULL;
    int rc;

    (void)m;
    if (!PyArg_ParseTuple(args, "zK", &where, &lbs))
        return NULL;
    UNLOCKED(rc = mooncake_client_connect(where, (size_t)lbs, &c));
    return wrap(rc, c);
}

static PyObject *mod_strerror(PyObject *m, PyObject *args)
{
    int code;

    (void)m;
    if (!PyArg_ParseTuple(args, "i", &code))
        return NULL;
    return PyUnicode_FromString(mooncake_client_strerror(code));
}

static PyObject *mod_host_alloc(PyObject *m, PyObject *args)
{
    unsigned long long size;
    void *p;

    (void)m;
    if (!PyArg_ParseTuple(args, "K", &size))
        return NULL;
    UNLOCKED(p = mooncake_client_host_alloc((size_t)size));
    return PyLong_FromUnsignedLongLong((unsigned long long)(uintptr_t)p);
}

static PyObject *mod_host_free(PyObject *m, PyObject *args)
{
    unsigned long long ptr;
    int rc;

    (void)m;
    if (!PyArg_ParseTuple(args, "K", &ptr))
        return NULL;
    UNLOCKED(rc = mooncake_client_host_free((void *)(uintptr_t)ptr));
    return PyLong_FromLong(rc);
}

/* ---- Client methods ---- */

static void client_dealloc(ClientObject *self)
{
    mooncake_client_t *c = self->c;

    self->c = NULL;
    if (c)
        UNLOCKED(mooncake_client_close(c));
    PyObject_Free(self);
}

static PyObject *m_close(ClientObject *self, PyObject *unused)
{
    mooncake_client_t *c = self->c;

    (void)unused;
    self->c = NULL;
    if (c)
        UNLOCKED(mooncake_client_close(c));
    Py_RETURN_NONE;
}

static PyObject *m_put(ClientObject *self, PyObject *args)
{
    PyObject *key, *cfgt;
    Py_buffer v;
    mooncake_client_replicate_config_t cfg;
    bool upsert;
    const char *names[8], *k;
    mooncake_client_t *c = cli(self);
    int rc;

    if (!c || !PyArg_ParseTuple(args, "Uy*O", &key, &v, &cfgt))
        return NULL;
    if (cfg_of(cfgt, &cfg, names, 8, &upsert) != 0) {
        PyBuffer_Release(&v);
        return PyErr_Occurred() ? NULL : PyLong_FromLong(INVALID_PARAMS);
    }
    if (!(k = key_of(key))) {
        PyBuffer_Release(&v);
        return PyLong_FromLong(INVALID_KEY);
    }
    UNLOCKED(rc = (upsert ? mooncake_client_upsert : mooncake_client_put)(c, k, v.buf,
                                                                          (size_t)v.len, &cfg));
    PyBuffer_Release(&v);
    return PyLong_FromLong(rc);
}

static PyObject *m_put_parts(ClientObject *self, PyObject *args)
{
    PyObject *key, *parts, *cfgt;
    mooncake_client_replicate_config_t cfg;
    bool upsert;
    const char *names[8], *k;
    mooncake_client_t *c = cli(self);
    Py_buffer *bufs;
    mooncake_slice_t *sl;
    Py_ssize_t n, got = 0;
    int rc = 0;

    if (!c || !PyArg_ParseTuple(args, "UO!O", &key, &PyTuple_Type, &parts, &cfgt))
        return NULL;
    if (cfg_of(cfgt, &cfg, names, 8, &upsert) != 0)
        return PyErr_Occurred() ? NULL : PyLong_FromLong(INVALID_PARAMS);
    if (!(k = key_of(key)))
        return PyLong_FromLong(INVALID_KEY);
    n = PyTuple_GET_SIZE(parts);
    bufs = calloc((size_t)(n ? n : 1), sizeof(*bufs));
    sl = calloc((size_t)(n ? n : 1), sizeof(*sl));
    if (!bufs || !sl) {
        free(bufs);
        free(sl);
        return PyErr_NoMemory();
    }
    for (; got < n; got++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(parts, got), &bufs[got], PyBUF_SIMPLE) != 0)
            break;
        sl[got] = (mooncake_slice_t){bufs[got].buf, (size_t)bufs[got].len};
    }
    if (got == n)
        UNLOCKED(rc = (upsert ? mooncake_client_upsert_parts
                              : mooncake_client_put_parts)(c, k, sl, (size_t)n, &cfg));
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&bufs[i]);
    free(bufs);
    free(sl);
    return got == n ? PyLong_FromLong(rc) : NULL;
}

/* The value as bytes, or the negative code as an int. */
static PyObject *m_get(ClientObject *self, PyObject *args)
{
    PyObject *key, *out;
    mooncake_client_t *c = cli(self);
    const char *k;
    int64_t size, got;

    if (!c || !PyArg_ParseTuple(args, "U", &key))
        return NULL;
    if (!(k = key_of(key)))
        return PyLong_FromLong(INVALID_KEY);
    for (int attempt = 0; attempt < 3; attempt++) {
        UNLOCKED(size = mooncake_client_get_size(c, k));
        if (size < 0)
            return PyLong_FromLongLong(size);
        if (!(out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size)))
            return NULL;
        UNLOCKED(got =
                     mooncake_client_get(c, k, PyBytes_AS_STRING(out), (size_t)(size ? size : 1)));
        if (got == size)
            return out;
        Py_DECREF(out);
        if (got != -10) /* BUFFER_OVERFLOW: replaced by a larger value meanwhile */
            return PyLong_FromLongLong(got);
    }
    return PyLong_FromLong(-10);
}

static PyObject *m_put_from(ClientObject *self, PyObject *args)
{
    PyObject *key, *cfgt;
    unsigned long long ptr, size;
    mooncake_client_replicate_config_t cfg;
    bool upsert;
    const char *names[8], *k;
    mooncake_client_t *c = cli(self);
    int rc;

    if (!c || !PyArg_ParseTuple(args, "UKKO", &key, &ptr, &size, &cfgt))
        return NULL;
    if (cfg_of(cfgt, &cfg, names, 8, &upsert) != 0)
        return PyErr_Occurred() ? NULL : PyLong_FromLong(INVALID_PARAMS);
    if (!(k = key_of(key)))
        return PyLong_FromLong(INVALID_KEY);
    UNLOCKED(rc = (upsert ? mooncake_client_upsert_from : mooncake_client_put_from)(
                 c, k, (const void *)(uintptr_t)ptr, (size_t)size, &cfg));
    return PyLong_FromLong(rc);
}

static PyObject *m_get_into(ClientObject *self, PyObject *args)
{
    PyObject *key;
    unsigned long long ptr, size;
    mooncake_client_t *c = cli(self);
    const char *k;
    int64_t rc;

    if (!c || !PyArg_ParseTuple(args, "UKK", &key, &ptr, &size))
        return NULL;
    if (!(k = key_of(key)))
        return PyLong_FromLong(INVALID_KEY);
    UNLOCKED(rc = mooncake_client_get_into(c, k, (void *)(uintptr_t)ptr, (size_t)size));
    return PyLong_FromLongLong(rc);
}

/* tuple of ints -> malloc'd uint64 array */
static uint64_t *u64s_of(PyObject *t, Py_ssize_t n)
{
    uint64_t *v;

    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != n) {
        PyErr_SetString(PyExc_TypeError, "expected lists of the same length as keys");
        return NULL;
    }
    if (!(v = calloc((size_t)(n ? n : 1), sizeof(*v))))
        return (uint64_t *)PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        v[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, i));
        if (PyErr_Occurred()) {
            free(v);
            return NULL;
        }
    }
    return v;
}

/* batch_put_from / batch_get_into: keys, ptrs, sizes (tuples) [, cfg]. */
static PyObject *flat_batch(ClientObject *self, PyObject *args, bool put)
{
    PyObject *keys, *ptrs_t, *sizes_t, *cfgt = Py_None, *res = NULL;
    mooncake_client_replicate_config_t cfg;
    bool upsert;
    const char *names[8], **k = NULL;
    mooncake_client_t *c = cli(self);
    uint64_t *ptrs = NULL, *sizes = NULL;
    int *ires = NULL;
    int64_t *lres = NULL;
    Py_ssize_t n = 0;

    if (!c || !PyArg_ParseTuple(args, put ? "O!OOO" : "O!OO", &PyTuple_Type, &keys, &ptrs_t,
                                &sizes_t, &cfgt))
        return NULL;
    if (cfg_of(cfgt, &cfg, names, 8, &upsert) != 0)
        return PyErr_Occurred() ? NULL : same_code(PyTuple_GET_SIZE(keys), INVALID_PARAMS);
    if (!(k = keys_of(keys, &n)))
        return PyErr_NoMemory();
    if (!(ptrs = u64s_of(ptrs_t, n)) || !(sizes = u64s_of(sizes_t, n)))
        goto out;
    if (n == 0) {
        res = PyList_New(0);
        goto out;
    }
    if (!all_keys(k, n)) {
        res = same_code(n, INVALID_KEY);
        goto out;
    }
    ires = calloc((size_t)n, sizeof(*ires));
    lres = calloc((size_t)n, sizeof(*lres));
    if (!ires || !lres) {
        PyErr_NoMemory();
        goto out;
    }
    if (put)
        UNLOCKED((upsert ? mooncake_client_batch_upsert_from : mooncake_client_batch_put_from)(
            c, k, (const void *const *)ptrs, (const size_t *)sizes, (size_t)n, &cfg, ires));
    else
        UNLOCKED(mooncake_client_batch_get_into(c, k, (void *const *)ptrs, (const size_t *)sizes,
                                                (size_t)n, lres));
    res = put ? int_list(ires, n) : i64_list(lres, n);
out:
    free(k);
    free(ptrs);
    free(sizes);
    free(ires);
    free(lres);
    return res;
}

_Static_assert(sizeof(uint64_t) == sizeof(void *) && sizeof(uint64_t) == sizeof(size_t),
               "pointer and size arrays are reinterpreted as uint64 arrays");

static PyObject *m_batch_put_from(ClientObject *self, PyObject *args)
{
    return flat_batch(self, args, true);
}

static PyObject *m_batch_get_into(ClientObject *self, PyObject *args)
{
    return flat_batch(self, args, false);
}

/* The multi-buffer forms: keys, all_ptrs (tuple of tuples), all_sizes [, cfg]. */
static PyObject *multi_batch(ClientObject *self, PyObject *args, bool put)
{
    PyObject *keys, *aptrs, *asizes, *cfgt = Py_None, *res = NULL;
    mooncake_client_replicate_config_t cfg;
    bool upsert;
    const char *names[8], **k = NULL;
    mooncake_client_t *c = cli(self);
    mooncake_slice_t **bufs = NULL;
    size_t *nbufs = NULL;
    int *ires = NULL;
    int64_t *lres = NULL;
    Py_ssize_t n = 0, i;

    if (!c || !PyArg_ParseTuple(args, put ? "O!O!O!O" : "O!O!O!", &PyTuple_Type, &keys,
                                &PyTuple_Type, &aptrs, &PyTuple_Type, &asizes, &cfgt))
        return NULL;
    if (cfg_of(cfgt, &cfg, names, 8, &upsert) != 0)
        return PyErr_Occurred() ? NULL : same_code(PyTuple_GET_SIZE(keys), INVALID_PARAMS);
    if (!(k = keys_of(keys, &n)))
        return PyErr_NoMemory();
    if (PyTuple_GET_SIZE(aptrs) != n || PyTuple_GET_SIZE(asizes) != n) {
        PyErr_SetString(PyExc_TypeError, "expected lists of the same length as keys");
        goto out;
    }
    bufs = calloc((size_t)(n ? n : 1), sizeof(*bufs));
    nbufs = calloc((size_t)(n ? n : 1), sizeof(*nbufs));
    ires = calloc((size_t)(n ? n : 1), sizeof(*ires));
    lres = calloc((size_t)(n ? n : 1), sizeof(*lres));
    if (!bufs || !nbufs || !ires || !lres) {
        PyErr_NoMemory();
        goto out;
    }
    for (i = 0; i < n; i++) {
        PyObject *p = PyTuple_GET_ITEM(aptrs, i), *s = PyTuple_GET_ITEM(asizes, i);
        Py_ssize_t m;

        if (!PyTuple_Check(p) || !PyTuple_Check(s) || PyTuple_GET_SIZE(p) != PyTuple_GET_SIZE(s)) {
            PyErr_SetString(PyExc_TypeError, "each key needs as many sizes as buffers");
            goto out;
        }
        m = PyTuple_GET_SIZE(p);
        if (!(bufs[i] = calloc((size_t)(m ? m : 1), sizeof(mooncake_slice_t)))) {
            PyErr_NoMemory();
            goto out;
        }
        nbufs[i] = (size_t)m;
        for (Py_ssize_t j = 0; j < m; j++) {
            bufs[i][j].ptr = (void *)(uintptr_t)PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(p, j));
            bufs[i][j].size = (size_t)PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(s, j));
        }
        if (PyErr_Occurred())
            goto out;
    }
    if (n == 0) {
        res = PyList_New(0);
        goto out;
    }
    if (!all_keys(k, n)) {
        res = same_code(n, INVALID_KEY);
        goto out;
    }
    if (put)
        UNLOCKED(mooncake_client_batch_put_from_multi_buffers(
            c, k, (const mooncake_slice_t *const *)bufs, nbufs, (size_t)n, &cfg, ires));
    else
        UNLOCKED(mooncake_client_batch_get_into_multi_buffers(
            c, k, (const mooncake_slice_t *const *)bufs, nbufs, (size_t)n, lres));
    res = put ? int_list(ires, n) : i64_list(lres, n);
out:
    for (i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(nbufs);
    free(ires);
    free(lres);
    free(k);
    return res;
}

static PyObject *m_batch_put_multi(ClientObject *self, PyObject *args)
{
    return multi_batch(self, args, true);
}

static PyObject *m_batch_get_multi(ClientObject *self, PyObject *args)
{
    return multi_batch(self, args, false);
}

/* put_batch(keys, values, cfg) -> int (0 or the first failure) */
static PyObject *m_put_batch(ClientObject *self, PyObject *args)
{
    PyObject *keys, *vals, *cfgt, *res = NULL;
    mooncake_client_replicate_config_t cfg;
    bool upsert;
    const char *names[8], **k = NULL;
    mooncake_client_t *c = cli(self);
    Py_buffer *bufs = NULL;
    const void **ptrs = NULL;
    size_t *sizes = NULL;
    int *codes = NULL;
    Py_ssize_t n = 0, got = 0;
    int rc = 0;

    if (!c || !PyArg_ParseTuple(args, "O!O!O", &PyTuple_Type, &keys, &PyTuple_Type, &vals, &cfgt))
        return NULL;
    if (PyTuple_GET_SIZE(vals) != PyTuple_GET_SIZE(keys)) {
        PyErr_SetString(PyExc_TypeError, "expected as many values as keys");
        return NULL;
    }
    if (cfg_of(cfgt, &cfg, names, 8, &upsert) != 0)
        return PyErr_Occurred() ? NULL : PyLong_FromLong(INVALID_PARAMS);
    if (!(k = keys_of(keys, &n)))
        return PyErr_NoMemory();
    bufs = calloc((size_t)(n ? n : 1), sizeof(*bufs));
    ptrs = calloc((size_t)(n ? n : 1), sizeof(*ptrs));
    sizes = calloc((size_t)(n ? n : 1), sizeof(*sizes));
    codes = calloc((size_t)(n ? n : 1), sizeof(*codes));
    if (!bufs || !ptrs || !sizes || !codes) {
        PyErr_NoMemory();
        goto out;
    }
    for (; got < n; got++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(vals, got), &bufs[got], PyBUF_SIMPLE) != 0)
            goto out;
        ptrs[got] = bufs[got].buf;
        sizes[got] = (size_t)bufs[got].len;
    }
    if (n == 0 || !all_keys(k, n)) {
        res = PyLong_FromLong(n == 0 ? 0 : INVALID_KEY);
        goto out;
    }
    UNLOCKED(rc = (upsert ? mooncake_client_upsert_batch
                          : mooncake_client_put_batch)(c, k, ptrs, sizes, (size_t)n, &cfg, codes));
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++)
        if (codes[i])
            rc = codes[i]; /* Mooncake's put_batch answers one code */
    res = PyLong_FromLong(rc);
out:
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&bufs[i]);
    free(bufs);
    free(ptrs);
    free(sizes);
    free(codes);
    free(k);
    return res;
}

/* keys -> [int] for exist (op 0) / size (1) / remove(keys, force) (2) /
 * replica_clear(keys, segment) (3) */
static PyObject *keys_batch(ClientObject *self, PyObject *args, int op)
{
    PyObject *keys, *res = NULL;
    mooncake_client_t *c = cli(self);
    const char **k, *seg = NULL;
    int *ires = NULL;
    int64_t *lres = NULL;
    Py_ssize_t n;
    int force = 0, parsed;

    if (!c)
        return NULL;
    parsed = op == 2   ? PyArg_ParseTuple(args, "O!p", &PyTuple_Type, &keys, &force)
             : op == 3 ? PyArg_ParseTuple(args, "O!s", &PyTuple_Type, &keys, &seg)
                       : PyArg_ParseTuple(args, "O!", &PyTuple_Type, &keys);
    if (!parsed)
        return NULL;
    if (!(k = keys_of(keys, &n)))
        return PyErr_NoMemory();
    if (n == 0) {
        free(k);
        return PyList_New(0);
    }
    if (!all_keys(k, n)) {
        free(k);
        return same_code(n, INVALID_KEY);
    }
    ires = calloc((size_t)n, sizeof(*ires));
    lres = calloc((size_t)n, sizeof(*lres));
    if (ires && lres) {
        if (op == 0)
            UNLOCKED(mooncake_client_batch_is_exist(c, k, (size_t)n, ires));
        else if (op == 2)
            UNLOCKED(mooncake_client_batch_remove(c, k, (size_t)n, force, ires));
        else if (op == 3)
            UNLOCKED(mooncake_client_batch_replica_clear(c, k, (size_t)n, seg, ires));
        else
            UNLOCKED(for (Py_ssize_t i = 0; i < n; i++) lres[i] =
                         mooncake_client_get_size(c, k[i]));
        res = op == 1 ? i64_list(lres, n) : int_list(ires, n);
    } else {
        PyErr_NoMemory();
    }
    free(ires);
    free(lres);
    free(k);
    return res;
}

static PyObject *m_batch_is_exist(ClientObject *self, PyObject *args)
{
    return keys_batch(self, args, 0);
}

static PyObject *m_batch_get_size(ClientObject *self, PyObject *args)
{
    return keys_batch(self, args, 1);
}

static PyObject *m_batch_remove(ClientObject *self, PyObject *args)
{
    return keys_batch(self, args, 2);
}

/* batch_replica_clear(keys, segment) -> [int] (0 = cleared) */
static PyObject *m_batch_replica_clear(ClientObject *self, PyObject *args)
{
    return keys_batch(self, args, 3);
}

/* One key's descriptors: (code, size, [(type, segment, endpoint, offset, size)]). */
static PyObject *replicas_of(const mooncake_client_replicas_t *r)
{
    PyObject *list = PyList_New((Py_ssize_t)r->n);

    for (size_t j = 0; list && j < r->n; j++) {
        const mooncake_client_replica_t *x = &r->rep[j];
        PyObject *t = Py_BuildValue("(issKK)", x->type, x->segment, x->endpoint,
                                    (unsigned long long)x->offset, (unsigned long long)x->size);
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)j, t);
    }
    return list ? Py_BuildValue("(iKN)", r->code, (unsigned long long)r->size, list) : NULL;
}

/* batch_get_replica_desc(keys) -> [(code, size, [replica tuples])] */
static PyObject *m_batch_get_replica_desc(ClientObject *self, PyObject *args)
{
    PyObject *keys, *res = NULL;
    mooncake_client_t *c = cli(self);
    mooncake_client_replicas_t *out;
    const char **k;
    Py_ssize_t n;

    if (!c || !PyArg_ParseTuple(args, "O!", &PyTuple_Type, &keys))
        return NULL;
    if (!(k = keys_of(keys, &n)))
        return PyErr_NoMemory();
    if (!(out = calloc((size_t)(n ? n : 1), sizeof(*out)))) {
        free(k);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++)
        out[i].code = k[i] ? 0 : INVALID_KEY;
    if (n > 0 && all_keys(k, n))
        UNLOCKED(mooncake_client_batch_get_replica_desc(c, k, (size_t)n, out));
    if ((res = PyList_New(n)))
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *t = replicas_of(&out[i]);
            if (!t) {
                Py_CLEAR(res);
                break;
            }
            PyList_SET_ITEM(res, i, t);
        }
    free(out);
    free(k);
    return res;
}

static PyObject *m_remove_many(ClientObject *self, PyObject *args)
{
    const char *pattern;
    mooncake_client_t *c = cli(self);
    int force;
    int64_t rc;

    if (!c || !PyArg_ParseTuple(args, "zp", &pattern, &force))
        return NULL;
    UNLOCKED(rc = pattern ? mooncake_client_remove_by_regex(c, pattern, force)
                          : mooncake_client_remove_all(c, force));
    return PyLong_FromLongLong(rc);
}

static PyObject *m_get_hostname(ClientObject *self, PyObject *unused)
{
    mooncake_client_t *c = cli(self);
    char host[256] = "";

    (void)unused;
    if (!c)
        return NULL;
    UNLOCKED(mooncake_client_get_hostname(c, host, sizeof(host)));
    return PyUnicode_FromString(host);
}

static PyObject *m_health(ClientObject *self, PyObject *unused)
{
    mooncake_client_t *c = cli(self);
    int rc;

    (void)unused;
    if (!c)
        return NULL;
    UNLOCKED(rc = mooncake_client_health(c));
    return PyLong_FromLong(rc);
}

static PyObject *m_ephemeral(ClientObject *self, PyObject *unused)
{
    mooncake_client_t *c = cli(self);

    (void)unused;
    return c ? PyLong_FromLong(mooncake_client_service_ephemeral(c)) : NULL;
}

static PyObject *m_alloc_buffer(ClientObject *self, PyObject *args)
{
    mooncake_client_t *c = cli(self);
    unsigned long long size;
    void *p;

    if (!c || !PyArg_ParseTuple(args, "K", &size))
        return NULL;
    UNLOCKED(p = mooncake_client_alloc_buffer(c, (size_t)size));
    return PyLong_FromUnsignedLongLong((unsigned long long)(uintptr_t)p);
}

/* free_buffer / unregister_buffer (ptr) and register_buffer (ptr, size) */
static PyObject *buffer_call(ClientObject *self, PyObject *args, int op)
{
    mooncake_client_t *c = cli(self);
    unsigned long long ptr, size = 0;
    void *p;
    int rc;

    if (!c || !PyArg_ParseTuple(args, op == 1 ? "KK" : "K", &ptr, &size))
        return NULL;
    p = (void *)(uintptr_t)ptr;

    if (op == 0)
        UNLOCKED(rc = mooncake_client_free_buffer(c, p));
    else if (op == 1)
        UNLOCKED(rc = mooncake_client_register_buffer(c, p, (size_t)size));
    else
        UNLOCKED(rc = mooncake_client_unregister_buffer(c, p));
    return PyLong_FromLong(rc);
}

static PyObject *m_free_buffer(ClientObject *self, PyObject *args)
{
    return buffer_call(self, args, 0);
}

static PyObject *m_register_buffer(ClientObject *self, PyObject *args)
{
    return buffer_call(self, args, 1);
}

static PyObject *m_unregister_buffer(ClientObject *self, PyObject *args)
{
    return buffer_call(self, args, 2);
}

/* ---- Buffer: a get_buffer result with the buffer protocol ---- */

typedef struct {
    PyObject_HEAD mooncake_client_buffer_t *b; /* NULL once released */
    PyObject *client;                          /* keeps the Client alive */
    Py_ssize_t exports;                        /* open memoryviews */
} BufferObject;

static PyTypeObject BufferType;

static int buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags)
{
    if (!self->b) {
        PyErr_SetString(PyExc_RuntimeError, "BufferHandle used after release()");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self,
                          (void *)(uintptr_t)mooncake_client_buffer_data(self->b),
                          (Py_ssize_t)mooncake_client_buffer_size(self->b), 1, flags) != 0)
        return -1;
    self->exports++;
    return 0;
}

static void buffer_releasebuffer(BufferObject *self, Py_buffer *view)
{
    (void)view;
    self->exports--;
}

static PyBufferProcs buffer_procs = {(getbufferproc)buffer_getbuffer,
                                     (releasebufferproc)buffer_releasebuffer};

static int buffer_end(BufferObject *self)
{
    mooncake_client_buffer_t *b = self->b;

    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "release(): a memoryview of this buffer is still open");
        return -1;
    }
    self->b = NULL;
    if (b)
        UNLOCKED(mooncake_client_release_buffer(b));
    return 0;
}

static void buffer_dealloc(BufferObject *self)
{
    mooncake_client_buffer_t *b = self->b;

    self->b = NULL; /* no export can be open: each holds a reference */
    if (b)
        UNLOCKED(mooncake_client_release_buffer(b));
    Py_XDECREF(self->client);
    PyObject_Free(self);
}

static bool buffer_live(BufferObject *self)
{
    if (!self->b)
        PyErr_SetString(PyExc_RuntimeError, "BufferHandle used after release()");
    return self->b != NULL;
}

static PyObject *b_ptr(BufferObject *self, PyObject *unused)
{
    (void)unused;
    return buffer_live(self)
               ? PyLong_FromUnsignedLongLong(
                     (unsigned long long)(uintptr_t)mooncake_client_buffer_data(self->b))
               : NULL;
}

static PyObject *b_size(BufferObject *self, PyObject *unused)
{
    (void)unused;
    return buffer_live(self) ? PyLong_FromSize_t(mooncake_client_buffer_size(self->b)) : NULL;
}

static PyObject *b_is_view(BufferObject *self, PyObject *unused)
{
    (void)unused;
    return buffer_live(self) ? PyBool_FromLong(mooncake_client_buffer_is_view(self->b)) : NULL;
}

static PyObject *b_release(BufferObject *self, PyObject *unused)
{
    (void)unused;
    if (buffer_end(self) != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *b_enter(BufferObject *self, PyObject *unused)
{
    (void)unused;
    if (!buffer_live(self))
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *b_exit(BufferObject *self, PyObject *args)
{
    (void)args;
    if (buffer_end(self) != 0)
        return NULL;
    Py_RETURN_FALSE;
}

static Py_ssize_t b_len(BufferObject *self)
{
    return buffer_live(self) ? (Py_ssize_t)mooncake_client_buffer_size(self->b) : -1;
}

static PySequenceMethods buffer_seq = {.sq_length = (lenfunc)b_len};

static PyMethodDef buffer_methods[] = {
    {"ptr", (PyCFunction)b_ptr, METH_NOARGS, NULL},
    {"size", (PyCFunction)b_size, METH_NOARGS, NULL},
    {"len", (PyCFunction)b_size, METH_NOARGS, NULL},
    {"is_view", (PyCFunction)b_is_view, METH_NOARGS, NULL},
    {"release", (PyCFunction)b_release, METH_NOARGS, NULL},
    {"__enter__", (PyCFunction)b_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)b_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mooncake._store.Buffer",
    .tp_doc = "A value read by get_buffer: zero-copy when it lives in this host's store "
              "service (held until released), else a private copy",
    .tp_basicsize = sizeof(BufferObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)buffer_dealloc,
    .tp_as_buffer = &buffer_procs,
    .tp_as_sequence = &buffer_seq,
    .tp_methods = buffer_methods,
};

/* batch_get_buffer(keys) -> [Buffer | int code] */
static PyObject *m_batch_get_buffer(ClientObject *self, PyObject *args)
{
    PyObject *keys, *res = NULL;
    mooncake_client_t *c = cli(self);
    mooncake_client_buffer_t **bufs = NULL;
    int64_t *codes = NULL;
    const char **k;
    Py_ssize_t n;

    if (!c || !PyArg_ParseTuple(args, "O!", &PyTuple_Type, &keys))
        return NULL;
    if (!(k = keys_of(keys, &n)))
        return PyErr_NoMemory();
    if (n == 0 || !all_keys(k, n)) {
        free(k);
        return n == 0 ? PyList_New(0) : same_code(n, INVALID_KEY);
    }
    bufs = calloc((size_t)n, sizeof(*bufs));
    codes = calloc((size_t)n, sizeof(*codes));
    if (!bufs || !codes) {
        PyErr_NoMemory();
        goto out;
    }
    UNLOCKED(mooncake_client_batch_get_buffer(c, k, (size_t)n, bufs, codes));
    if (!(res = PyList_New(n)))
        goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        BufferObject *o;

        if (!bufs[i]) {
            PyList_SET_ITEM(res, i, PyLong_FromLongLong(codes[i]));
            continue;
        }
        if (!(o = PyObject_New(BufferObject, &BufferType))) {
            mooncake_client_release_buffer(bufs[i]);
            PyList_SET_ITEM(res, i, PyLong_FromLong(INTERNAL_ERROR));
            continue;
        }
        o->b = bufs[i];
        o->exports = 0;
        Py_INCREF(self);
        o->client = (PyObject *)self;
        PyList_SET_ITEM(res, i, (PyObject *)o);
    }
out:
    free(bufs);
    free(codes);
    free(k);
    return res;
}

static PyMethodDef client_methods[] = {
    {"close", (PyCFunction)m_close, METH_NOARGS, NULL},
    {"put", (PyCFunction)m_put, METH_VARARGS, NULL},
    {"put_parts", (PyCFunction)m_put_parts, METH_VARARGS, NULL},
    {"get", (PyCFunction)m_get, METH_VARARGS, NULL},
    {"put_from", (PyCFunction)m_put_from, METH_VARARGS, NULL},
    {"get_into", (PyCFunction)m_get_into, METH_VARARGS, NULL},
    {"batch_put_from", (PyCFunction)m_batch_put_from, METH_VARARGS, NULL},
    {"batch_get_into", (PyCFunction)m_batch_get_into, METH_VARARGS, NULL},
    {"batch_put_from_multi_buffers", (PyCFunction)m_batch_put_multi, METH_VARARGS, NULL},
    {"batch_get_into_multi_buffers", (PyCFunction)m_batch_get_multi, METH_VARARGS, NULL},
    {"put_batch", (PyCFunction)m_put_batch, METH_VARARGS, NULL},
    {"batch_is_exist", (PyCFunction)m_batch_is_exist, METH_VARARGS, NULL},
    {"batch_replica_clear", (PyCFunction)m_batch_replica_clear, METH_VARARGS, NULL},
    {"batch_get_replica_desc", (PyCFunction)m_batch_get_replica_desc, METH_VARARGS, NULL},
    {"batch_get_size", (PyCFunction)m_batch_get_size, METH_VARARGS, NULL},
    {"batch_remove", (PyCFunction)m_batch_remove, METH_VARARGS, NULL},
    {"remove_many", (PyCFunction)m_remove_many, METH_VARARGS, NULL},
    {"batch_get_buffer", (PyCFunction)m_batch_get_buffer, METH_VARARGS, NULL},
    {"get_hostname", (PyCFunction)m_get_hostname, METH_NOARGS, NULL},
    {"health", (PyCFunction)m_health, METH_NOARGS, NULL},
    {"ephemeral", (PyCFunction)m_ephemeral, METH_NOARGS, NULL},
    {"alloc_buffer", (PyCFunction)m_alloc_buffer, METH_VARARGS, NULL},
    {"free_buffer", (PyCFunction)m_free_buffer, METH_VARARGS, NULL},
    {"register_buffer", (PyCFunction)m_register_buffer, METH_VARARGS, NULL},
    {"unregister_buffer", (PyCFunction)m_unregister_buffer, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mooncake._store.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)client_dealloc,
    .tp_methods = client_methods,
};

static PyMethodDef module_methods[] = {
    {"setup", mod_setup, METH_VARARGS, NULL},
    {"connect", mod_connect, METH_VARARGS, NULL},
    {"strerror", mod_strerror, METH_VARARGS, NULL},
    {"host_alloc", mod_host_alloc, METH_VARARGS, NULL},
    {"host_free", mod_host_free, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {.m_base = PyModuleDef_HEAD_INIT,
                                    .m_name = "mooncake._store",
                                    .m_doc = "libmooncake_client for mooncake.store",
                                    .m_size = -1,
                                    .m_methods = module_methods};

PyMODINIT_FUNC PyInit__store(void)
{
    PyObject *m;

    if (PyType_Ready(&ClientType) < 0 || PyType_Ready(&BufferType) < 0 ||
        !(m = PyModule_Create(&module)))
        return NULL;
    Py_INCREF(&BufferType);
    PyModule_AddObject(m, "Buffer", (PyObject *)&BufferType);
    Py_INCREF(&ClientType);
    if (PyModule_AddObject(m, "Client", (PyObject *)&ClientType) < 0) {
        Py_DECREF(&ClientType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddStringConstant(m, "client_version", mooncake_client_version());
    return m;
}
