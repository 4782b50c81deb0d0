/*
 * secret — the cluster secret and the proofs made with it: HMAC-SHA256 over
 * a label and two nonces, compared in constant time. Used by the Core <->
 * Worker handshake (docs/protocol.md).
 */
#ifndef FL_COMMON_SECRET_H
#define FL_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define FL_MAC_BYTES 32
#define FL_NONCE_BYTES 16

struct fl_secret {
    bool set;
    size_t len;
    uint8_t key[256];
};

/* Reads the secret from `path` (trailing newlines dropped); NULL path: no secret. */
enum fl_err fl_secret_load(const char *path, struct fl_secret *out, char *detail,
                           size_t detail_len);
void fl_secret_mac(const struct fl_secret *secret, const char *label, const uint8_t *a,
                   size_t a_len, const uint8_t *b, size_t b_len, uint8_t mac[FL_MAC_BYTES]);
bool fl_mac_equal(const uint8_t *a, const uint8_t *b);
bool fl_random_bytes(uint8_t *out, size_t len);

#endif
