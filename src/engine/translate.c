#include "engine/translate.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/path.h"
#include "common/proc.h"

enum {
    WASM2C_TIMEOUT_MS = 120000,
    TOOL_OUTPUT_MAX = 16 << 10,
    C_MAX_BYTES = 1 << 30,
};

/* What every wasm2c output names its instance type with `-n m`. */
#define INSTANCE "Z_m_instance_t*"

/* wasm2c -n m IN -o DIR/m.c; the reason in `detail` when it refuses the module. */
static enum fl_err run_wasm2c(const char *wasm_path, const char *c_path, char *detail,
                              size_t detail_len)
{
    const char *argv[] = {"wasm2c", "-n", "m", wasm_path, "-o", c_path, NULL};
    struct proc_limits limits = {.memory_bytes = (uint64_t)4 << 30,
                                 .timeout_ms = WASM2C_TIMEOUT_MS};
    struct fl_buf out;
    fl_buf_init(&out, TOOL_OUTPUT_MAX);
    int status = -1;
    enum fl_err err = proc_run(argv, -1, &limits, &out, &status);
    if (err == FL_OK && status != 0) {
        /* "PATH:OFFSET: error: why": the path is ours, the offset and the why are the user's */
        const char *why = out.data ? strstr(out.data, ".wasm:") : NULL;
        why = why ? why + 6 : out.data ? out.data : "no output";
        err = fl_fail(FL_ERR_INVALID_WASM, detail, detail_len,
                      "invalid WebAssembly module at offset %.*s", (int)strcspn(why, "\n"), why);
    }
    fl_buf_deinit(&out);
    return err;
}

/* ---- building the two copies ---- */

/* The module with the bodies of functions outside [keep_from, keep_to) made `unreachable`. */
static bool stubbed_copy(const uint8_t *wasm, size_t len, const struct wasm_desc *d,
                         uint32_t keep_from, uint32_t keep_to, struct fl_buf *out)
{
    static const char stub[] = {3, 0x00, 0x00, 0x0b}; /* size 3: no locals, unreachable, end */
    struct fl_buf code;
    fl_buf_init(&code, len + 16);
    wasm_put_leb(&code, d->body_count);
    for (uint32_t i = 0; i < d->body_count; i++) {
        if (i >= keep_from && i < keep_to)
            fl_buf_append(&code, (const char *)wasm + d->body_offsets[i],
                          d->body_offsets[i + 1] - d->body_offsets[i]);
        else
            fl_buf_append(&code, stub, sizeof(stub));
    }
    char id = 10;
    bool ok = code.data && fl_buf_append(out, (const char *)wasm, d->code_section_start) &&
              fl_buf_append(out, &id, 1);
    wasm_put_leb(out, code.len);
    ok = ok && fl_buf_append(out, code.data, code.len) &&
         fl_buf_append(out, (const char *)wasm + d->code_section_end, len - d->code_section_end);
    fl_buf_deinit(&code);
    return ok;
}

/* ---- splicing the two outputs ---- */

/* The start of the definition of the function whose forward declaration begins with
 * `declaration_prefix` ("static u32 w2c_f7("), searched from `from`. NULL if absent. */
static const char *definition(const char *from, const char *declaration_prefix)
{
    char needle[600];
    snprintf(needle, sizeof(needle), "\n%s" INSTANCE " instance", declaration_prefix);
    const char *at = strstr(from, needle);
    return at ? at + 1 : NULL;
}

/* A forward declaration of a defined function: "static u32 w2c_f7(Z_m_instance_t*, u32);" —
 * parameter types only, ending with ");". Its prefix length up to "(" included, or 0. */
static size_t declaration(const char *line, size_t line_len)
{
    const char *paren = memchr(line, '(', line_len);
    size_t n = strlen(INSTANCE);
    if (strncmp(line, "static ", 7) != 0 || !paren || line_len < 2 ||
        (size_t)(line + line_len - paren) < n + 2 || strncmp(paren + 1, INSTANCE, n) != 0 ||
        (paren[1 + n] != ',' && paren[1 + n] != ')') || strncmp(line + line_len - 2, ");", 2) != 0)
        return 0;
    return (size_t)(paren + 1 - line);
}

