/*
 * status — the one table from error codes to HTTP statuses (docs/api.md).
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http/server.h"

static const int http_status_table[FL_ERR__COUNT] = {
    [FL_OK] = 200,
    [FL_ERR_NOMEM] = 500,
    [FL_ERR_IO] = 500,
    [FL_ERR_INVALID_ARG] = 500,
    [FL_ERR_NOT_WASM] = 422,
    [FL_ERR_INVALID_WASM] = 422,
    [FL_ERR_UNSUPPORTED] = 422,
    [FL_ERR_UNKNOWN_IMPORT] = 422,
    [FL_ERR_NO_ENTRY] = 422,
    [FL_ERR_MEMORY_LIMIT] = 422,
    [FL_ERR_COMPILE] = 500,
    [FL_ERR_FUNCTION] = 422,
    [FL_ERR_TRAP] = 500,
    [FL_ERR_TIMEOUT] = 504,
    [FL_ERR_BAD_OUTPUT] = 500,
    [FL_ERR_BAD_REQUEST] = 400,
    [FL_ERR_INVALID_NAME] = 422,
    [FL_ERR_NOT_FOUND] = 404,
    [FL_ERR_EXISTS] = 409,
    [FL_ERR_FORBIDDEN_OP] = 400,
    [FL_ERR_TOO_LARGE] = 413,
    [FL_ERR_UNAUTHORIZED] = 401,
    [FL_ERR_FORBIDDEN] = 403,
    [FL_ERR_METHOD] = 405,
    [FL_ERR_STORE] = 500,
    [FL_ERR_UNAVAILABLE] = 503,
    [FL_ERR_STORE_DOWN] = 503,
    [FL_ERR_STORE_FULL] = 507,
    [FL_ERR_BUSY] = 429,
    [FL_ERR_WORKER_LOST] = 502,
    [FL_ERR_CANCELLED] = 499, /* nginx's "client closed request": only metrics see it */
};

int http_status_of(enum fl_err err)
{
    if ((unsigned)err >= FL_ERR__COUNT || http_status_table[err] == 0)
        return 500;
    return http_status_table[err];
}

void http_error(struct http_response *res, enum fl_err err, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject();
    cJSON *errors = cJSON_AddObjectToObject(root, "errors");
    cJSON_AddStringToObject(errors, "detail", detail);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    res->status = http_status_of(err);
    res->content_type = "application/json";
    fl_buf_reset(&res->body);
    if (text)
        fl_buf_append(&res->body, text, strlen(text));
    free(text);
}
