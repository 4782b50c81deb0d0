#include "proto/proto.h"

#include <string.h>

#include "common/util.h"

/* ---- encoding ---- */

static bool put_u32(struct fl_buf *out, uint32_t v)
{
    uint8_t b[4];
    fl_put_le32(b, v);
    return fl_buf_append(out, b, sizeof(b));
}

static bool put_u64(struct fl_buf *out, uint64_t v)
{
    uint8_t b[8];
    fl_put_le64(b, v);
    return fl_buf_append(out, b, sizeof(b));
}

static bool put_bytes(struct fl_buf *out, const void *data, size_t len)
{
    return len <= PROTO_MAX_PAYLOAD && put_u32(out, (uint32_t)len) &&
           (len == 0 || fl_buf_append(out, data, len));
}

static bool put_str(struct fl_buf *out, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    return len <= PROTO_MAX_STR && put_bytes(out, s, len);
}

/* Starts a frame; proto_end fills in the payload length. */
static size_t proto_begin(struct fl_buf *out, enum proto_type type, uint32_t id, bool *ok)
{
    size_t start = out->len;
    uint8_t h[8] = {'F', 'L', PROTO_VERSION, (uint8_t)type};
    fl_put_le32(h + 4, id);
    *ok = fl_buf_append(out, h, sizeof(h)) && put_u32(out, 0) && put_u32(out, 0);
    return start;
}

static bool proto_end(struct fl_buf *out, size_t start, bool ok)
{
    size_t length = out->len - start - PROTO_HEADER_BYTES;
    if (!ok || length > PROTO_MAX_PAYLOAD) {
        out->len = start; /* nothing half-written stays behind */
        return false;
    }
    fl_put_le32((uint8_t *)out->data + start + 8, (uint32_t)length);
    return true;
}

bool proto_put_hello(struct fl_buf *out, const char *name, uint32_t threads, uint32_t queue_max,
                     uint64_t total_mem, const uint8_t *nonce, size_t nonce_len)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_HELLO, 0, &ok);
    ok = ok && put_str(out, name) && put_u32(out, threads) && put_u32(out, queue_max) &&
         put_u64(out, total_mem) && put_bytes(out, nonce, nonce_len);
    return proto_end(out, start, ok);
}

bool proto_put_auth(struct fl_buf *out, enum proto_type type, const uint8_t *nonce,
                    size_t nonce_len, const uint8_t *mac, size_t mac_len)
{
    bool ok;
    size_t start = proto_begin(out, type, 0, &ok);
    if (type == PROTO_AUTH)
        ok = ok && put_bytes(out, nonce, nonce_len);
    ok = ok && put_bytes(out, mac, mac_len);
    return proto_end(out, start, ok);
}

bool proto_put_heartbeat(struct fl_buf *out, uint64_t free_mem, uint64_t total_mem,
                         uint32_t load_milli, uint32_t in_flight, uint32_t queued)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_HEARTBEAT, 0, &ok);
    ok = ok && put_u64(out, free_mem) && put_u64(out, total_mem) && put_u32(out, load_milli) &&
         put_u32(out, in_flight) && put_u32(out, queued);
    return proto_end(out, start, ok);
}

bool proto_put_code(struct fl_buf *out, uint32_t id, const char *module, const char *name,
                    const char *hash, const uint8_t *code, size_t code_len)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_CODE_PUT, id, &ok);
    ok = ok && put_str(out, module) && put_str(out, name) && put_str(out, hash) &&
         put_bytes(out, code, code_len);
    return proto_end(out, start, ok);
}

bool proto_put_drop(struct fl_buf *out, uint32_t id, const char *module, const char *name)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_CODE_DROP, id, &ok);
    ok = ok && put_str(out, module) && put_str(out, name);
    return proto_end(out, start, ok);
}

bool proto_put_ack(struct fl_buf *out, uint32_t id, uint32_t status, const char *detail)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_ACK, id, &ok);
    ok = ok && put_u32(out, status) && put_str(out, detail);
    return proto_end(out, start, ok);
}

bool proto_put_invoke(struct fl_buf *out, uint32_t id, const char *module, const char *name,
                      const char *hash, uint32_t memory_mb, uint32_t timeout_ms,
                      const uint8_t *args, size_t args_len, const uint8_t *code, size_t code_len,
                      const char *http_allow, const uint8_t *env, size_t env_len)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_INVOKE, id, &ok);
    ok = ok && put_str(out, module) && put_str(out, name) && put_str(out, hash) &&
         put_u32(out, memory_mb) && put_u32(out, timeout_ms) && put_bytes(out, args, args_len) &&
         put_bytes(out, code, code_len) && put_str(out, http_allow ? http_allow : "") &&
         put_bytes(out, env, env_len);
    return proto_end(out, start, ok);
}

bool proto_put_result(struct fl_buf *out, uint32_t id, uint32_t status, const char *output,
                      size_t output_len, const char *logs, size_t logs_len, const char *detail)
{
    bool ok;
    size_t start = proto_begin(out, PROTO_RESULT, id, &ok);
    ok = ok && put_u32(out, status) && put_bytes(out, output, output_len) &&
         put_bytes(out, logs, logs_len) && put_str(out, detail);
    return proto_end(out, start, ok);
}

