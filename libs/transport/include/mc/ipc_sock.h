/* Framing of the thin-client IPC protocol (mc/ipc_msg.h) over a Unix stream
 * socket: whole messages out (optionally with one file descriptor attached
 * through SCM_RIGHTS), whole messages in with a deadline, so a peer that
 * sends half a message cannot hold a reader forever. Blocking sockets. */
#ifndef MC_IPC_SOCK_H
#define MC_IPC_SOCK_H

#include "mc/buf.h"
#include "mc/errors.h"
#include "mc/ipc_msg.h"

#include <stddef.h>
#include <stdint.h>

/* Sends len bytes; pass_fd >= 0 travels with the first byte. MC_OK, or
 * MC_RPC_FAIL when the peer is gone. Safe against SIGPIPE (MSG_NOSIGNAL). */
int mc_ipc_send(int fd, const void *msg, size_t len, int pass_fd);

/* Reads one message: waits up to idle_ms for its first byte (-1 = forever),
 * then up to part_ms for the rest. Its payload replaces b's contents; *h
 * gets the header; *got_fd a descriptor that came with it (or -1; at most
 * one, more close the connection's message with MC_INVALID_PARAMS). Returns
 * MC_OK; MC_RPC_FAIL for a closed socket before the first byte (err says
 * "closed") or a timeout waiting for the first byte (err says "idle");
 * MC_INVALID_PARAMS for a bad header, a half-sent message past part_ms, or a
 * peer that closed mid-message. After any error the stream is unusable. */
int mc_ipc_recv(int fd, uint32_t max_msg, int idle_ms, int part_ms, mc_ipc_hdr_t *h, mc_buf_t *b,
                int *got_fd, mc_errmsg_t *err);

#endif
