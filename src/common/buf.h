/*
 * buf — a growable byte buffer with a hard maximum.
 *
 * Every buffer that receives outside input has a maximum (`max`): an append
 * that would pass it fails and leaves the buffer unchanged. The caller owns
 * the struct; fl_buf_deinit frees the bytes. Not thread-safe.
 */
#ifndef FL_COMMON_BUF_H
#define FL_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct fl_buf {
    char *data; /* NUL-terminated when non-NULL (the NUL is not counted in len) */
    size_t len;
    size_t cap;
    size_t max; /* largest len allowed */
};

void fl_buf_init(struct fl_buf *buf, size_t max);
void fl_buf_deinit(struct fl_buf *buf);
/* Empties the buffer and keeps its allocation. */
void fl_buf_reset(struct fl_buf *buf);
/* Appends; false (and no change) when out of memory or past `max`. */
bool fl_buf_append(struct fl_buf *buf, const void *bytes, size_t len);
/* Replaces the contents; false (and no change) on the same conditions. */
bool fl_buf_set(struct fl_buf *buf, const void *bytes, size_t len);
bool fl_buf_printf(struct fl_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the length to `len` (at most `max`), growing as needed; new bytes are unspecified. */
bool fl_buf_resize(struct fl_buf *buf, size_t len);
/* Appends the whole file at `path`; false on an error or past `max` (errno says which). */
bool fl_buf_read_file(struct fl_buf *buf, const char *path);
/* Writes `len` bytes to a new or truncated file at `path` (mode 0644); false on an error. */
bool fl_write_file(const char *path, const void *bytes, size_t len);
/* Hands the bytes to the caller (free() them); the buffer is left empty. */
char *fl_buf_steal(struct fl_buf *buf, size_t *len);

#endif
