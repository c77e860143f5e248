/* The transfer engine's TCP wire protocol: fixed little-endian frames,
 * encoded and decoded only here (layout in docs/transfer-engine.md).
 *
 * request  (48 B): magic "MCTQ", version, opcode, flags, request id,
 *                  segment id, payload crc32c, epoch, offset, length
 *                  [+ length bytes of payload for WRITE and control opcodes]
 * response (32 B): magic "MCTP", version, opcode, flags, request id,
 *                  status, payload crc32c, length [+ payload] */
#ifndef MC_TE_TCP_PROTO_H
#define MC_TE_TCP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_TCP_REQ_MAGIC 0x5154434Du  /* "MCTQ" */
#define MC_TCP_RESP_MAGIC 0x5054434Du /* "MCTP" */
#define MC_TCP_VERSION 1
#define MC_TCP_REQ_SIZE 48
#define MC_TCP_RESP_SIZE 32
/* Largest payload of one frame; the client slices larger transfers. */
#define MC_TCP_MAX_FRAME (16u << 20)
/* Largest control payload (RDMA_CONNECT), each way. */
#define MC_TCP_MAX_CTRL 4096u

/* Opcodes from 4 up are control opcodes: each carries one back end's
 * control messages (te_backend_t.ctrl_opcode), a payload of at most
 * MC_TCP_MAX_CTRL bytes each way that the engine's TCP server hands to that
 * back end without looking inside. A back end with a control channel adds
 * its opcode here and to mc_tcp_op_is_ctrl. */
enum {
    MC_TCP_OP_READ = 1,
    MC_TCP_OP_WRITE = 2,
    MC_TCP_OP_PING = 3,
    MC_TCP_OP_RDMA_CONNECT = 4, /* RDMA QP handshake (te_rdma_proto.h) */
};
#define MC_TCP_FLAG_CRC 0x1u /* crc field holds the payload's CRC32C */
#define MC_TCP_FLAGS_KNOWN MC_TCP_FLAG_CRC

typedef struct mc_tcp_req {
    uint8_t version;
    uint8_t opcode;
    uint16_t flags;
    uint64_t id;
    uint32_t seg_id;
    uint32_t crc;
    uint64_t epoch;
    uint64_t offset;
    uint64_t length;
} mc_tcp_req_t;

typedef struct mc_tcp_resp {
    uint8_t version;
    uint8_t opcode;
    uint16_t flags;
    uint64_t id;
    int32_t status; /* MC_OK or a negative ErrorCode */
    uint32_t crc;
    uint64_t length;
} mc_tcp_resp_t;

void mc_tcp_req_encode(const mc_tcp_req_t *r, uint8_t out[MC_TCP_REQ_SIZE]);
/* Decodes and validates what needs no server state: magic, version, known
 * opcode and flags, payload length within the frame cap for the opcode.
 * Returns MC_OK, MC_INVALID_VERSION (other version) or MC_INVALID_PARAMS. */
int mc_tcp_req_decode(const uint8_t in[MC_TCP_REQ_SIZE], mc_tcp_req_t *r);
/* Whether opcode is a control opcode (see above). */
bool mc_tcp_op_is_ctrl(uint8_t opcode);
/* Payload bytes following a decoded request header (WRITE, control opcodes). */
uint64_t mc_tcp_req_payload_len(const mc_tcp_req_t *r);

void mc_tcp_resp_encode(const mc_tcp_resp_t *r, uint8_t out[MC_TCP_RESP_SIZE]);
/* Checks magic, version, and that length is 0 unless a successful READ or
 * control opcode (then within the caps). MC_OK or MC_TRANSFER_FAIL. */
int mc_tcp_resp_decode(const uint8_t in[MC_TCP_RESP_SIZE], mc_tcp_resp_t *r);

/* Server-side range check: offset+length within seg_len, no overflow. */
int mc_tcp_check_range(uint64_t offset, uint64_t length, uint64_t seg_len);

/* Connection handshake (docs/transfer-engine.md, "Handshake"), when the
 * engines hold keys: four fixed frames before the first request,
 *   client HELLO (client nonce) → server CHALLENGE (server nonce)
 *   → client CLIENT_PROOF → server SERVER_PROOF,
 * a proof being HMAC-SHA256(key, label || client nonce || server nonce).
 * Layout: magic "MCTH", version, type, 2 reserved (0), 32 body bytes (nonce
 * or proof), 8 reserved (0). 48 bytes, the size of a request header, so a
 * server without keys reads a HELLO as one bad header and refuses it at once. */
#define MC_TCP_HS_MAGIC 0x4854434Du /* "MCTH" */
#define MC_TCP_HS_SIZE 48
#define MC_TCP_HS_BODY 32 /* nonce bytes; HMAC-SHA256 length */
enum {
    MC_TCP_HS_HELLO = 1,
    MC_TCP_HS_CHALLENGE = 2,
    MC_TCP_HS_CLIENT_PROOF = 3,
    MC_TCP_HS_SERVER_PROOF = 4,
};

typedef struct mc_tcp_hs {
    uint8_t version;
    uint8_t type;
    uint8_t body[MC_TCP_HS_BODY];
} mc_tcp_hs_t;

void mc_tcp_hs_encode(const mc_tcp_hs_t *m, uint8_t out[MC_TCP_HS_SIZE]);
/* Decodes a handshake frame that must be of type `want`: magic, version
 * (else MC_INVALID_VERSION), type, reserved bytes zero. MC_OK or
 * MC_INVALID_PARAMS. */
int mc_tcp_hs_decode(const uint8_t in[MC_TCP_HS_SIZE], uint8_t want, mc_tcp_hs_t *m);

#endif