bool proto_put_empty(struct fl_buf *out, enum proto_type type, uint32_t id)
{
    bool ok;
    size_t start = proto_begin(out, type, id, &ok);
    return proto_end(out, start, ok);
}

/* ---- decoding ---- */

struct cursor {
    const uint8_t *p, *end;
    bool ok;
};

static uint32_t get_u32(struct cursor *c)
{
    if (!c->ok || c->end - c->p < 4) {
        c->ok = false;
        return 0;
    }
    uint32_t v = fl_get_le32(c->p);
    c->p += 4;
    return v;
}

static uint64_t get_u64(struct cursor *c)
{
    uint64_t lo = get_u32(c);
    return lo | (uint64_t)get_u32(c) << 32;
}

static struct proto_bytes get_bytes(struct cursor *c)
{
    struct proto_bytes b = {NULL, get_u32(c)};
    if (!c->ok || (uint64_t)(c->end - c->p) < b.len) {
        c->ok = false;
        return (struct proto_bytes){NULL, 0};
    }
    b.data = c->p;
    c->p += b.len;
    return b;
}

/* A string field: bounded, no NUL inside, copied NUL-terminated into `out`. */
static void get_str(struct cursor *c, char out[PROTO_MAX_STR + 1])
{
    struct proto_bytes b = get_bytes(c);
    out[0] = '\0';
    if (!c->ok)
        return;
    if (b.len > PROTO_MAX_STR || memchr(b.data, '\0', b.len)) {
        c->ok = false;
        return;
    }
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
}

enum fl_err proto_read_header(const uint8_t b[PROTO_HEADER_BYTES], struct proto_header *out)
{
    struct cursor c = {b + 4, b + PROTO_HEADER_BYTES, true};
    if (b[0] != 'F' || b[1] != 'L' || b[2] != PROTO_VERSION)
        return FL_ERR_BAD_REQUEST;
    out->type = b[3];
    out->id = get_u32(&c);
    out->length = get_u32(&c);
    if (out->type < PROTO_HELLO || out->type > PROTO_CANCEL || out->length > PROTO_MAX_PAYLOAD ||
        get_u32(&c) != 0)
        return FL_ERR_BAD_REQUEST;
    return FL_OK;
}

static void proto_decode_fields(struct cursor *c, struct proto_msg *m)
{
    switch (m->header.type) {
    case PROTO_HELLO:
        get_str(c, m->u.hello.name);
        m->u.hello.threads = get_u32(c);
        m->u.hello.queue_max = get_u32(c);
        m->u.hello.total_mem = get_u64(c);
        m->u.hello.nonce = get_bytes(c);
        break;
    case PROTO_AUTH:
        m->u.auth.nonce = get_bytes(c);
        m->u.auth.mac = get_bytes(c);
        break;
    case PROTO_AUTH_OK:
        m->u.auth.mac = get_bytes(c);
        break;
    case PROTO_HEARTBEAT:
        m->u.heartbeat.free_mem = get_u64(c);
        m->u.heartbeat.total_mem = get_u64(c);
        m->u.heartbeat.load_milli = get_u32(c);
        m->u.heartbeat.in_flight = get_u32(c);
        m->u.heartbeat.queued = get_u32(c);
        break;
    case PROTO_CODE_PUT:
        get_str(c, m->u.code_put.module);
        get_str(c, m->u.code_put.name);
        get_str(c, m->u.code_put.hash);
        m->u.code_put.code = get_bytes(c);
        break;
    case PROTO_CODE_DROP:
        get_str(c, m->u.code_drop.module);
        get_str(c, m->u.code_drop.name);
        break;
    case PROTO_ACK:
        m->u.ack.status = get_u32(c);
        get_str(c, m->u.ack.detail);
        break;
    case PROTO_INVOKE:
        get_str(c, m->u.invoke.module);
        get_str(c, m->u.invoke.name);
        get_str(c, m->u.invoke.hash);
        m->u.invoke.memory_mb = get_u32(c);
        m->u.invoke.timeout_ms = get_u32(c);
        m->u.invoke.args = get_bytes(c);
        m->u.invoke.code = get_bytes(c);
        get_str(c, m->u.invoke.http_allow);
        m->u.invoke.env = get_bytes(c);
        if (m->u.invoke.env.len && m->u.invoke.env.data[m->u.invoke.env.len - 1] != '\0')
            c->ok = false; /* entries end with a NUL: the last one too */
        break;
    case PROTO_RESULT:
        m->u.result.status = get_u32(c);
        m->u.result.output = get_bytes(c);
        m->u.result.logs = get_bytes(c);
        get_str(c, m->u.result.detail);
        break;
    default: /* NO_CODE, BUSY, CANCEL: no fields */
        break;
    }
}

enum fl_err proto_decode(const struct proto_header *header, const uint8_t *payload,
                         struct proto_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->header = *header;
    struct cursor c = {payload, payload + header->length, true};
    proto_decode_fields(&c, out);
    /* every byte accounted for: a frame with trailing garbage is as bad as a short one */
    return c.ok && c.p == c.end ? FL_OK : FL_ERR_BAD_REQUEST;
}
