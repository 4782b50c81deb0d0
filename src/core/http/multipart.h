/*
 * multipart — parses a complete multipart/form-data body (RFC 7578).
 *
 * The body is bounded before it gets here (the server's upload limit), so
 * parsing is one pass over memory: parts point into the body, nothing is
 * copied but the field names. Standalone so that it can be fuzzed.
 */
#ifndef FL_CORE_HTTP_MULTIPART_H
#define FL_CORE_HTTP_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define MULTIPART_MAX_PARTS 16
#define MULTIPART_MAX_NAME 64

struct multipart_part {
    char name[MULTIPART_MAX_NAME + 1];
    int has_filename;
    const uint8_t *data; /* into the body */
    size_t len;
};

struct multipart {
    struct multipart_part parts[MULTIPART_MAX_PARTS];
    int count;
};

/* FL_ERR_BAD_REQUEST with a sentence when the body or the content type is malformed. */
enum fl_err multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                            struct multipart *out, char *detail, size_t detail_len);

/* The first part named `name`, or NULL. */
const struct multipart_part *multipart_get(const struct multipart *mp, const char *name);

#endif
