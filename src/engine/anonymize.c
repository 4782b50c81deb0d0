#include "engine/anonymize.h"

#include <stdio.h>
#include <string.h>

enum { SECTION_CUSTOM = 0, SECTION_IMPORT = 2, SECTION_EXPORT = 7 };

/* A section's id and body, read again from the module. */
struct section {
    uint8_t id;
    size_t body, end; /* offsets of its first byte past the size field, and of its end */
};

static bool read_u32(const uint8_t *wasm, size_t len, size_t *pos, uint32_t *out)
{
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 35 && *pos < len; shift += 7) {
        uint8_t byte = wasm[(*pos)++];
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = (uint32_t)value;
            return value <= UINT32_MAX;
        }
    }
    return false;
}

static bool next_section(const uint8_t *wasm, size_t len, size_t *pos, struct section *s)
{
    uint32_t size;
    s->id = wasm[(*pos)++];
    if (!read_u32(wasm, len, pos, &size) || size > len - *pos)
        return false;
    s->body = *pos;
    s->end = *pos + size;
    *pos = s->end;
    return true;
}

static bool put_name(struct fl_buf *out, const char *name)
{
    size_t n = strlen(name);
    return wasm_put_leb(out, n) && fl_buf_append(out, name, n);
}

/* The import section again, each import named ANONYMIZE_IMPORT_MODULE.f<index>, its kind
 * and type copied from the module. */
static bool put_imports(struct fl_buf *body, const uint8_t *wasm, size_t len,
                        const struct wasm_desc *desc)
{
    bool ok = wasm_put_leb(body, desc->import_count);
    for (uint32_t i = 0; ok && i < desc->import_count; i++) {
        const struct wasm_import *imp = &desc->imports[i];
        char field[16];
        snprintf(field, sizeof(field), "f%u", i);
        ok = imp->type_len > 0 && imp->type_offset < len &&
             imp->type_len <= len - imp->type_offset && put_name(body, ANONYMIZE_IMPORT_MODULE) &&
             put_name(body, field) && fl_buf_append(body, wasm + imp->type_offset, imp->type_len);
    }
    return ok;
}

static bool put_exports(struct fl_buf *body, const struct wasm_desc *desc)
{
    bool ok = wasm_put_leb(body, desc->export_count);
    for (uint32_t i = 0; ok && i < desc->export_count; i++) {
        char name[16];
        uint8_t kind = (uint8_t)desc->exports[i].kind;
        snprintf(name, sizeof(name), "e%u", i);
        ok = put_name(body, name) && fl_buf_append(body, &kind, 1) &&
             wasm_put_leb(body, desc->exports[i].index);
    }
    return ok;
}

static bool put_section(struct fl_buf *out, uint8_t id, const struct fl_buf *body)
{
    return fl_buf_append(out, &id, 1) && wasm_put_leb(out, body->len) &&
           fl_buf_append(out, body->data ? body->data : "", body->len);
}

enum fl_err anonymize_module(const uint8_t *wasm, size_t len, const struct wasm_desc *desc,
                             struct fl_buf *out, char *detail, size_t detail_len)
{
    if (len < 8 || !fl_buf_append(out, wasm, 8))
        return fl_fail(FL_ERR_INVALID_WASM, detail, detail_len, "module too short");
    size_t pos = 8;
    bool ok = true;
    while (ok && pos < len) {
        struct section s;
        size_t start = pos;
        ok = next_section(wasm, len, &pos, &s);
        if (!ok || s.id == SECTION_CUSTOM)
            continue;
        if (s.id != SECTION_IMPORT && s.id != SECTION_EXPORT) {
            ok = fl_buf_append(out, wasm + start, s.end - start);
            continue;
        }
        struct fl_buf body;
        fl_buf_init(&body, out->max);
        ok = (s.id == SECTION_IMPORT ? put_imports(&body, wasm, len, desc)
                                     : put_exports(&body, desc)) &&
             put_section(out, s.id, &body);
        fl_buf_deinit(&body);
    }
    if (!ok)
        return fl_fail(FL_ERR_INVALID_WASM, detail, detail_len,
                       "cannot rewrite the module's names (malformed section at offset %zu)", pos);
    return FL_OK;
}
