#include "proto/announce.h"

#include <string.h>

enum { HEADER_BYTES = 33, NAME_LEN_AT = 32 };

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The MAC covers everything before it, under a label of its own (not a handshake proof). */
static void announce_mac(const struct fl_secret *secret, const uint8_t *data, size_t len,
                         uint8_t mac[FL_MAC_BYTES])
{
    fl_secret_mac(secret, "announce", data, len, NULL, 0, mac);
}

size_t announce_encode(const struct announce *a, const struct fl_secret *secret, uint8_t *out,
                       size_t cap)
{
    size_t name_len = strnlen(a->name, ANNOUNCE_NAME_MAX);
    bool sign = secret && secret->set;
    size_t len = HEADER_BYTES + name_len + (sign ? FL_MAC_BYTES : 0);
    if (len > cap)
        return 0;
    memcpy(out, "FLAN", 4);
    out[4] = ANNOUNCE_VERSION;
    out[5] = sign ? 1 : 0;
    out[6] = (uint8_t)(a->port >> 8);
    out[7] = (uint8_t)a->port;
    memcpy(out + 8, a->boot_id, 8);
    put_u64(out + 16, a->sequence);
    put_u64(out + 24, a->time_ms);
    out[NAME_LEN_AT] = (uint8_t)name_len;
    memcpy(out + HEADER_BYTES, a->name, name_len);
    if (sign)
        announce_mac(secret, out, HEADER_BYTES + name_len, out + HEADER_BYTES + name_len);
    return len;
}

enum fl_err announce_decode(const uint8_t *data, size_t len, const struct fl_secret *secret,
                            struct announce *out, char *detail, size_t detail_len)
{
    memset(out, 0, sizeof(*out));
    if (len < HEADER_BYTES || memcmp(data, "FLAN", 4) != 0)
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "not a funless announcement");
    if (data[4] != ANNOUNCE_VERSION)
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "announcement version %u", data[4]);
    out->is_signed = data[5] & 1;
    size_t name_len = data[NAME_LEN_AT];
    size_t want = HEADER_BYTES + name_len + (out->is_signed ? FL_MAC_BYTES : 0);
    if (len != want || name_len == 0)
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "announcement of %zu bytes", len);
    bool have_secret = secret && secret->set;
    if (out->is_signed != have_secret)
        return fl_fail(FL_ERR_UNAUTHORIZED, detail, detail_len,
                       have_secret ? "unsigned announcement" : "signed announcement, no secret");
    if (out->is_signed) {
        uint8_t mac[FL_MAC_BYTES];
        announce_mac(secret, data, HEADER_BYTES + name_len, mac);
        if (!fl_mac_equal(mac, data + HEADER_BYTES + name_len))
            return fl_fail(FL_ERR_UNAUTHORIZED, detail, detail_len, "wrong cluster secret");
    }
    out->port = (uint16_t)(data[6] << 8 | data[7]);
    memcpy(out->boot_id, data + 8, 8);
    out->sequence = get_u64(data + 16);
    out->time_ms = get_u64(data + 24);
    memcpy(out->name, data + HEADER_BYTES, name_len);
    out->name[name_len] = '\0';
    if (out->port == 0 || memchr(out->name, '\0', name_len))
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "announcement without a port/name");
    return FL_OK;
}

bool announce_replay(struct announce_seen *seen, const struct announce *a, uint64_t now_ms,
                     uint64_t window_ms)
{
    uint64_t skew = a->time_ms > now_ms ? a->time_ms - now_ms : now_ms - a->time_ms;
    if (skew > window_ms)
        return true;
    if (seen->any) {
        bool same_boot = memcmp(seen->boot_id, a->boot_id, 8) == 0;
        if (same_boot && a->sequence <= seen->sequence)
            return true; /* a copy of one already heard, or older */
        if (!same_boot && a->time_ms <= seen->time_ms)
            return true; /* an earlier run of the Worker, replayed */
    }
    memcpy(seen->boot_id, a->boot_id, 8);
    seen->sequence = a->sequence;
    seen->time_ms = a->time_ms;
    seen->any = true;
    return false;
}
