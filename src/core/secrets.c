#include "core/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <nettle/chacha-poly1305.h>
#include <nettle/memops.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static const char secrets_prefix[] = "v1:";
static const char secrets_label[] = "funless function secrets v1";

static void secrets_hex(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

static bool secrets_unhex(const char *text, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(text + 2 * i, "%2x", &v) != 1 ||
            !strchr("0123456789abcdefABCDEF", text[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", text[2 * i + 1]))
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

static enum fl_err secrets_key_create(const char *path, struct secrets_key *out, char *detail,
                                      size_t detail_len)
{
    if (getrandom(out->bytes, sizeof(out->bytes), 0) != (ssize_t)sizeof(out->bytes))
        return fl_fail(FL_ERR_IO, detail, detail_len, "no randomness for the secret key");
    char hex[2 * SECRETS_KEY_BYTES + 2];
    secrets_hex(out->bytes, sizeof(out->bytes), hex);
    strcat(hex, "\n");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex) && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    explicit_bzero(hex, sizeof(hex));
    if (!ok)
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot write the secret key file %s: %s",
                       path, strerror(errno));
    return FL_OK;
}

enum fl_err secrets_key_load(const char *path, struct secrets_key *out, char *detail,
                             size_t detail_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return secrets_key_create(path, out, detail, detail_len);
    if (fd < 0)
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot read the secret key file %s: %s",
                       path, strerror(errno));
    struct stat st;
    char text[2 * SECRETS_KEY_BYTES + 8] = "";
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, text, sizeof(text) - 1) : -1;
    close(fd);
    enum fl_err err = FL_OK;
    if (n >= 0 && (st.st_mode & 077))
        err = fl_fail(FL_ERR_IO, detail, detail_len,
                      "the secret key file %s is readable by others (make it mode 0600)", path);
    else if (n < 2 * SECRETS_KEY_BYTES || (n > 2 * SECRETS_KEY_BYTES && text[64] != '\n') ||
             !secrets_unhex(text, out->bytes, sizeof(out->bytes)))
        err = fl_fail(FL_ERR_IO, detail, detail_len,
                      "the secret key file %s must hold 64 hexadecimal digits", path);
    explicit_bzero(text, sizeof(text));
    return err;
}

char *secrets_seal(const struct secrets_key *key, const char *plain, size_t len)
{
    size_t raw_len = CHACHA_POLY1305_NONCE_SIZE + len + CHACHA_POLY1305_DIGEST_SIZE;
    uint8_t *raw = malloc(raw_len);
    char *out = raw ? malloc(sizeof(secrets_prefix) + BASE64_ENCODE_RAW_LENGTH(raw_len) + 1) : NULL;
    if (!out || getrandom(raw, CHACHA_POLY1305_NONCE_SIZE, 0) != CHACHA_POLY1305_NONCE_SIZE) {
        free(raw);
        free(out);
        return NULL;
    }
    struct chacha_poly1305_ctx ctx;
    chacha_poly1305_set_key(&ctx, key->bytes);
    chacha_poly1305_set_nonce(&ctx, raw);
    chacha_poly1305_update(&ctx, sizeof(secrets_label) - 1, (const uint8_t *)secrets_label);
    chacha_poly1305_encrypt(&ctx, len, raw + CHACHA_POLY1305_NONCE_SIZE, (const uint8_t *)plain);
    chacha_poly1305_digest(&ctx, CHACHA_POLY1305_DIGEST_SIZE,
                           raw + CHACHA_POLY1305_NONCE_SIZE + len);
    explicit_bzero(&ctx, sizeof(ctx));
    memcpy(out, secrets_prefix, sizeof(secrets_prefix) - 1);
    char *b64 = out + sizeof(secrets_prefix) - 1;
    base64_encode_raw(b64, raw_len, raw);
    b64[BASE64_ENCODE_RAW_LENGTH(raw_len)] = '\0';
    free(raw);
    return out;
}

char *secrets_open(const struct secrets_key *key, const char *sealed, size_t *len)
{
    size_t prefix = sizeof(secrets_prefix) - 1;
    if (strncmp(sealed, secrets_prefix, prefix) != 0)
        return NULL;
    const char *b64 = sealed + prefix;
    size_t b64_len = strlen(b64);
    uint8_t *raw = malloc(BASE64_DECODE_LENGTH(b64_len) + 1);
    if (!raw)
        return NULL;
    struct base64_decode_ctx dec;
    size_t raw_len = BASE64_DECODE_LENGTH(b64_len);
    base64_decode_init(&dec);
    bool ok = base64_decode_update(&dec, &raw_len, raw, b64_len, b64) &&
              base64_decode_final(&dec) &&
              raw_len >= CHACHA_POLY1305_NONCE_SIZE + CHACHA_POLY1305_DIGEST_SIZE;
    char *plain = NULL;
    if (ok) {
        size_t text_len = raw_len - CHACHA_POLY1305_NONCE_SIZE - CHACHA_POLY1305_DIGEST_SIZE;
        plain = malloc(text_len + 1);
        uint8_t tag[CHACHA_POLY1305_DIGEST_SIZE];
        struct chacha_poly1305_ctx ctx;
        chacha_poly1305_set_key(&ctx, key->bytes);
        chacha_poly1305_set_nonce(&ctx, raw);
        chacha_poly1305_update(&ctx, sizeof(secrets_label) - 1, (const uint8_t *)secrets_label);
        if (plain)
            chacha_poly1305_decrypt(&ctx, text_len, (uint8_t *)plain,
                                    raw + CHACHA_POLY1305_NONCE_SIZE);
        chacha_poly1305_digest(&ctx, sizeof(tag), tag);
        explicit_bzero(&ctx, sizeof(ctx));
        if (plain && memeql_sec(tag, raw + CHACHA_POLY1305_NONCE_SIZE + text_len, sizeof(tag))) {
            plain[text_len] = '\0';
            *len = text_len;
        } else if (plain) {
            explicit_bzero(plain, text_len);
            free(plain);
            plain = NULL;
        }
    }
    free(raw);
    return plain;
}
