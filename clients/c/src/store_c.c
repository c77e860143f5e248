/* Mooncake's C API names (store_c.h) over the native calls. */
#include "store_c.h"

#include "mooncake_client.h"

#include "mc/errors.h"

#include <stddef.h>
#include <stdlib.h>

_Static_assert(sizeof(mooncake_replicate_config_t) == sizeof(mooncake_client_replicate_config_t),
               "store_c.h's config is the native one");
_Static_assert(offsetof(mooncake_replicate_config_t, preferred_segments_count) ==
                   offsetof(mooncake_client_replicate_config_t, preferred_segments_count),
               "same layout");

/* A store_t before setup holds no connection. */
typedef struct compat {
    mooncake_client_t *c;
} compat_t;

static mooncake_client_t *cli(mooncake_store_t s)
{
    return s ? ((compat_t *)s)->c : NULL;
}

static const mooncake_client_replicate_config_t *cfg(const mooncake_replicate_config_t *c)
{
    return (const mooncake_client_replicate_config_t *)(const void *)c;
}

mooncake_store_t mooncake_store_create(void)
{
    return calloc(1, sizeof(compat_t));
}

void mooncake_store_destroy(mooncake_store_t store)
{
    if (store) {
        mooncake_client_close(cli(store));
        free(store);
    }
}

void mooncake_store_set_etcd_tls_config(mooncake_store_t store, const char *ca_file,
                                        const char *cert_file, const char *key_file)
{
    (void)store, (void)ca_file, (void)cert_file, (void)key_file;
}

int mooncake_store_setup(mooncake_store_t store, const char *local_hostname,
                         const char *metadata_server, uint64_t global_segment_size,
                         uint64_t local_buffer_size, const char *protocol, const char *device_name,
                         const char *master_server_addr)
{
    compat_t *s = store;
    mooncake_client_setup_t st = {local_hostname,
                                  metadata_server,
                                  global_segment_size,
                                  local_buffer_size,
                                  protocol,
                                  device_name,
                                  master_server_addr,
                                  0,
                                  NULL};

    if (!s)
        return MC_INVALID_PARAMS;
    if (s->c)
        return MC_OK; /* set up already */
    return mooncake_client_setup(&st, &s->c);
}

int mooncake_store_init_all(mooncake_store_t store, const char *protocol, const char *device_name,
                            uint64_t mount_segment_size)
{
    (void)store, (void)protocol, (void)device_name, (void)mount_segment_size;
    return MC_INVALID_PARAMS;
}

int mooncake_store_health_check(mooncake_store_t store)
{
    return mooncake_client_health(cli(store));
}

int mooncake_store_put(mooncake_store_t store, const char *key, const void *value, size_t size,
                       const mooncake_replicate_config_t *config)
{
    return mooncake_client_put(cli(store), key, value, size, cfg(config));
}

int mooncake_store_put_from(mooncake_store_t store, const char *key, void *buffer, size_t size,
                            const mooncake_replicate_config_t *config)
{
    return mooncake_client_put_from(cli(store), key, buffer, size, cfg(config));
}

int mooncake_store_batch_put_from(mooncake_store_t store, const char **keys, void **buffers,
                                  const size_t *sizes, size_t count,
                                  const mooncake_replicate_config_t *config, int *results_out)
{
    return mooncake_client_batch_put_from(cli(store), keys, (const void *const *)buffers, sizes,
                                          count, cfg(config), results_out);
}

int64_t mooncake_store_get_into(mooncake_store_t store, const char *key, void *buffer, size_t size)
{
    return mooncake_client_get_into(cli(store), key, buffer, size);
}

int mooncake_store_batch_get_into(mooncake_store_t store, const char **keys, void **buffers,
                                  const size_t *sizes, size_t count, int64_t *results_out)
{
    return mooncake_client_batch_get_into(cli(store), keys, buffers, sizes, count, results_out);
}

int mooncake_store_is_exist(mooncake_store_t store, const char *key)
{
    return mooncake_client_is_exist(cli(store), key);
}

int mooncake_store_batch_is_exist(mooncake_store_t store, const char **keys, size_t count,
                                  int *results_out)
{
    return mooncake_client_batch_is_exist(cli(store), keys, count, results_out);
}

int64_t mooncake_store_get_size(mooncake_store_t store, const char *key)
{
    return mooncake_client_get_size(cli(store), key);
}

int mooncake_store_get_hostname(mooncake_store_t store, char *buf_out, size_t buf_len)
{
    return mooncake_client_get_hostname(cli(store), buf_out, buf_len);
}

int mooncake_store_remove(mooncake_store_t store, const char *key, int force)
{
    return mooncake_client_remove(cli(store), key, force);
}

int64_t mooncake_store_remove_by_regex(mooncake_store_t store, const char *pattern, int force)
{
    return mooncake_client_remove_by_regex(cli(store), pattern, force);
}

int64_t mooncake_store_remove_all(mooncake_store_t store, int force)
{
    return mooncake_client_remove_all(cli(store), force);
}

int mooncake_store_register_buffer(mooncake_store_t store, void *buffer, size_t size)
{
    return mooncake_client_register_buffer(cli(store), buffer, size);
}

int mooncake_store_unregister_buffer(mooncake_store_t store, void *buffer)
{
    return mooncake_client_unregister_buffer(cli(store), buffer);
}
