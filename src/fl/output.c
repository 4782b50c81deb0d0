/*
 * output — how fl prints what the Core answered: aligned tables for people,
 * the reply's JSON for scripts (-o json), bare names for shell loops (-q).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl/fl.h"

/* A field as table text (caller frees). */
static char *cell_text(const cJSON *v)
{
    char buf[64];
    if (!v || cJSON_IsNull(v))
        return strdup("-");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsBool(v))
        return strdup(cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) {
        snprintf(buf, sizeof(buf), "%lld", (long long)v->valuedouble);
        return strdup(buf);
    }
    return cJSON_PrintUnformatted(v);
}

/* One line: easy to read back with any JSON tool, and short for the usual small replies. */
static void print_json(const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    puts(text ? text : "null");
    free(text);
}

static void print_upper(const char *name, int width)
{
    int n = 0;
    for (; name[n]; n++)
        putchar(toupper((unsigned char)name[n]));
    if (width > n)
        printf("%*s", width - n, "");
}

void fl_print_json(const cJSON *value)
{
    print_json(value);
}

void fl_print_list(const struct fl_ctx *ctx, const cJSON *list, const char *const *columns)
{
    if (ctx->output == FL_OUT_JSON) {
        print_json(list);
        return;
    }
    if (ctx->output == FL_OUT_QUIET) {
        const cJSON *item;
        cJSON_ArrayForEach(item, list)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, columns[0]);
            if (cJSON_IsString(name))
                puts(name->valuestring);
        }
        return;
    }
    size_t ncol = 0;
    int width[16] = {0};
    for (; columns[ncol] && ncol < 16; ncol++)
        width[ncol] = (int)strlen(columns[ncol]);
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        for (size_t c = 0; c < ncol; c++) {
            char *text = cell_text(cJSON_GetObjectItemCaseSensitive(item, columns[c]));
            if ((int)strlen(text) > width[c])
                width[c] = (int)strlen(text);
            free(text);
        }
    }
    for (size_t c = 0; c < ncol; c++)
        print_upper(columns[c], c + 1 < ncol ? width[c] + 2 : 0);
    putchar('\n');
    cJSON_ArrayForEach(item, list)
    {
        for (size_t c = 0; c < ncol; c++) {
            char *text = cell_text(cJSON_GetObjectItemCaseSensitive(item, columns[c]));
            printf("%-*s", c + 1 < ncol ? width[c] + 2 : 0, text);
            free(text);
        }
        putchar('\n');
    }
}

void fl_print_object(const struct fl_ctx *ctx, const cJSON *obj)
{
    if (ctx->output == FL_OUT_JSON) {
        print_json(obj);
        return;
    }
    if (ctx->output == FL_OUT_QUIET) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
        if (cJSON_IsString(name))
            puts(name->valuestring);
        return;
    }
    int width = 0;
    const cJSON *field;
    cJSON_ArrayForEach(field, obj)
    {
        if ((int)strlen(field->string) > width)
            width = (int)strlen(field->string);
    }
    cJSON_ArrayForEach(field, obj)
    {
        char *text = cell_text(field);
        printf("%-*s  %s\n", width, field->string, text);
        free(text);
    }
}

/* One call; on success prints `data` as a list of `columns` (columns NULL: as an object). */
int fl_call_print(struct fl_ctx *ctx, const struct fl_request *req, long want,
                  const char *const *columns, const char *list_key)
{
    struct fl_reply reply;
    int rc = fl_expect(ctx, req, want, &reply);
    if (rc != FLX_OK)
        return rc;
    cJSON *data = fl_reply_data(&reply);
    if (list_key && ctx->output != FL_OUT_JSON)
        data = cJSON_GetObjectItemCaseSensitive(data, list_key);
    if (columns)
        fl_print_list(ctx, data, columns);
    else
        fl_print_object(ctx, data);
    fl_reply_free(&reply);
    return FLX_OK;
}

/* A call whose success has no body worth showing: a sentence for people. */
int fl_call_say(struct fl_ctx *ctx, const struct fl_request *req, long want, const char *sentence,
                const char *name)
{
    struct fl_reply reply;
    int rc = fl_expect(ctx, req, want, &reply);
    if (rc != FLX_OK)
        return rc;
    if (ctx->output == FL_OUT_TABLE)
        printf(sentence, name);
    else if (ctx->output == FL_OUT_JSON && fl_reply_data(&reply))
        fl_print_object(ctx, fl_reply_data(&reply));
    fl_reply_free(&reply);
    return FLX_OK;
}
