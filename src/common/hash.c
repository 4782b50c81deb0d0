#include "common/hash.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

void fl_hash_hex(const void *const parts[], const size_t lens[], size_t count,
                 char hex[FL_HASH_HEX_BYTES])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha3_256(), NULL))
        abort();
    for (size_t i = 0; i < count; i++)
        EVP_DigestUpdate(ctx, parts[i], lens[i]);
    EVP_DigestFinal_ex(ctx, digest, &digest_len);
    EVP_MD_CTX_free(ctx);
    for (unsigned int i = 0; i < digest_len && i < FL_HASH_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}
