/*
 * Fuzz target: any bytes as every kind of name in an otherwise valid module — an import's
 * module and field, an export, a custom section's name and contents, the `name` section's
 * module, function and local names — checked against the same module with plain names:
 *
 * - what wasm2c is given (anonymize.h) is the same, byte for byte: no name reaches it;
 * - our translator's C and the glue are the same outside string literals, and the names in
 *   those literals are escaped (letters, digits and \ooo only);
 * - the module compiles at tier 0 both ways (our translator; wasm2c and libtcc), through the
 *   gate in front of the compilers.
 *
 * Any difference aborts. Built with clang -fsanitize=fuzzer by `make fuzz`; its corpus is
 * replayed by the suite through replay_main.c (each input runs wasm2c once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/anonymize.h"
#include "engine/compile.h"
#include "engine/engine_internal.h"
#include "engine/glue.h"
#include "engine/wasm_decode.h"
#include "engine/wasm_to_c.h"

#include "any_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    NAME_IMPORT_MODULE,
    NAME_IMPORT_FIELD,
    NAME_EXPORT,
    NAME_CUSTOM,
    NAME_CUSTOM_DATA,
    NAME_SECTION,
    NAMES
};

struct name {
    const uint8_t *bytes;
    size_t len;
};

static void put_byte(struct fl_buf *b, uint8_t v)
{
    fl_buf_append(b, &v, 1);
}

static void put_name(struct fl_buf *b, struct name n)
{
    wasm_put_leb(b, n.len);
    fl_buf_append(b, n.bytes, n.len);
}

static void put_str(struct fl_buf *b, const char *s)
{
    put_name(b, (struct name){(const uint8_t *)s, strlen(s)});
}

static void put_section(struct fl_buf *out, uint8_t id, const struct fl_buf *body)
{
    put_byte(out, id);
    wasm_put_leb(out, body->len);
    fl_buf_append(out, body->data ? body->data : "", body->len);
}

/* tests/fixtures/hostile_names.py's module, with these names. */
static void build_module(const struct name n[NAMES], struct fl_buf *out)
{
    static const uint8_t types[] = {3,    0x60, 2,    0x7f, 0x7f, 0,    0x60, 1,
                                    0x7f, 1,    0x7f, 0x60, 1,    0x7f, 0};
    static const uint8_t body[] = {1, 1, 0x7f, 0x41, 0, 0x41, 11, 0x10, 0, 0x41, 0x00, 0x0b};
    struct fl_buf s;
    fl_buf_init(&s, 1 << 20);
    fl_buf_append(out, "\0asm\1\0\0\0", 8);
    fl_buf_append(&s, types, sizeof(types));
    put_section(out, 1, &s);
    fl_buf_reset(&s);
    put_byte(&s, 2);
    put_str(&s, "fl_imps");
    put_str(&s, "__insert_response");
    put_byte(&s, 0), put_byte(&s, 0);
    put_name(&s, n[NAME_IMPORT_MODULE]);
    put_name(&s, n[NAME_IMPORT_FIELD]);
    put_byte(&s, 0), put_byte(&s, 2);
    put_section(out, 2, &s);
    fl_buf_reset(&s);
    put_byte(&s, 1), put_byte(&s, 1); /* one function of type 1 */
    put_section(out, 3, &s);
    fl_buf_reset(&s);
    put_byte(&s, 1), put_byte(&s, 0), put_byte(&s, 1); /* memory: min 1 */
    put_section(out, 5, &s);
    fl_buf_reset(&s);
    put_byte(&s, 3);
    put_str(&s, "memory");
    put_byte(&s, 2), put_byte(&s, 0);
    put_str(&s, "__invoke");
    put_byte(&s, 0), put_byte(&s, 2);
    put_name(&s, n[NAME_EXPORT]);
    put_byte(&s, 0), put_byte(&s, 2);
    put_section(out, 7, &s);
    fl_buf_reset(&s);
    put_byte(&s, 1);
    put_byte(&s, sizeof(body));
    fl_buf_append(&s, body, sizeof(body));
    put_section(out, 10, &s);
    fl_buf_reset(&s);
    put_byte(&s, 1), put_byte(&s, 0), put_byte(&s, 0x41), put_byte(&s, 0), put_byte(&s, 0x0b);
    put_str(&s, "{\"ok\":true}");
    put_section(out, 11, &s);
    fl_buf_reset(&s);
    put_name(&s, n[NAME_CUSTOM]);
    fl_buf_append(&s, n[NAME_CUSTOM_DATA].bytes, n[NAME_CUSTOM_DATA].len);
    put_section(out, 0, &s);
    /* the name section: module name, function 2's name, its locals 0 and 1 */
    struct fl_buf sub;
    fl_buf_init(&sub, 1 << 20);
    fl_buf_reset(&s);
    put_str(&s, "name");
    put_name(&sub, n[NAME_SECTION]);
    put_byte(&s, 0);
    wasm_put_leb(&s, sub.len);
    fl_buf_append(&s, sub.data, sub.len);
    fl_buf_reset(&sub);
    put_byte(&sub, 1), put_byte(&sub, 2);
    put_name(&sub, n[NAME_SECTION]);
    put_byte(&s, 1);
    wasm_put_leb(&s, sub.len);
    fl_buf_append(&s, sub.data, sub.len);
    fl_buf_reset(&sub);
    put_byte(&sub, 1), put_byte(&sub, 2), put_byte(&sub, 2), put_byte(&sub, 0);
    put_name(&sub, n[NAME_SECTION]);
    put_byte(&sub, 1);
    put_name(&sub, n[NAME_EXPORT]);
    put_byte(&s, 2);
    wasm_put_leb(&s, sub.len);
    fl_buf_append(&s, sub.data, sub.len);
    put_section(out, 0, &s);
    fl_buf_deinit(&sub);
    fl_buf_deinit(&s);
}

