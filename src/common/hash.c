#include "common/hash.h"

#include <nettle/sha3.h>

/*
 * nettle rather than OpenSSL: libmicrohttpd already loads it (through GnuTLS),
 * and initialising OpenSSL's providers alone costs the Core 3 MB of its idle RSS.
 */
void fl_hash_hex(const void *const parts[], const size_t lens[], size_t count,
                 char hex[FL_HASH_HEX_BYTES])
{
    struct sha3_256_ctx ctx;
    uint8_t digest[SHA3_256_DIGEST_SIZE];
    sha3_256_init(&ctx);
    for (size_t i = 0; i < count; i++)
        sha3_256_update(&ctx, lens[i], parts[i]);
    sha3_256_digest(&ctx, sizeof(digest), digest);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < FL_HASH_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[2 * FL_HASH_BYTES] = '\0';
}
