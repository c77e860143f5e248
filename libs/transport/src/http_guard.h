/* The HTTP server's connection guard (internal to libs/transport): a total
 * deadline on reading each request, which libmicrohttpd does not have (its
 * MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout, restarted by every byte,
 * so a client that trickles a byte every few seconds holds its connection
 * forever), and the cut of a connection whose client half-closed before its
 * request was complete (MHD keeps such a connection until the idle timeout).
 *
 * Every connection of the server's daemons is registered from MHD's
 * connection notifications; the server tells the guard where each request
 * stands (reading, answered, idle between keep-alive requests), and one
 * reaper thread looks at the connections every GUARD_TICK_MS. A connection
 * is cut with shutdown(2) on its socket: MHD then sees the end of the stream
 * and closes it in its own thread (the descriptor is never closed here).
 *
 * The deadline: a request's headers and body must arrive within
 * request_timeout_ms of its first byte, plus one second per MiB of declared
 * (or, chunked, received) body, so a large upload on a slow link still fits.
 * The first byte of a request is: the connection's accept for its first
 * request; on a keep-alive connection, the first data the kernel saw after
 * the previous reply (TCP_INFO's last-data-received time, checked by the
 * reaper), or at the latest its request line. */
#ifndef MC_HTTP_GUARD_H
#define MC_HTTP_GUARD_H

#include "mc/metrics.h"

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#define GUARD_TICK_MS 100
#define GUARD_BODY_BYTES_PER_S (1u << 20)

typedef struct http_guard http_guard_t;

/* NULL on out of memory or when the reaper thread cannot start. */
http_guard_t *http_guard_create(uint64_t request_timeout_ms, mc_metrics_t *metrics);
/* Stops the reaper. Call after every daemon using the guard has stopped
 * (their connections are then all unregistered). Safe on NULL. */
void http_guard_destroy(http_guard_t *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the guard. */
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* Request milestones, from the MHD thread serving conn (no-ops when conn is
 * not registered, e.g. without a guard). */
void http_guard_request_line(struct MHD_Connection *conn);         /* a request line arrived */
void http_guard_body(struct MHD_Connection *conn, uint64_t bytes); /* deadline += bytes' time */
void http_guard_answered(struct MHD_Connection *conn);             /* handler runs / reply queued */
void http_guard_completed(struct MHD_Connection *conn);            /* reply sent: idle */

#endif