struct declarations {
    uint32_t wanted[3]; /* indices whose prefixes are kept */
    char prefix[3][512];
    uint32_t count;
};

/* Reads the block of forward declarations (it ends at the first line that defines something
 * with the instance parameter); false if a prefix does not fit. */
static bool read_declarations(const char *text, struct declarations *d)
{
    d->count = 0;
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        size_t line_len = eol ? (size_t)(eol - line) : strlen(line);
        size_t prefix_len = declaration(line, line_len);
        if (prefix_len) {
            for (int i = 0; i < 3; i++)
                if (d->wanted[i] == d->count) {
                    if (prefix_len >= sizeof(d->prefix[i]))
                        return false;
                    memcpy(d->prefix[i], line, prefix_len);
                    d->prefix[i][prefix_len] = '\0';
                }
            d->count++;
        } else if (d->count && strncmp(line, "static ", 7) == 0 &&
                   memmem(line, line_len, INSTANCE " instance", strlen(INSTANCE " instance"))) {
            break; /* the first definition: the declarations are behind us */
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return true;
}

/*
 * Keeps `a` but for the definitions of functions [half, count), taken from `b`. False unless
 * both outputs are the same outside the definitions (wasm2c wrote nothing else from the
 * bodies) and declare exactly `count` functions, defined in function order.
 */
static bool splice(const char *a, const char *b, uint32_t half, uint32_t count, struct fl_buf *out)
{
    struct declarations d = {.wanted = {0, half, count - 1}};
    if (!read_declarations(a, &d) || d.count != count)
        return false;
    const char *a_zero = definition(a, d.prefix[0]), *b_zero = definition(b, d.prefix[0]);
    /* each search starts at the newline before the previous find: the two may be one */
    const char *a_from = a_zero ? definition(a_zero - 1, d.prefix[1]) : NULL;
    const char *b_from = b_zero ? definition(b_zero - 1, d.prefix[1]) : NULL;
    const char *a_last = a_from ? definition(a_from - 1, d.prefix[2]) : NULL;
    const char *b_last = b_from ? definition(b_from - 1, d.prefix[2]) : NULL;
    const char *a_to = a_last ? strstr(a_last, "\n}\n") : NULL;
    const char *b_to = b_last ? strstr(b_last, "\n}\n") : NULL;
    if (!a_to || !b_to)
        return false;
    a_to += 3; /* past "\n}\n" */
    b_to += 3;
    if (a_zero - a != b_zero - b || memcmp(a, b, (size_t)(a_zero - a)) != 0 ||
        strcmp(a_to, b_to) != 0)
        return false;
    return fl_buf_append(out, a, (size_t)(a_from - a)) &&
           fl_buf_append(out, b_from, (size_t)(b_to - b_from)) &&
           fl_buf_append(out, a_to, strlen(a_to));
}

/* The splice reads each output as one C string. wasm2c never sees a name (anonymize.h), so a
 * NUL byte is a surprise: the split is abandoned, and the gate refuses what one wasm2c writes. */
static bool one_string(const struct fl_buf *text)
{
    return text->data != NULL && memchr(text->data, '\0', text->len) == NULL;
}

/* ---- two wasm2c at once ---- */

struct half {
    char dir[PATH_MAX], wasm_path[PATH_MAX], c_path[PATH_MAX];
    enum fl_err err;
};

static void *translate_half(void *arg)
{
    struct half *h = arg;
    h->err = run_wasm2c(h->wasm_path, h->c_path, NULL, 0);
    return NULL;
}

/* true with dir/m.c and dir/m.h written; false: use one wasm2c instead. */
static bool translate_split(const char *dir, const uint8_t *wasm, size_t len,
                            const struct wasm_desc *d)
{
    uint32_t count = d->body_count, half_at = count / 2;
    struct half halves[2];
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
        fl_path_join(halves[i].dir, sizeof(halves[i].dir), dir, i ? "half1" : "half0");
        fl_path_join(halves[i].wasm_path, sizeof(halves[i].wasm_path), halves[i].dir, "m.wasm");
        fl_path_join(halves[i].c_path, sizeof(halves[i].c_path), halves[i].dir, "m.c");
        struct fl_buf copy;
        fl_buf_init(&copy, len + 64);
        ok = (mkdir(halves[i].dir, 0755) == 0 || errno == EEXIST) &&
             stubbed_copy(wasm, len, d, i ? half_at : 0, i ? count : half_at, &copy) &&
             fl_write_file(halves[i].wasm_path, copy.data, copy.len);
        fl_buf_deinit(&copy);
    }
    pthread_t other;
    if (!ok || pthread_create(&other, NULL, translate_half, &halves[1]) != 0)
        return false;
    translate_half(&halves[0]);
    pthread_join(other, NULL);
    struct fl_buf a, b, joined;
    fl_buf_init(&a, C_MAX_BYTES);
    fl_buf_init(&b, C_MAX_BYTES);
    fl_buf_init(&joined, C_MAX_BYTES);
    char c_path[PATH_MAX], h_path[PATH_MAX], half_h[PATH_MAX];
    fl_path_join(c_path, sizeof(c_path), dir, "m.c");
    fl_path_join(h_path, sizeof(h_path), dir, "m.h");
    fl_path_join(half_h, sizeof(half_h), halves[0].dir, "m.h");
    ok = halves[0].err == FL_OK && halves[1].err == FL_OK &&
         fl_buf_read_file(&a, halves[0].c_path) && fl_buf_read_file(&b, halves[1].c_path) &&
         one_string(&a) && one_string(&b) && splice(a.data, b.data, half_at, count, &joined) &&
         fl_write_file(c_path, joined.data, joined.len) && rename(half_h, h_path) == 0;
    fl_buf_deinit(&a);
    fl_buf_deinit(&b);
    fl_buf_deinit(&joined);
    for (int i = 0; i < 2; i++) {
        char h[PATH_MAX];
        fl_path_join(h, sizeof(h), halves[i].dir, "m.h");
        unlink(halves[i].wasm_path);
        unlink(halves[i].c_path);
        unlink(h);
        rmdir(halves[i].dir);
    }
    return ok;
}