/* `text` with the contents of every string literal removed; false if a literal's contents are
 * not letters, digits and \ooo escapes (what glue_c_string writes) — or not our names' form. */
static bool blank_literals(const char *text, struct fl_buf *out, bool check_escapes)
{
    for (const char *p = text; *p; p++) {
        if (*p == '#' && (p == text || p[-1] == '\n')) { /* preprocessor lines: fixed text */
            size_t n = strcspn(p, "\n");
            fl_buf_append(out, p, n);
            p += n - 1;
            continue;
        }
        fl_buf_append(out, p, 1);
        if (*p == '/' && p[1] == '*') { /* comments are copied whole */
            const char *end = strstr(p + 2, "*/");
            if (!end)
                return false;
            fl_buf_append(out, p + 1, (size_t)(end + 1 - p));
            p = end + 1;
            continue;
        }
        if (*p != '"' || (p > text && p[-1] == '\''))
            continue;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\') {
                bool octal = p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' &&
                             p[3] >= '0' && p[3] <= '7';
                if (check_escapes && !octal)
                    return false;
                p += octal ? 3 : 1;
            } else if (check_escapes && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                          (*p >= '0' && *p <= '9'))) {
                return false;
            }
        }
        if (!*p)
            return false;
        fl_buf_append(out, p, 1);
    }
    return true;
}

/* Our translator's C for the module, or the glue (glue = true). */
static bool generated_c(const struct fl_buf *wasm, bool glue, struct fl_buf *blanked)
{
    struct wasm_desc desc;
    char detail[256];
    struct fl_buf c;
    fl_buf_init(&c, (size_t)64 << 20);
    bool ok =
        wasm_decode((const uint8_t *)wasm->data, wasm->len, &desc, detail, sizeof(detail)) == FL_OK;
    if (ok && glue)
        ok = glue_generate(&desc, &c);
    else if (ok)
        ok = wasm_to_c((const uint8_t *)wasm->data, wasm->len, &desc, &c, detail, sizeof(detail)) ==
             FL_OK;
    ok = ok && blank_literals(c.data, blanked, glue);
    fl_buf_deinit(&c);
    wasm_desc_deinit(&desc);
    return ok;
}

