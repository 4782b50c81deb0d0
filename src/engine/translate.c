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

static bool write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(bytes, 1, len, f) == len;
    return f && fclose(f) == 0 && ok;
}

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

static void put_leb(struct fl_buf *out, uint64_t v)
{
    do {
        char byte = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            byte = (char)(byte | 0x80);
        fl_buf_append(out, &byte, 1);
    } while (v);
}

/* The module with the bodies of functions outside [keep_from, keep_to) made `unreachable`. */
static bool stubbed_copy(const uint8_t *wasm, size_t len, const struct wasm_desc *d,
                         uint32_t keep_from, uint32_t keep_to, struct fl_buf *out)
{
    static const char stub[] = {3, 0x00, 0x00, 0x0b}; /* size 3: no locals, unreachable, end */
    struct fl_buf code;
    fl_buf_init(&code, len + 16);
    put_leb(&code, d->body_count);
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
    put_leb(out, code.len);
    ok = ok && fl_buf_append(out, code.data, code.len) &&
         fl_buf_append(out, (const char *)wasm + d->code_section_end, len - d->code_section_end);
    fl_buf_deinit(&code);
    return ok;
}

/* ---- splicing the two outputs ---- */

/* The start of function k's definition: the line that begins as its forward declaration does
 * ("static u32 w2c_f7(") and goes on with the instance parameter's name. NULL if absent. */
static const char *definition(const char *text, const char *declaration_prefix)
{
    char needle[600];
    snprintf(needle, sizeof(needle), "\n%s" INSTANCE " instance", declaration_prefix);
    const char *at = strstr(text, needle);
    return at ? at + 1 : NULL;
}

/* The prefix ("static TYPE NAME(") of the n-th forward declaration of a defined function. */
static bool declaration_prefix(const char *text, uint32_t n, char *out, size_t out_len)
{
    uint32_t seen = 0;
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *eol = strchr(line, '\n');
        size_t line_len = eol ? (size_t)(eol - line) : strlen(line);
        const char *paren = memchr(line, '(', line_len);
        /* "static u32 w2c_f7(Z_m_instance_t*, u32);": no parameter names, ends with ");" */
        if (strncmp(line, "static ", 7) != 0 || !paren || line_len < 2 ||
            strncmp(paren + 1, INSTANCE, strlen(INSTANCE)) != 0 ||
            (paren[1 + strlen(INSTANCE)] != ',' && paren[1 + strlen(INSTANCE)] != ')') ||
            strncmp(line + line_len - 2, ");", 2) != 0)
            continue;
        if (seen++ == n) {
            size_t prefix_len = (size_t)(paren + 1 - line);
            if (prefix_len >= out_len)
                return false;
            memcpy(out, line, prefix_len);
            out[prefix_len] = '\0';
            return true;
        }
    }
    return false;
}

/*
 * Keeps `a` but for the definitions of functions [half, count), taken from `b`. False unless
 * both outputs are the same outside the definitions (wasm2c wrote nothing else from the
 * bodies) and hold exactly `count` definitions in function order.
 */
static bool splice(const char *a, const char *b, uint32_t half, uint32_t count, struct fl_buf *out)
{
    char zeroth[512], first[512], last[512], beyond[512];
    if (!declaration_prefix(a, 0, zeroth, sizeof(zeroth)) ||
        !declaration_prefix(a, half, first, sizeof(first)) ||
        !declaration_prefix(a, count - 1, last, sizeof(last)) ||
        declaration_prefix(a, count, beyond, sizeof(beyond))) /* exactly `count` of them */
        return false;
    const char *a_zero = definition(a, zeroth), *b_zero = definition(b, zeroth);
    const char *a_from = definition(a, first), *a_last = definition(a, last);
    const char *b_from = definition(b, first), *b_last = definition(b, last);
    const char *a_to = a_last ? strstr(a_last, "\n}\n") : NULL;
    const char *b_to = b_last ? strstr(b_last, "\n}\n") : NULL;
    if (!a_zero || !b_zero || !a_from || !a_to || !b_from || !b_to || a_zero > a_from ||
        a_from > a_last || b_zero > b_from || b_from > b_last)
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

/* wasm2c copies export names, NUL bytes included, into comments: blanked, the text is one C
 * string (the tier-0 compile blanks them too). */
static bool blank_nuls(struct fl_buf *text)
{
    for (size_t i = 0; i < text->len; i++)
        if (text->data[i] == '\0')
            text->data[i] = ' ';
    return text->data != NULL;
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
             write_file(halves[i].wasm_path, copy.data, copy.len);
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
         blank_nuls(&a) && blank_nuls(&b) && splice(a.data, b.data, half_at, count, &joined) &&
         write_file(c_path, joined.data, joined.len) && rename(half_h, h_path) == 0;
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
    if (!write_file(wasm_path, wasm, len))
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot write %s: %s", wasm_path,
                       strerror(errno));
    enum fl_err err = run_wasm2c(wasm_path, c_path, detail, detail_len);
    unlink(wasm_path);
    return err;
}
