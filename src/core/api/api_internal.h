/*
 * api_internal — what the API's handler files share (not for other components).
 */
#ifndef FL_CORE_API_INTERNAL_H
#define FL_CORE_API_INTERNAL_H

#include <cjson/cJSON.h>

#include "core/api/api.h"
#include "core/http/multipart.h"

/* Path parameters of the matched route ({module}, {function}, {name}), and who asks. */
struct route_args {
    char *param[2];
    int count;
    struct auth_identity who; /* AUTH_NONE on public routes */
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
/* A name given in a body: 422 in FunLess's changeset shape ({"errors":{"name":[...]}}) unless
 * it is valid; `what` names it in the reason. */
bool api_check_name(const char *name, const char *what, struct http_response *res);
/* A name in the path: 404 unless it is valid (no such thing can exist, as FunLess answers). */
bool api_check_path_name(const char *name, const char *what, struct http_response *res);
/* [{"name":...}] from a name array, which it frees (strings and array). */
cJSON *api_name_list(char **names, size_t count);
/* Names joined by ',' ("" for none; NULL when out of memory); frees the array and its strings,
 * as api_name_list does. */
char *api_join_names(char **names, size_t count);
/* ISO-8601 UTC now. */
void api_now(char out[32]);

/* The caller's access to `module` (docs/tenants.md): true when it has `needed` (RIGHT_*); else
 * 404 when it has no right at all (someone else's private module does not exist for it), 403
 * when it has some but not this one. Answers 422 for a bad name. */
bool api_module_allowed(struct api *api, const struct route_args *args, const char *module,
                        unsigned needed, struct http_response *res);
/* The definition of {module}/{function} from the catalogue when the caller has `needed`
 * (RIGHT_*) on its module; else 404 (a name that cannot be, no such function, or no right at
 * all on its module) or 403 answered. */
bool api_function_lookup(struct api *api, const struct route_args *args, unsigned needed,
                         struct http_response *res, struct fn_def *def);
/* Whether the caller is an admin. */
static inline bool api_is_admin(const struct route_args *args)
{
    return args->who.role == AUTH_ADMIN;
}

/* A stored function's configuration and sealed secrets into the catalogue (its environment and
 * what GETs show); logs and skips secrets the key cannot open. */
void api_load_env(struct api *api, const char *module, const char *name, const char *config,
                  const char *secrets);
/* A module's stored access list into the catalogue (logged and left empty when unreadable). */
void api_load_access(struct api *api, const char *module, const char *stored);
/* Every subject's own quota into api->quotas. */
enum fl_err api_load_quotas(struct api *api, char *detail, size_t detail_len);

/* Quota checks of an upload charged to `owner` (a function's creator): `added_bytes` more code
 * and `new_function`; answers 403 itself when past a limit. */
bool api_upload_quota(struct api *api, const char *owner, uint64_t added_bytes, bool new_function,
                      struct http_response *res);
/* An invocation by the caller against its quota (admins have none): true when it may run
 * (`*counted`: give its place back with quota_release); else 429 answered, Retry-After set. */
bool api_invoke_quota(struct api *api, const struct route_args *args, bool concurrent,
                      bool *counted, struct http_response *res);

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
void api_module_access_get(struct api *, const struct route_args *, const struct http_request *,
                           struct http_response *);
void api_module_access_put(struct api *, const struct route_args *, const struct http_request *,
                           struct http_response *);
void api_function_config_get(struct api *, const struct route_args *, const struct http_request *,
                             struct http_response *);
void api_function_config_put(struct api *, const struct route_args *, const struct http_request *,
                             struct http_response *);
void api_subjects_list(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_subject_create(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);
void api_subject_get(struct api *, const struct route_args *, const struct http_request *,
                     struct http_response *);
void api_subject_delete(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);
void api_subject_rotate(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);
void api_subject_quota(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_scripts_list(struct api *, const struct route_args *, const struct http_request *,
                      struct http_response *);
void api_script_create(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_script_get(struct api *, const struct route_args *, const struct http_request *,
                    struct http_response *);
void api_script_update(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
void api_apps_list(struct api *, const struct route_args *, const struct http_request *,
                   struct http_response *);
void api_app_create(struct api *, const struct route_args *, const struct http_request *,
                    struct http_response *);
void api_app_get(struct api *, const struct route_args *, const struct http_request *,
                 struct http_response *);
void api_app_update(struct api *, const struct route_args *, const struct http_request *,
                    struct http_response *);
void api_script_delete(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);

#endif