static bool anonymized(const struct fl_buf *wasm, struct fl_buf *out)
{
    struct wasm_desc desc;
    char detail[256];
    bool ok = wasm_decode((const uint8_t *)wasm->data, wasm->len, &desc, detail, sizeof(detail)) ==
                  FL_OK &&
              anonymize_module((const uint8_t *)wasm->data, wasm->len, &desc, out, detail,
                               sizeof(detail)) == FL_OK;
    wasm_desc_deinit(&desc);
    return ok;
}

static void fuzz_names_fail(const char *what)
{
    fprintf(stderr, "fuzz_names: %s\n", what);
    abort();
}

/* Both tier-0 paths compile the module, through the gate (wasm2c's path is this engine's). */
static void compile_both(const struct fl_buf *wasm)
{
    static bool started;
    char detail[256] = "";
    if (!started) {
        struct engine_config config;
        engine_config_defaults(&config);
        config.tier1 = false;
        config.tier0_via_wasm2c = true;
        if (engine_init(&config, detail, sizeof(detail)) != FL_OK)
            fuzz_names_fail(detail);
        atexit(engine_deinit); /* removes its temporary cache */
        started = true;
    }
    struct wasm_desc desc;
    struct compiled *code = NULL;
    if (wasm_decode((const uint8_t *)wasm->data, wasm->len, &desc, detail, sizeof(detail)) !=
            FL_OK ||
        compile_tier0_own((const uint8_t *)wasm->data, wasm->len, &desc, &code, detail,
                          sizeof(detail)) != FL_OK)
        fuzz_names_fail(detail);
    compiled_free(code);
    wasm_desc_deinit(&desc);
    struct engine_module *m = NULL;
    if (engine_module_load_custom((const uint8_t *)wasm->data, wasm->len, provide_any_import, NULL,
                                  &m, detail, sizeof(detail)) != FL_OK)
        fuzz_names_fail(detail);
    engine_module_release(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* plain names of the same lengths: the translator's C holds byte offsets into the module */
    uint8_t letters[256];
    memset(letters, 'a', sizeof(letters));
    struct name fuzzed[NAMES], plain[NAMES];
    for (int i = 0; i < NAMES; i++) {
        size_t len = size ? data[0] : 0; /* at most 255 */
        if (size) {
            data++, size--;
        }
        len = len < size ? len : size;
        fuzzed[i] = (struct name){data, len};
        data += len, size -= len;
        plain[i] = (struct name){letters, len};
    }
    struct fl_buf a, b, ca, cb;
    fl_buf_init(&a, 1 << 20), fl_buf_init(&b, 1 << 20);
    build_module(fuzzed, &a);
    build_module(plain, &b);
    struct wasm_desc desc;
    char detail[256];
    bool valid =
        wasm_decode((const uint8_t *)a.data, a.len, &desc, detail, sizeof(detail)) == FL_OK;
    wasm_desc_deinit(&desc);
    /* an export name that repeats "memory" or "__invoke" is invalid: nothing to compare */
    bool duplicate =
        (fuzzed[NAME_EXPORT].len == 6 && !memcmp(fuzzed[NAME_EXPORT].bytes, "memory", 6)) ||
        (fuzzed[NAME_EXPORT].len == 8 && !memcmp(fuzzed[NAME_EXPORT].bytes, "__invoke", 8));
    if (valid && !duplicate) {
        fl_buf_init(&ca, (size_t)64 << 20), fl_buf_init(&cb, (size_t)64 << 20);
        if (!anonymized(&a, &ca) || !anonymized(&b, &cb) || ca.len != cb.len ||
            memcmp(ca.data, cb.data, ca.len) != 0)
            fuzz_names_fail("what wasm2c is given depends on the names");
        for (int glue = 0; glue < 2; glue++) {
            fl_buf_reset(&ca), fl_buf_reset(&cb);
            if (!generated_c(&a, glue, &ca) || !generated_c(&b, glue, &cb) ||
                strcmp(ca.data, cb.data) != 0)
                fuzz_names_fail(glue ? "the glue holds a name outside an escaped literal"
                                     : "the translator's C holds a name outside a literal");
        }
        fl_buf_deinit(&ca), fl_buf_deinit(&cb);
        compile_both(&a);
    }
    fl_buf_deinit(&a), fl_buf_deinit(&b);
    return 0;
}
