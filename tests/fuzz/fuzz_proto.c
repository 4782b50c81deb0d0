/*
 * Fuzz target: what a hostile peer sends — the Core <-> Worker frame decoder
 * (every frame in the input, one after another, as link_read does) and the
 * multicast announcement decoder (the whole input as one datagram, with and
 * without a secret).
 */
#include <stdlib.h>
#include <string.h>

#include "proto/announce.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_announcement(const uint8_t *data, size_t size)
{
    static const struct fl_secret none = {0}, secret = {true, 6, "secret"};
    struct announce a;
    struct announce_seen seen = {0};
    char detail[128];
    for (int i = 0; i < 2; i++)
        if (announce_decode(data, size, i ? &secret : &none, &a, detail, sizeof(detail)) == FL_OK) {
            if (strlen(a.name) == 0 || a.port == 0)
                abort(); /* decoded, yet not something to dial */
            announce_replay(&seen, &a, a.time_ms, 30000);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_announcement(data, size);
    struct proto_msg *msg = malloc(sizeof(*msg));
    while (msg && size >= PROTO_HEADER_BYTES) {
        struct proto_header h;
        if (proto_read_header(data, &h) != FL_OK || h.length > size - PROTO_HEADER_BYTES)
            break;
        if (proto_decode(&h, data + PROTO_HEADER_BYTES, msg) == FL_OK && h.type == PROTO_INVOKE &&
            msg->u.invoke.code.len &&
            (msg->u.invoke.code.data < data ||
             msg->u.invoke.code.data + msg->u.invoke.code.len > data + size))
            abort(); /* a decoded range outside the frame */
        data += PROTO_HEADER_BYTES + h.length;
        size -= PROTO_HEADER_BYTES + h.length;
    }
    free(msg);
    return 0;
}
