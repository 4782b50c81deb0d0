/*
 * Fuzz target: the Core <-> Worker frame decoder (what a hostile peer sends).
 * Decodes every frame in the input, one after another, as link_read does.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
