/*
 * api_internal — what the API's handler files share (not for other components).
 */
#ifndef FL_CORE_API_INTERNAL_H
#define FL_CORE_API_INTERNAL_H

#include <cjson/cJSON.h>

#include "core/api/api.h"
#include "core/http/multipart.h"

/* Path parameters of the matched route ({module}, {function}, {name}). */
struct route_args {
    char *param[2];
    int count;
};

typedef void (*route_fn)(struct api *api, const struct route_args *args,
                         const struct http_request *req, struct http_response *res);

/* {"data": data} with `status`; takes ownership of `data`. */
void api_reply(struct http_response *res, int status, cJSON *data);
/* 204, no body. */
void api_no_content(struct http_response *res);
/* An error from the store: counted in the metrics, then answered by the error table. */
void api_store_error(struct http_response *res, enum fl_err err, const char *what,
                     const char *detail);
/* Parses a JSON body into an object; answers 400/413 itself and returns NULL on failure. */
cJSON *api_json_body(struct api *api, const struct http_request *req, struct http_response *res);
/* Parses a multipart body; answers 400 itself and returns false on failure. */
bool api_multipart_body(const struct http_request *req, struct http_response *res,
                        struct multipart *mp);
/* A required text part as a NUL-terminated copy (caller frees); answers 400 when missing. */
char *api_text_part(const struct multipart *mp, const char *name, bool required,
                    struct http_response *res);
/* 422 unless `name` is valid; `what` names it in the message. */
bool api_check_name(const char *name, const char *what, struct http_response *res);
/* [{"name":...}] from a name array, which it frees (strings and array). */
cJSON *api_name_list(char **names, size_t count);
/* ISO-8601 UTC now. */
void api_now(char out[32]);

/* Loads the stored APP scripts into api->scripts (api_app.c; a script the parser now
 * refuses is logged and skipped). */
enum fl_err api_load_scripts(struct api *api, char *detail, size_t detail_len);

/* Handlers, by file. */
void api_modules_list(struct api *, const struct route_args *, const struct http_request *,
                      struct http_response *);
void api_module_create(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_module_get(struct api *, const struct route_args *, const struct http_request *,
                    struct http_response *);
void api_module_rename(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_module_delete(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_function_create(struct api *, const struct route_args *, const struct http_request *,
                         struct http_response *);
void api_function_get(struct api *, const struct route_args *, const struct http_request *,
                      struct http_response *);
void api_function_update(struct api *, const struct route_args *, const struct http_request *,
                         struct http_response *);
void api_function_delete(struct api *, const struct route_args *, const struct http_request *,
                         struct http_response *);
void api_function_invoke(struct api *, const struct route_args *, const struct http_request *,
                         struct http_response *);
void api_workers_list(struct api *, const struct route_args *, const struct http_request *,
                      struct http_response *);
void api_worker_connect(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);
void api_activations_list(struct api *, const struct route_args *, const struct http_request *,
                          struct http_response *);
void api_activation_get(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);
void api_activation_logs(struct api *, const struct route_args *, const struct http_request *,
                         struct http_response *);
void api_scripts_list(struct api *, const struct route_args *, const struct http_request *,
                      struct http_response *);
void api_script_create(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_script_get(struct api *, const struct route_args *, const struct http_request *,
                    struct http_response *);
void api_script_update(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_script_delete(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);

#endif
