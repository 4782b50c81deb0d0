#include "core/http/multipart.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { MAX_BOUNDARY = 70 };

/* The boundary parameter of a multipart/form-data content type, unquoted. */
static bool multipart_boundary(const char *content_type, char *out, size_t out_len)
{
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
        return false;
    const char *p = strcasestr(content_type, "boundary=");
    if (!p)
        return false;
    p += 9;
    bool quoted = *p == '"';
    p += quoted;
    size_t n = 0;
    while (p[n] && (quoted ? p[n] != '"' : (p[n] != ';' && !isspace((unsigned char)p[n]))))
        n++;
    if (n == 0 || n > MAX_BOUNDARY || n + 1 > out_len)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Reads one header block [p, end): the name and filename of Content-Disposition. */
static bool multipart_headers(const char *p, const char *end, struct multipart_part *part)
{
    part->name[0] = '\0';
    part->has_filename = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        size_t line_len = (size_t)(line_end - p);
        if (line_len >= 20 && strncasecmp(p, "content-disposition:", 20) == 0) {
            char line[1024];
            size_t n = line_len < sizeof(line) - 1 ? line_len : sizeof(line) - 1;
            memcpy(line, p, n);
            line[n] = '\0';
            const char *name = strstr(line, " name=\"");
            if (!name)
                name = strstr(line, ";name=\"");
            if (name) {
                name += 7;
                size_t len = strcspn(name, "\"");
                if (name[len] != '"' || len > MULTIPART_MAX_NAME)
                    return false;
                memcpy(part->name, name, len);
                part->name[len] = '\0';
            }
            part->has_filename = strstr(line, "filename=") != NULL;
        }
        p = line_end + (eol ? 1 : 0);
    }
    return part->name[0] != '\0';
}

enum fl_err multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                            struct multipart *out, char *detail, size_t detail_len)
{
    char boundary[MAX_BOUNDARY + 1], delim[MAX_BOUNDARY + 5];
    out->count = 0;
    if (!multipart_boundary(content_type, boundary, sizeof(boundary)))
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                       "expected a multipart/form-data body with a boundary");
    /* every delimiter but the first is preceded by CRLF */
    size_t dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    const uint8_t *end = body + len;
    if (len < dlen - 2 || memcmp(body, delim + 2, dlen - 2) != 0)
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                       "malformed multipart body: no opening boundary");
    const uint8_t *p = body + dlen - 2;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return FL_OK; /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            break;
        p += 2;
        const uint8_t *headers_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!headers_end || out->count == MULTIPART_MAX_PARTS)
            break;
        struct multipart_part *part = &out->parts[out->count];
        if (!multipart_headers((const char *)p, (const char *)headers_end, part))
            break;
        const uint8_t *data = headers_end + 4;
        const uint8_t *next = memmem(data, (size_t)(end - data), delim, dlen);
        if (!next)
            break;
        part->data = data;
        part->len = (size_t)(next - data);
        out->count++;
        p = next + dlen;
    }
    out->count = 0;
    return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "malformed multipart body");
}

const struct multipart_part *multipart_get(const struct multipart *mp, const char *name)
{
    for (int i = 0; i < mp->count; i++)
        if (strcmp(mp->parts[i].name, name) == 0)
            return &mp->parts[i];
    return NULL;
}
