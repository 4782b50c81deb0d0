#include "common/secret.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

enum fl_err fl_secret_load(const char *path, struct fl_secret *out, char *detail, size_t detail_len)
{
    memset(out, 0, sizeof(*out));
    if (!path || !*path)
        return FL_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot read the secret file %s: %s", path,
                       strerror(errno));
    out->len = fread(out->key, 1, sizeof(out->key), f);
    bool too_long = fgetc(f) != EOF;
    fclose(f);
    while (out->len && (out->key[out->len - 1] == '\n' || out->key[out->len - 1] == '\r'))
        out->len--;
    if (out->len < 16 || too_long)
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                       "the secret in %s must be 16 to 256 bytes", path);
    out->set = true;
    return FL_OK;
}

void fl_secret_mac(const struct fl_secret *secret, const char *label, const uint8_t *a,
                   size_t a_len, const uint8_t *b, size_t b_len, uint8_t mac[FL_MAC_BYTES])
{
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, secret->len, secret->key);
    hmac_sha256_update(&ctx, strlen(label) + 1, (const uint8_t *)label);
    hmac_sha256_update(&ctx, a_len, a);
    hmac_sha256_update(&ctx, b_len, b);
    hmac_sha256_digest(&ctx, FL_MAC_BYTES, mac);
}

bool fl_mac_equal(const uint8_t *a, const uint8_t *b)
{
    return memeql_sec(a, b, FL_MAC_BYTES);
}

bool fl_random_bytes(uint8_t *out, size_t len)
{
    return getrandom(out, len, 0) == (ssize_t)len;
}
