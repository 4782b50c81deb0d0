#include "core/api/validate.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/http_out.h"

bool name_valid(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return n >= 1 && n <= FL_NAME_MAX;
}

static enum fl_err meta_number(const cJSON *obj, const char *key, uint32_t min, uint32_t max,
                               uint32_t *out, char *detail, size_t detail_len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return FL_OK;
    /* range first: converting an out-of-range double to an integer is undefined (found by fuzzing)
     */
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= min && d <= max) || d != (double)(uint32_t)d)
        return fl_fail(FL_ERR_INVALID_NAME, detail, detail_len,
                       "metadata.%s must be a whole number from %u to %u", key, min, max);
    *out = (uint32_t)d;
    return FL_OK;
}

/* metadata.http_allow: an array of allow-list entries (engine/http_out.h), kept joined by ','. */
static enum fl_err meta_http_allow(const cJSON *list, char out[META_HTTP_ALLOW_MAX + 1],
                                   char *detail, size_t detail_len)
{
    out[0] = '\0';
    if (!list || cJSON_IsNull(list))
        return FL_OK;
    size_t used = 0;
    const cJSON *entry;
    bool ok = cJSON_IsArray(list);
    for (entry = ok ? list->child : NULL; entry; entry = entry->next) {
        size_t n = cJSON_IsString(entry) ? strlen(entry->valuestring) : 0;
        if (!n || strchr(entry->valuestring, ',') || used + n + 1 > META_HTTP_ALLOW_MAX) {
            ok = false;
            break;
        }
        used += (size_t)snprintf(out + used, META_HTTP_ALLOW_MAX + 1 - used, "%s%s",
                                 used ? "," : "", entry->valuestring);
    }
    struct http_allow *parsed = NULL;
    char why[200];
    if (ok && http_allow_parse(out, &parsed, why, sizeof(why)) != FL_OK)
        ok = false;
    http_allow_free(parsed);
    if (!ok) {
        out[0] = '\0';
        return fl_fail(FL_ERR_INVALID_NAME, detail, detail_len,
                       "metadata.http_allow must be a list of hosts (host, host:port, *.domain, "
                       "an address or a network), %d characters in all at most",
                       META_HTTP_ALLOW_MAX);
    }
    return FL_OK;
}

enum fl_err meta_parse(const char *text, size_t len, struct fn_meta *out, char *detail,
                       size_t detail_len)
{
    *out = (struct fn_meta){.capacity_mb = META_DEFAULT_CAPACITY_MB,
                            .timeout_ms = META_DEFAULT_TIMEOUT_MS};
    if (!text || len == 0)
        return FL_OK;
    cJSON *obj = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "metadata is not a JSON object");
    }
    enum fl_err err = meta_number(obj, "capacity", 1, META_MAX_CAPACITY_MB, &out->capacity_mb,
                                  detail, detail_len);
    if (err == FL_OK)
        err = meta_number(obj, "timeout_ms", 1, META_MAX_TIMEOUT_MS, &out->timeout_ms, detail,
                          detail_len);
    const cJSON *tag = cJSON_GetObjectItemCaseSensitive(obj, "tag");
    if (err == FL_OK && tag && !cJSON_IsNull(tag)) {
        if (!cJSON_IsString(tag) || (tag->valuestring[0] && !name_valid(tag->valuestring)))
            err = fl_fail(FL_ERR_INVALID_NAME, detail, detail_len,
                          "metadata.tag must be a name (letters, digits, _; at most 160)");
        else
            snprintf(out->tag, sizeof(out->tag), "%s", tag->valuestring);
    }
    if (err == FL_OK)
        err = meta_http_allow(cJSON_GetObjectItemCaseSensitive(obj, "http_allow"), out->http_allow,
                              detail, detail_len);
    cJSON_Delete(obj);
    return err;
}

char *meta_to_json(const struct fn_meta *meta)
{
    cJSON *obj = cJSON_CreateObject();
    if (meta->tag[0])
        cJSON_AddStringToObject(obj, "tag", meta->tag);
    else
        cJSON_AddNullToObject(obj, "tag");
    cJSON_AddNumberToObject(obj, "capacity", meta->capacity_mb);
    cJSON_AddNumberToObject(obj, "timeout_ms", meta->timeout_ms);
    if (meta->http_allow[0]) {
        cJSON *list = cJSON_AddArrayToObject(obj, "http_allow");
        char copy[META_HTTP_ALLOW_MAX + 1], *save = NULL;
        snprintf(copy, sizeof(copy), "%s", meta->http_allow);
        for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(list, cJSON_CreateString(e));
    }
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return text;
}