static atomic_ulong splits_done, splits_abandoned;

void translate_stats(unsigned long *split, unsigned long *abandoned)
{
    *split = atomic_load(&splits_done);
    *abandoned = atomic_load(&splits_abandoned);
}

enum fl_err translate_module(const char *dir, const uint8_t *wasm, size_t len,
                             const struct wasm_desc *desc, uint64_t split_min_bytes, char *detail,
                             size_t detail_len)
{
    uint64_t code_bytes = desc->code_section_end - desc->code_section_start;
    if (split_min_bytes && code_bytes >= split_min_bytes && desc->body_count >= 2 &&
        sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
        if (translate_split(dir, wasm, len, desc)) {
            atomic_fetch_add(&splits_done, 1);
            return FL_OK;
        }
        atomic_fetch_add(&splits_abandoned, 1); /* invalid modules land here too */
    }
    char wasm_path[PATH_MAX], c_path[PATH_MAX];
    fl_path_join(wasm_path, sizeof(wasm_path), dir, "m.wasm");
    fl_path_join(c_path, sizeof(c_path), dir, "m.c");
    if (!fl_write_file(wasm_path, wasm, len))
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot write %s: %s", wasm_path,
                       strerror(errno));
    enum fl_err err = run_wasm2c(wasm_path, c_path, detail, detail_len);
    unlink(wasm_path);
    return err;
}
