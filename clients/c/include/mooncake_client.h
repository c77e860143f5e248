/* libmooncake_client: the thin local client of mooncake_store_service.
 *
 * This release carries the pieces every client call needs: the library
 * version and Mooncake's ErrorCode names. The store operations (IPC over a
 * Unix socket with shared-memory buffers) are added with the thin-client
 * milestone; see docs/ for what exists today. */
#ifndef MOONCAKE_CLIENT_H
#define MOONCAKE_CLIENT_H

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0" */
const char *mooncake_client_version(void);
/* Mooncake ErrorCode name, e.g. "OBJECT_NOT_FOUND" for -704. */
const char *mooncake_client_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
