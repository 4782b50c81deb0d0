#include "common/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"

enum { LOG_LINE_MAX = 65536, LOG_VALUE_MAX = 2048 };

static struct {
    char component[32];
    enum fl_log_format format;
    enum fl_log_level min_level;
} log_config = {"funless", FL_LOG_KEY_VALUE, FL_LOG_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void fl_log_setup(const char *component, enum fl_log_format format, enum fl_log_level min_level)
{
    snprintf(log_config.component, sizeof(log_config.component), "%s", component);
    log_config.format = format;
    log_config.min_level = min_level;
}

bool fl_log_parse_format(const char *text, enum fl_log_format *format)
{
    if (strcmp(text, "kv") == 0)
        *format = FL_LOG_KEY_VALUE;
    else if (strcmp(text, "json") == 0)
        *format = FL_LOG_JSON;
    else
        return false;
    return true;
}

bool fl_log_parse_level(const char *text, enum fl_log_level *level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (strcmp(text, level_names[i]) == 0) {
            *level = (enum fl_log_level)i;
            return true;
        }
    return false;
}

bool fl_log_setup_from_options(const char *program, const char *component, const char *format,
                               const char *level)
{
    enum fl_log_format f;
    enum fl_log_level l;
    if (!fl_log_parse_format(format, &f) || !fl_log_parse_level(level, &l)) {
        fprintf(stderr,
                "%s: --log-format is kv or json; --log-level is debug, info, warn or error\n",
                program);
        return false;
    }
    fl_log_setup(component, f, l);
    return true;
}

/* A value in a key=value line: bare when it is plain, else quoted with '"' and '\' escaped and
 * every byte outside printable ASCII as \xHH (a newline cannot start a forged line). */
static void log_put_kv_value(struct fl_buf *line, const char *value)
{
    bool plain = value[0] != '\0';
    for (const char *p = value; plain && *p; p++)
        plain = *p > ' ' && *p < 0x7f && *p != '"' && *p != '=' && *p != '\\';
    if (plain) {
        fl_buf_append(line, value, strlen(value));
        return;
    }
    fl_buf_append(line, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            fl_buf_printf(line, "\\%c", *p);
        else if (*p < ' ' || *p >= 0x7f)
            fl_buf_printf(line, "\\x%02x", *p);
        else
            fl_buf_append(line, (const char *)p, 1);
    }
    fl_buf_append(line, "\"", 1);
}

/* A JSON string: '"', '\' and control characters escaped, bytes past ASCII as \u00XX (the line
 * stays valid JSON whatever bytes came in). */
static void log_put_json_string(struct fl_buf *line, const char *value)
{
    fl_buf_append(line, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            fl_buf_printf(line, "\\%c", *p);
        else if (*p < ' ' || *p >= 0x7f)
            fl_buf_printf(line, "\\u%04x", *p);
        else
            fl_buf_append(line, (const char *)p, 1);
    }
    fl_buf_append(line, "\"", 1);
}

static void log_put_field(struct fl_buf *line, const char *key, size_t key_len, const char *value,
                          bool is_string)
{
    if (log_config.format == FL_LOG_JSON) {
        fl_buf_printf(line, ",\"%.*s\":", (int)key_len, key);
        if (is_string)
            log_put_json_string(line, value);
        else
            fl_buf_append(line, value, strlen(value));
    } else {
        fl_buf_printf(line, " %.*s=", (int)key_len, key);
        log_put_kv_value(line, value);
    }
}

/* Formats one printf spec (`spec`, `spec_len` bytes, from '%' to its conversion) taking its
 * argument from `ap`, and appends it; false for a spec this module does not know. */
static bool log_format_spec(const char *spec, size_t spec_len, va_list *ap, struct fl_buf *out)
{
    char fmt[16], text[LOG_VALUE_MAX];
    if (spec_len >= sizeof(fmt))
        return false;
    memcpy(fmt, spec, spec_len);
    fmt[spec_len] = '\0';
    char conv = fmt[spec_len - 1];
    bool l = strchr(fmt, 'l') != NULL, ll = strstr(fmt, "ll") != NULL, z = strchr(fmt, 'z');
    int star = strchr(fmt, '*') ? va_arg(*ap, int) : -1; /* %.*s */
    if (conv == 's') {
        const char *str = va_arg(*ap, const char *);
        if (star >= 0)
            snprintf(text, sizeof(text), fmt, star, str ? str : "(null)");
        else
            snprintf(text, sizeof(text), fmt, str ? str : "(null)");
    } else if (star >= 0) {
        return false;
    } else if (conv == 'f' || conv == 'g') {
        snprintf(text, sizeof(text), fmt, va_arg(*ap, double));
    } else if (conv == 'd' || conv == 'i') {
        if (ll)
            snprintf(text, sizeof(text), fmt, va_arg(*ap, long long));
        else if (l)
            snprintf(text, sizeof(text), fmt, va_arg(*ap, long));
        else if (z)
            snprintf(text, sizeof(text), fmt, va_arg(*ap, ssize_t));
        else
            snprintf(text, sizeof(text), fmt, va_arg(*ap, int));
    } else if (conv == 'u' || conv == 'x') {
        if (ll)
            snprintf(text, sizeof(text), fmt, va_arg(*ap, unsigned long long));
        else if (l)
            snprintf(text, sizeof(text), fmt, va_arg(*ap, unsigned long));
        else if (z)
            snprintf(text, sizeof(text), fmt, va_arg(*ap, size_t));
        else
            snprintf(text, sizeof(text), fmt, va_arg(*ap, unsigned));
    } else {
        return false;
    }
    return fl_buf_append(out, text, strlen(text));
}

/*
 * Formats a value's format (`fmt`, `len` bytes: literal text and specs, as "%s/%s") into
 * `out`; *numeric when it is one number spec alone (JSON writes it bare). False for a spec
 * this module does not know (the compiler's format check has matched every argument).
 */
static bool log_format_value(const char *fmt, size_t len, va_list *ap, struct fl_buf *out,
                             bool *numeric)
{
    size_t specs = 0, literal = 0;
    bool number = false;
    for (size_t i = 0; i < len;) {
        if (fmt[i] != '%' || (i + 1 < len && fmt[i + 1] == '%')) {
            fl_buf_append(out, fmt + i, 1);
            literal++;
            i += fmt[i] == '%' ? 2 : 1;
            continue;
        }
        size_t spec_len = 1 + strcspn(fmt + i + 1, "sdiufgx") + 1;
        if (i + spec_len > len || !log_format_spec(fmt + i, spec_len, ap, out))
            return false;
        number = fmt[i + spec_len - 1] != 's';
        specs++;
        i += spec_len;
    }
    *numeric = specs == 1 && literal == 0 && number;
    return true;
}

/* Appends each `key=value-format` of `fields`. */
static void log_put_fields(struct fl_buf *line, const char *fields, va_list *ap)
{
    struct fl_buf value;
    fl_buf_init(&value, LOG_VALUE_MAX);
    for (const char *p = fields; *p;) {
        p += strspn(p, " ");
        size_t token = strcspn(p, " ");
        const char *eq = memchr(p, '=', token);
        if (!token || !eq)
            break; /* not key=value: the rest is not a field list */
        bool numeric;
        fl_buf_reset(&value);
        if (!log_format_value(eq + 1, token - (size_t)(eq + 1 - p), ap, &value, &numeric))
            break;
        log_put_field(line, p, (size_t)(eq - p), value.data ? value.data : "", !numeric);
        p += token;
    }
    fl_buf_deinit(&value);
}

static void log_timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void fl_log(enum fl_log_level level, const char *event, const char *fields, ...)
{
    if (level < log_config.min_level)
        return;
    char ts[32];
    log_timestamp(ts);
    struct fl_buf line;
    fl_buf_init(&line, LOG_LINE_MAX);
    if (log_config.format == FL_LOG_JSON)
        fl_buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"event\":", ts,
                      level_names[level], log_config.component);
    else
        fl_buf_printf(&line, "ts=%s level=%s component=%s event=", ts, level_names[level],
                      log_config.component);
    if (log_config.format == FL_LOG_JSON)
        log_put_json_string(&line, event);
    else
        log_put_kv_value(&line, event);
    va_list ap;
    va_start(ap, fields);
    log_put_fields(&line, fields, &ap);
    va_end(ap);
    if (log_config.format == FL_LOG_JSON)
        fl_buf_append(&line, "}", 1);
    fl_buf_append(&line, "\n", 1);
    if (line.data && write(STDERR_FILENO, line.data, line.len) < 0) { /* nowhere to say so */
    }
    fl_buf_deinit(&line);
}
