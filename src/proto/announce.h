/*
 * announce — the Worker's UDP multicast announcement (docs/protocol.md,
 * "Discovery"): "I am NAME, dial me on PORT at the address this datagram
 * came from". Signed with HMAC-SHA256 over the cluster secret when there is
 * one; (boot id, sequence, time) let the Core refuse replays.
 *
 * Layout (big-endian), 33 + name bytes, then a 32-byte MAC when signed:
 *   "FLAN" | version u8 (1) | flags u8 (bit 0: signed) | port u16 |
 *   boot id [8] | sequence u64 | unix time in ms u64 | name length u8 | name
 */
#ifndef FL_PROTO_ANNOUNCE_H
#define FL_PROTO_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/secret.h"

#define ANNOUNCE_DEFAULT "233.252.1.32:45892"
#define ANNOUNCE_VERSION 1
#define ANNOUNCE_NAME_MAX 255
#define ANNOUNCE_MAX_BYTES (33 + ANNOUNCE_NAME_MAX + FL_MAC_BYTES)

struct announce {
    char name[ANNOUNCE_NAME_MAX + 1];
    uint16_t port;
    uint8_t boot_id[8]; /* random per Worker start */
    uint64_t sequence;  /* grows with every announcement of one boot */
    uint64_t time_ms;   /* the sender's clock (unix, ms) */
    bool is_signed;
};

/* Writes the datagram (signed when `secret` is set); returns its length, 0 if `out` is short. */
size_t announce_encode(const struct announce *a, const struct fl_secret *secret, uint8_t *out,
                       size_t cap);

/*
 * Decodes and checks one datagram: FL_ERR_BAD_REQUEST for a malformed one,
 * FL_ERR_UNAUTHORIZED when it is unsigned while `secret` is set, signed while
 * it is not, or its MAC is wrong. (Freshness and replays: announce_replay.)
 */
enum fl_err announce_decode(const uint8_t *data, size_t len, const struct fl_secret *secret,
                            struct announce *out, char *detail, size_t detail_len);

/* What the receiver remembers of a sender, to refuse replays. */
struct announce_seen {
    uint8_t boot_id[8];
    uint64_t sequence, time_ms;
    bool any;
};

/*
 * True when `a` must be refused: its time is more than `window_ms` away from
 * `now_ms`, or it does not come after the last one accepted from the same
 * boot (same or lower sequence), or it is from an older boot. Otherwise
 * records it in `seen` and returns false.
 */
bool announce_replay(struct announce_seen *seen, const struct announce *a, uint64_t now_ms,
                     uint64_t window_ms);

#endif
