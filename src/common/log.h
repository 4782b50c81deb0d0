/*
 * log — what the Core and the Worker tell their operator: one line per event
 * on stderr, either `key=value` pairs (the default) or one JSON object
 * (`--log-format json`), at a level (`--log-level`).
 *
 *   fl_log(FL_LOG_INFO, "worker_joined", "name=%s address=%s", name, address);
 *   ts=2026-12-04T21:40:00.123Z level=info component=core event=worker_joined name=w1 ...
 *   {"ts":"2026-12-04T21:40:00.123Z","level":"info","component":"core","event":...}
 *
 * `fields` is a list of `key=%spec` separated by single spaces, with printf's
 * specs (%s %d %u %ld %lu %lld %llu %zu %x %f %g, with flags and precision):
 * each value is formatted on its own and escaped for the format, so a value
 * from outside (a name, a detail) can never forge a field or a line. A line
 * about a request carries its id as `request=%s`.
 */
#ifndef FL_COMMON_LOG_H
#define FL_COMMON_LOG_H

#include <stdbool.h>

enum fl_log_level { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR };
enum fl_log_format { FL_LOG_KEY_VALUE, FL_LOG_JSON };

/* Once at start, before other threads log: the `component` field ("core", "worker"), the
 * format, and the least level written. */
void fl_log_setup(const char *component, enum fl_log_format format, enum fl_log_level min_level);
/* "kv" or "json"; "debug", "info", "warn" or "error". False for anything else. */
bool fl_log_parse_format(const char *text, enum fl_log_format *format);
bool fl_log_parse_level(const char *text, enum fl_log_level *level);
/* fl_log_setup from the --log-format and --log-level options' text; false (nothing set, and a
 * line on stderr naming `program` and what the options take) when either is not known. */
bool fl_log_setup_from_options(const char *program, const char *component, const char *format,
                               const char *level);

/* One event; thread-safe (a line is written whole). */
void fl_log(enum fl_log_level level, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#endif
