/*
 * status — the one table from error codes to HTTP statuses, and the error bodies (docs/api.md):
 * FunLess's `errors.detail` (Phoenix's phrase for the status, as FunLess's ErrorJSON renders
 * it) with our own sentence beside it in `errors.reason`.
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
    [FL_ERR_METHOD] = 404, /* Phoenix has no route for another method: 404, as FunLess */
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

/* Phoenix's reason phrases for the statuses we answer (Plug.Conn.Status). */
static const char *http_phrase(int status)
{
    static const struct {
        int status;
        const char *phrase;
    } phrases[] = {
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {409, "Conflict"},
        {413, "Request Entity Too Large"},
        {422, "Unprocessable Entity"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {507, "Insufficient Storage"},
    };
    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
        if (phrases[i].status == status)
            return phrases[i].phrase;
    return "Error";
}

/* {"errors":{<field>:[<message>] or "detail":<detail>, "reason":<reason>}} with `err`'s status. */
static void http_error_body(struct http_response *res, enum fl_err err, const char *field,
                            const char *message, const char *detail, const char *reason)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *errors = cJSON_AddObjectToObject(root, "errors");
    res->status = http_status_of(err);
    if (field)
        cJSON_AddItemToArray(cJSON_AddArrayToObject(errors, field), cJSON_CreateString(message));
    else
        cJSON_AddStringToObject(errors, "detail", detail ? detail : http_phrase(res->status));
    cJSON_AddStringToObject(errors, "reason", reason);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    res->content_type = "application/json";
    fl_buf_reset(&res->body);
    if (text)
        fl_buf_append(&res->body, text, strlen(text));
    free(text);
}

#define HTTP_REASON(fmt)                                                                           \
    char reason[512];                                                                              \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    vsnprintf(reason, sizeof(reason), fmt, ap);                                                    \
    va_end(ap)

void http_error(struct http_response *res, enum fl_err err, const char *fmt, ...)
{
    HTTP_REASON(fmt);
    http_error_body(res, err, NULL, NULL, NULL, reason);
}

void http_error_detail(struct http_response *res, enum fl_err err, const char *detail,
                       const char *fmt, ...)
{
    HTTP_REASON(fmt);
    http_error_body(res, err, NULL, NULL, detail, reason);
}

void http_error_field(struct http_response *res, enum fl_err err, const char *field,
                      const char *message, const char *fmt, ...)
{
    HTTP_REASON(fmt);
    http_error_body(res, err, field, message, NULL, reason);
}
