/*
 * proto — the Core <-> Worker wire format: pure encode and decode, no I/O.
 * docs/protocol.md is the prose; this table is the contract.
 *
 * Every frame is a 16-byte header followed by `length` payload bytes:
 *
 * | offset | size | field                                             |
 * |--------|------|---------------------------------------------------|
 * | 0      | 2    | magic "FL" (0x46 0x4c)                            |
 * | 2      | 1    | protocol version (PROTO_VERSION)                  |
 * | 3      | 1    | frame type (enum proto_type)                      |
 * | 4      | 4    | request id, little-endian (0 for unsolicited)     |
 * | 8      | 4    | payload length, little-endian (<= PROTO_MAX_PAYLOAD) |
 * | 12     | 4    | reserved, 0                                       |
 *
 * Payload fields, in order, per type (u32/u64 little-endian; "bytes" is a
 * u32 length and the bytes; "str" is bytes that must be UTF-8 without NUL):
 *
 *   HELLO      W->C  str name, u32 threads, u32 queue_max, u64 total_mem,
 *                    bytes nonce (empty: no secret)
 *   AUTH       C->W  bytes nonce, bytes mac = HMAC(secret, "core", worker nonce, nonce)
 *   AUTH_OK    W->C  bytes mac = HMAC(secret, "worker", core nonce, worker nonce)
 *   HEARTBEAT  W->C  u64 free_mem, u64 total_mem, u32 load_milli, u32 in_flight, u32 queued
 *   CODE_PUT   C->W  str module, str name, str hash, bytes code
 *   CODE_DROP  C->W  str module, str name
 *   ACK        W->C  u32 status (enum fl_err), str detail
 *   INVOKE     C->W  str module, str name, str hash, u32 memory_mb, u32 timeout_ms,
 *                    bytes args, bytes code (empty: use the cache),
 *                    str http_allow (the function's narrowing of the Worker's, "" none),
 *                    bytes env (the function's configuration and secrets: "KEY=VALUE" entries
 *                    each ended by a NUL; empty: none)
 *   RESULT     W->C  u32 status (enum fl_err), bytes output, bytes logs, str detail
 *   NO_CODE    W->C  (empty) the Worker lacks the code: resend INVOKE with it
 *   BUSY       W->C  (empty) the Worker's queue is full
 *   CANCEL     C->W  (empty) stop the INVOKE of this id
 *
 * Replies carry the id of their request. Many requests may be in flight on one
 * connection; replies come in any order.
 */
#ifndef FL_PROTO_PROTO_H
#define FL_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define PROTO_VERSION 4 /* 2: CANCEL; 3: INVOKE's http_allow; 4: INVOKE's env */
#define PROTO_HEADER_BYTES 16
#define PROTO_MAX_PAYLOAD ((uint32_t)96 << 20) /* code up to the Core's upload cap, with room */
#define PROTO_MAX_STR 1024

enum proto_type {
    PROTO_HELLO = 1,
    PROTO_HEARTBEAT = 2,
    PROTO_CODE_PUT = 3,
    PROTO_CODE_DROP = 4,
    PROTO_ACK = 5,
    PROTO_INVOKE = 6,
    PROTO_RESULT = 7,
    PROTO_NO_CODE = 8,
    PROTO_BUSY = 9,
    PROTO_AUTH = 10,
    PROTO_AUTH_OK = 11,
    PROTO_CANCEL = 12, /* C->W, empty: stop the INVOKE of this id (its client is gone) */
};

struct proto_header {
    uint8_t type;
    uint32_t id;
    uint32_t length;
};

/* A byte range inside a decoded payload (not NUL-terminated unless said). */
struct proto_bytes {
    const uint8_t *data;
    uint32_t len;
};

struct proto_msg {
    struct proto_header header;
    union {
        struct {
            char name[PROTO_MAX_STR + 1];
            uint32_t threads, queue_max;
            uint64_t total_mem;
            struct proto_bytes nonce;
        } hello;
        struct {
            struct proto_bytes nonce, mac;
        } auth;
        struct {
            uint64_t free_mem, total_mem;
            uint32_t load_milli, in_flight, queued;
        } heartbeat;
        struct {
            char module[PROTO_MAX_STR + 1], name[PROTO_MAX_STR + 1], hash[PROTO_MAX_STR + 1];
            struct proto_bytes code;
        } code_put;
        struct {
            char module[PROTO_MAX_STR + 1], name[PROTO_MAX_STR + 1];
        } code_drop;
        struct {
            uint32_t status;
            char detail[PROTO_MAX_STR + 1];
        } ack;
        struct {
            char module[PROTO_MAX_STR + 1], name[PROTO_MAX_STR + 1], hash[PROTO_MAX_STR + 1];
            uint32_t memory_mb, timeout_ms;
            struct proto_bytes args, code;
            char http_allow[PROTO_MAX_STR + 1];
            struct proto_bytes env;
        } invoke;
        struct {
            uint32_t status;
            struct proto_bytes output, logs;
            char detail[PROTO_MAX_STR + 1];
        } result;
    } u;
};

/* Reads a header; FL_ERR_BAD_REQUEST for a bad magic, version, type or length. */
enum fl_err proto_read_header(const uint8_t bytes[PROTO_HEADER_BYTES], struct proto_header *out);
/* Decodes a payload whose header was read; byte ranges point into `payload`. */
enum fl_err proto_decode(const struct proto_header *header, const uint8_t *payload,
                         struct proto_msg *out);

/* Encoders append one whole frame (header and payload) to `out`. */
bool proto_put_hello(struct fl_buf *out, const char *name, uint32_t threads, uint32_t queue_max,
                     uint64_t total_mem, const uint8_t *nonce, size_t nonce_len);
/* AUTH carries a nonce and a MAC; AUTH_OK a MAC only (nonce_len 0). */
bool proto_put_auth(struct fl_buf *out, enum proto_type type, const uint8_t *nonce,
                    size_t nonce_len, const uint8_t *mac, size_t mac_len);
bool proto_put_heartbeat(struct fl_buf *out, uint64_t free_mem, uint64_t total_mem,
                         uint32_t load_milli, uint32_t in_flight, uint32_t queued);
bool proto_put_code(struct fl_buf *out, uint32_t id, const char *module, const char *name,
                    const char *hash, const uint8_t *code, size_t code_len);
bool proto_put_drop(struct fl_buf *out, uint32_t id, const char *module, const char *name);
bool proto_put_ack(struct fl_buf *out, uint32_t id, uint32_t status, const char *detail);
bool proto_put_invoke(struct fl_buf *out, uint32_t id, const char *module, const char *name,
                      const char *hash, uint32_t memory_mb, uint32_t timeout_ms,
                      const uint8_t *args, size_t args_len, const uint8_t *code, size_t code_len,
                      const char *http_allow, const uint8_t *env, size_t env_len);
bool proto_put_result(struct fl_buf *out, uint32_t id, uint32_t status, const char *output,
                      size_t output_len, const char *logs, size_t logs_len, const char *detail);
bool proto_put_empty(struct fl_buf *out, enum proto_type type, uint32_t id);

#endif
