/*
 * escape — bytes that came from outside, written where another reader
 * parses them: a log line, a Prometheus label value.
 */
#ifndef FL_COMMON_ESCAPE_H
#define FL_COMMON_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* `in` for a log line's quoted field: printable ASCII stays but for '"' and '\', which get a
 * backslash; every other byte becomes \xHH (so a CR or LF cannot start a forged line). Cut,
 * with "...", to fit `out_len` (at least 8). */
void fl_escape_log(const char *in, char *out, size_t out_len);

/* Appends `value` as a Prometheus text-format label value: '\', '"' and newline escaped. */
bool fl_buf_prom_label(struct fl_buf *out, const char *value);

/* A Worker's name, as it appears in logs, headers and metrics: 1 to 63 bytes of letters,
 * digits, '.', '_' and '-' (host names and Kubernetes node names fit). */
bool fl_worker_name_valid(const char *name);

#endif
