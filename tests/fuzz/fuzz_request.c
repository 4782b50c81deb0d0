/*
 * Fuzz target: what the Core parses from a request body. The first byte
 * picks the parser: multipart (fixed boundary), multipart with the content
 * type taken from the input's first line, function metadata JSON, an APP
 * script (parsed, printed in its normalised form, and used for one choice).
 */
#include <stdlib.h>
#include <string.h>

#include "core/api/validate.h"
#include "core/app/app.h"
#include "core/http/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_multipart(const char *content_type, const uint8_t *body, size_t len)
{
    struct multipart mp;
    char detail[200];
    if (multipart_parse(content_type, body, len, &mp, detail, sizeof(detail)) != FL_OK)
        return;
    for (int i = 0; i < mp.count; i++) /* every part must lie inside the body */
        if (mp.parts[i].data < body || mp.parts[i].data + mp.parts[i].len > body + len)
            abort();
    multipart_get(&mp, "code");
}

static void fuzz_app(const char *yaml, size_t len)
{
    struct app_script *script;
    char detail[256];
    if (app_parse(yaml, len, &script, detail, sizeof(detail)) != FL_OK)
        return;
    cJSON_Delete(app_to_json(script));
    static const char *const tags[] = {"a"};
    const struct app_worker workers[] = {
        {.name = "a", .free_mem = 1 << 30, .total_mem = 2u << 30, .tags = tags, .tag_count = 1},
        {.name = "b", .in_flight = 3},
        {.name = "w1", .free_mem = 1 << 20, .total_mem = 1 << 30, .excluded = true},
    };
    long chosen =
        app_select(script, "a", 64 << 20, workers, 3, (uint64_t)len * 7919, detail, sizeof(detail));
    if (chosen < -1 || chosen >= 3)
        abort();
    app_release(script);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char detail[256];
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0:
        fuzz_multipart("multipart/form-data; boundary=xyz", rest, len);
        break;
    case 1: {
        const uint8_t *eol = memchr(rest, '\n', len);
        size_t ct_len = eol ? (size_t)(eol - rest) : len;
        char *ct = strndup((const char *)rest, ct_len);
        fuzz_multipart(ct, eol ? eol + 1 : rest + len, eol ? len - ct_len - 1 : 0);
        free(ct);
        break;
    }
    case 2: {
        struct fn_meta meta;
        if (meta_parse((const char *)rest, len, &meta, detail, sizeof(detail)) == FL_OK)
            free(meta_to_json(&meta));
        break;
    }
    default:
        fuzz_app((const char *)rest, len);
        break;
    }
    return 0;
}
