/*
 * secrets — functions' secrets at rest (docs/tenants.md): sealed with ChaCha20-Poly1305
 * (nettle) under a 256-bit key that only the Core holds, in a file of its own
 * (--secret-key-file, made 0600 with fresh random bytes at first start, like the tokens).
 *
 * A sealed text is "v1:" and the base64 of a random 96-bit nonce, the ciphertext and the
 * 128-bit tag; the additional data binds it to this use. Opening checks the tag: a changed
 * byte, or another key, gives nothing.
 */
#ifndef FL_CORE_SECRETS_H
#define FL_CORE_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SECRETS_KEY_BYTES 32

struct secrets_key {
    uint8_t bytes[SECRETS_KEY_BYTES];
};

/* Reads the key from `path` (64 hex digits); a missing file is created (mode 0600) with a new
 * key. A file of another shape, or readable by others, is refused. */
enum fl_err secrets_key_load(const char *path, struct secrets_key *out, char *detail,
                             size_t detail_len);

/* `plain` (len bytes) sealed (NUL-terminated, caller frees); NULL when out of memory or
 * randomness. */
char *secrets_seal(const struct secrets_key *key, const char *plain, size_t len);
/* The plain text of `sealed` (NUL-terminated, caller frees after explicit_bzero); NULL when
 * it is not one this key sealed. */
char *secrets_open(const struct secrets_key *key, const char *sealed, size_t *len);

#endif
