#include "common/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fl_buf_init(struct fl_buf *buf, size_t max)
{
    *buf = (struct fl_buf){.max = max};
}

void fl_buf_deinit(struct fl_buf *buf)
{
    free(buf->data);
    *buf = (struct fl_buf){.max = buf->max};
}

void fl_buf_reset(struct fl_buf *buf)
{
    buf->len = 0;
    if (buf->data)
        buf->data[0] = '\0';
}

static bool fl_buf_reserve(struct fl_buf *buf, size_t extra)
{
    if (extra > buf->max - buf->len)
        return false;
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return true;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need)
        cap *= 2;
    char *data = realloc(buf->data, cap);
    if (!data)
        return false;
    buf->data = data;
    buf->cap = cap;
    return true;
}

bool fl_buf_append(struct fl_buf *buf, const void *bytes, size_t len)
{
    if (!fl_buf_reserve(buf, len))
        return false;
    if (len)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return true;
}

bool fl_buf_set(struct fl_buf *buf, const void *bytes, size_t len)
{
    if (len > buf->max)
        return false;
    size_t old_len = buf->len;
    buf->len = 0;
    if (fl_buf_append(buf, bytes, len))
        return true;
    buf->len = old_len;
    return false;
}

bool fl_buf_printf(struct fl_buf *buf, const char *fmt, ...)
{
    va_list ap;
    /* one pass when it fits in what is allocated already, else measure and grow */
    if (buf->data && buf->cap > buf->len + 1) {
        size_t room = buf->cap - buf->len;
        va_start(ap, fmt);
        int n = vsnprintf(buf->data + buf->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room && (size_t)n <= buf->max - buf->len) {
            buf->len += (size_t)n;
            return true;
        }
        buf->data[buf->len] = '\0';
    }
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !fl_buf_reserve(buf, (size_t)n))
        return false;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return true;
}

bool fl_buf_resize(struct fl_buf *buf, size_t len)
{
    if (len > buf->len && !fl_buf_reserve(buf, len - buf->len))
        return false;
    if (len > buf->max)
        return false;
    buf->len = len;
    if (buf->data)
        buf->data[len] = '\0';
    return true;
}

bool fl_buf_read_file(struct fl_buf *buf, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char chunk[65536];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (!(ok = fl_buf_append(buf, chunk, n)))
            errno = EFBIG;
    ok = ok && !ferror(f);
    fclose(f);
    return ok;
}

bool fl_write_file(const char *path, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    const uint8_t *p = bytes;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd) == 0;
}

char *fl_buf_steal(struct fl_buf *buf, size_t *len)
{
    char *data = buf->data;
    if (len)
        *len = buf->len;
    *buf = (struct fl_buf){.max = buf->max};
    return data;
}
