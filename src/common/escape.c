#include "common/escape.h"

#include <stdio.h>
#include <string.h>

void fl_escape_log(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        char piece[5];
        if (*p == '"' || *p == '\\')
            snprintf(piece, sizeof(piece), "\\%c", *p);
        else if (*p >= 0x20 && *p < 0x7f)
            snprintf(piece, sizeof(piece), "%c", *p);
        else
            snprintf(piece, sizeof(piece), "\\x%02x", *p);
        size_t len = strlen(piece);
        if (n + len + 4 > out_len) { /* room for "..." and the NUL */
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
}

bool fl_buf_prom_label(struct fl_buf *out, const char *value)
{
    bool ok = true;
    for (const char *p = value; ok && *p; p++) {
        if (*p == '\\' || *p == '"')
            ok = fl_buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            ok = fl_buf_append(out, "\\n", 2);
        else
            ok = fl_buf_append(out, p, 1);
    }
    return ok;
}

bool fl_worker_name_valid(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= 63 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}
