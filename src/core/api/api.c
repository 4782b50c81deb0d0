/*
 * api — routing, authentication, shared helpers, and the small routes
 * (root, health, metrics, subjects). Modules and functions: api_fn.c;
 * APP scripts: api_app.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "core/api/api_internal.h"
#include "common/util.h"
#include "core/api/validate.h"
#include "core/metrics.h"
#include "core/sinks/sinks.h"

enum access { ACCESS_PUBLIC, ACCESS_USER, ACCESS_ADMIN };

struct route_method {
    const char *method;
    route_fn fn;
    /* Runs on the server's event loop: reads memory only, or (invocations) never waits
     * (server.h). The others run on a thread of their own. */
    bool never_waits;
};

struct route {
    const char *pattern; /* segments; "*" matches one name */
    enum access access;
    struct route_method methods[4];
};

static void api_root(struct api *, const struct route_args *, const struct http_request *,
                     struct http_response *);
static void api_livez(struct api *, const struct route_args *, const struct http_request *,
                      struct http_response *);
static void api_readyz(struct api *, const struct route_args *, const struct http_request *,
                       struct http_response *);
static void api_metrics(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);

static void api_openapi(struct api *, const struct route_args *, const struct http_request *,
                        struct http_response *);

static const struct route api_routes[] = {
    {"/v1", ACCESS_PUBLIC, {{"GET", api_root, true}}},
    {"/v1/openapi.yaml", ACCESS_PUBLIC, {{"GET", api_openapi, true}}},
    {"/livez", ACCESS_PUBLIC, {{"GET", api_livez, true}}},
    {"/readyz", ACCESS_PUBLIC, {{"GET", api_readyz, false}}}, /* pings the store */
    {"/metrics", ACCESS_PUBLIC, {{"GET", api_metrics, true}}},
    {"/v1/fn", ACCESS_USER, {{"GET", api_modules_list, false}, {"POST", api_module_create, false}}},
    {"/v1/fn/*",
     ACCESS_USER,
     {{"GET", api_module_get, false},
      {"POST", api_function_create, false},
      {"PUT", api_module_rename, false},
      {"DELETE", api_module_delete, false}}},
    {"/v1/fn/*/access",
     ACCESS_USER,
     {{"GET", api_module_access_get, false}, {"PUT", api_module_access_put, false}}},
    {"/v1/fn/*/*/config",
     ACCESS_USER,
     {{"GET", api_function_config_get, false}, {"PUT", api_function_config_put, false}}},
    {"/v1/fn/*/*",
     ACCESS_USER,
     {{"GET", api_function_get, true},
      {"POST", api_function_invoke, true},
      {"PUT", api_function_update, false},
      {"DELETE", api_function_delete, false}}},
    {"/v1/scripts/app",
     ACCESS_USER,
     {{"GET", api_scripts_list, false}, {"POST", api_script_create, false}}},
    {"/v1/scripts/app/*",
     ACCESS_USER,
     {{"GET", api_script_get, false},
      {"PUT", api_script_update, false},
      {"DELETE", api_script_delete, false}}},
    {"/v1/app", ACCESS_USER, {{"GET", api_apps_list, false}, {"POST", api_app_create, false}}},
    {"/v1/app/*",
     ACCESS_USER,
     {{"GET", api_app_get, false},
      {"PUT", api_app_update, false},
      {"DELETE", api_script_delete, false}}},
    {"/v1/activations", ACCESS_USER, {{"GET", api_activations_list, false}}},
    {"/v1/activations/*", ACCESS_USER, {{"GET", api_activation_get, false}}},
    {"/v1/activations/*/logs", ACCESS_USER, {{"GET", api_activation_logs, false}}},
    {"/v1/admin/subjects",
     ACCESS_ADMIN,
     {{"GET", api_subjects_list, false}, {"POST", api_subject_create, false}}},
    {"/v1/admin/subjects/*",
     ACCESS_ADMIN,
     {{"GET", api_subject_get, false}, {"DELETE", api_subject_delete, false}}},
    {"/v1/admin/subjects/*/token", ACCESS_ADMIN, {{"POST", api_subject_rotate, false}}},
    {"/v1/admin/subjects/*/quota", ACCESS_ADMIN, {{"PUT", api_subject_quota, false}}},
    {"/v1/admin/workers",
     ACCESS_ADMIN,
     {{"GET", api_workers_list, true}, {"POST", api_worker_connect, false}}},
};

/* Metrics labels, one per route (parameters named as in docs/api.md). */
static const char *const api_route_labels[] = {
    "/v1/",
    "/v1/openapi.yaml",
    "/livez",
    "/readyz",
    "/metrics",
    "/v1/fn",
    "/v1/fn/{module}",
    "/v1/fn/{module}/access",
    "/v1/fn/{module}/{function}/config",
    "/v1/fn/{module}/{function}",
    "/v1/scripts/app",
    "/v1/scripts/app/{name}",
    "/v1/app",
    "/v1/app/{name}",
    "/v1/activations",
    "/v1/activations/{id}",
    "/v1/activations/{id}/logs",
    "/v1/admin/subjects",
    "/v1/admin/subjects/{name}",
    "/v1/admin/subjects/{name}/token",
    "/v1/admin/subjects/{name}/quota",
    "/v1/admin/workers",
};

_Static_assert(ARRAY_SIZE(api_route_labels) == ARRAY_SIZE(api_routes), "a label per route");

/* ---- helpers ---- */

void api_reply(struct http_response *res, int status, cJSON *data)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "data", data);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    res->status = status;
    res->content_type = "application/json";
    fl_buf_reset(&res->body);
    if (text)
        fl_buf_append(&res->body, text, strlen(text));
    free(text);
}

void api_no_content(struct http_response *res)
{
    res->status = 204;
    fl_buf_reset(&res->body);
}

void api_store_error(struct http_response *res, enum fl_err err, const char *what,
                     const char *detail)
{
    if (err == FL_ERR_STORE || err == FL_ERR_STORE_DOWN || err == FL_ERR_STORE_FULL ||
        err == FL_ERR_NOMEM || err == FL_ERR_IO) {
        metrics_store_error();
        fl_log(FL_LOG_ERROR, "store_error", "what=%s detail=%s", what, detail);
        /* the detail stays in the log: it can name the database's host or files */
        http_error(res, err, "%s: %s",
                   err == FL_ERR_STORE_DOWN   ? "the store cannot be reached, retry later"
                   : err == FL_ERR_STORE_FULL ? "the store's disk is full (deleting still works)"
                                              : "the store failed",
                   what);
        if (err == FL_ERR_STORE_DOWN)
            res->retry_after_s = 5;
        return;
    }
    http_error(res, err, "%s", detail);
}

/* A NUL in the text, raw or as the escape \u0000 in a string: cJSON's strings end at it, so
 * "ab\u0000cd" would be read as "ab". */
static bool api_json_has_nul(const char *text, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0')
            return true;
        if (!in_string) {
            in_string = text[i] == '"';
        } else if (text[i] == '"') {
            in_string = false;
        } else if (text[i] == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && len - i >= 6 && strncmp(text + i + 2, "0000", 4) == 0)
                return true;
            i++; /* the escaped character */
        }
    }
    return false;
}

cJSON *api_json_body(struct api *api, const struct http_request *req, struct http_response *res)
{
    if (req->body_len > api->max_json_bytes) {
        http_error(res, FL_ERR_TOO_LARGE, "JSON body larger than %zu bytes", api->max_json_bytes);
        return NULL;
    }
    const char *text = (const char *)req->body, *end = NULL;
    if (api_json_has_nul(text, req->body_len)) {
        http_error(res, FL_ERR_BAD_REQUEST, "the body holds a NUL character (\\u0000)");
        return NULL;
    }
    cJSON *json = req->body_len ? cJSON_ParseWithLengthOpts(text, req->body_len, &end, 0) : NULL;
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        http_error(res, FL_ERR_BAD_REQUEST, "the body must be a JSON object");
        return NULL;
    }
    size_t rest = (size_t)(end - text);
    while (rest < req->body_len && strchr(" \t\r\n", text[rest]))
        rest++;
    if (rest < req->body_len) {
        cJSON_Delete(json);
        http_error(res, FL_ERR_BAD_REQUEST, "data after the JSON object (at byte %zu)", rest);
        return NULL;
    }
    return json;
}

bool api_multipart_body(const struct http_request *req, struct http_response *res,
                        struct multipart *mp)
{
    char detail[200];
    if (multipart_parse(req->content_type, req->body, req->body_len, mp, detail, sizeof(detail)) !=
        FL_OK) {
        http_error(res, FL_ERR_BAD_REQUEST, "%s", detail);
        return false;
    }
    return true;
}

char *api_text_part(const struct multipart *mp, const char *name, bool required,
                    struct http_response *res)
{
    const struct multipart_part *part = multipart_get(mp, name);
    if (!part) {
        if (required)
            http_error(res, FL_ERR_BAD_REQUEST, "missing multipart field '%s'", name);
        return NULL;
    }
    char *text = malloc(part->len + 1);
    if (!text) {
        http_error(res, FL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(text, part->data, part->len);
    text[part->len] = '\0';
    return text;
}

bool api_check_name(const char *name, const char *what, struct http_response *res)
{
    if (name && name_valid(name))
        return true;
    /* the messages of FunLess's changesets (validate_required, _length, _format) */
    const char *message = !name || !*name              ? "can't be blank"
                          : strlen(name) > FL_NAME_MAX ? "should be at most 160 character(s)"
                                                       : "must contain only alphanumeric "
                                                         "characters and underscores";
    http_error_field(res, FL_ERR_INVALID_NAME, "name", message,
                     "invalid %s name: use 1 to 160 letters, digits or underscores", what);
    return false;
}

bool api_check_path_name(const char *name, const char *what, struct http_response *res)
{
    if (name && name_valid(name))
        return true;
    http_error(res, FL_ERR_NOT_FOUND,
               "%s %.200s not found (a name is 1 to 160 letters, digits or underscores)", what,
               name ? name : "");
    return false;
}

void api_now(char out[32])
{
    fl_format_now_s(out);
}

char *api_join_names(char **names, size_t count)
{
    struct fl_buf joined;
    fl_buf_init(&joined, SIZE_MAX);
    bool ok = fl_buf_append(&joined, "", 0);
    for (size_t i = 0; names && i < count; i++) {
        ok = ok && fl_buf_printf(&joined, "%s%s", i ? "," : "", names[i]);
        free(names[i]);
    }
    free(names);
    char *text = ok ? strndup(joined.data ? joined.data : "", joined.len) : NULL;
    fl_buf_deinit(&joined);
    return text;
}

/* ---- small routes ---- */

static void api_root(struct api *api, const struct route_args *args, const struct http_request *req,
                     struct http_response *res)
{
    (void)api, (void)args, (void)req;
    res->status = 200;
    res->content_type = "text/plain; charset=utf-8";
    fl_buf_printf(&res->body, "funless core is up\n");
}

extern const char api_openapi_yaml[]; /* docs/openapi.yaml, embedded by the build */

static void api_openapi(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    (void)api, (void)args, (void)req;
    res->status = 200;
    res->content_type = "application/yaml";
    fl_buf_reset(&res->body);
    fl_buf_append(&res->body, api_openapi_yaml, strlen(api_openapi_yaml));
}

static void api_livez(struct api *api, const struct route_args *args,
                      const struct http_request *req, struct http_response *res)
{
    (void)api, (void)args, (void)req;
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "status", "alive");
    api_reply(res, 200, data);
}

/* Ready: the store answers and at least one Worker is connected. */
static void api_readyz(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)args, (void)req;
    char detail[256];
    if (api->db->ops->ping(api->db, detail, sizeof(detail)) != FL_OK) {
        metrics_store_error();
        http_error(res, FL_ERR_UNAVAILABLE, "the store is unreachable");
        return;
    }
    if (cluster_connected(api->cluster) == 0) {
        http_error(res, FL_ERR_UNAVAILABLE, "no worker connected");
        return;
    }
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "status", "ready");
    api_reply(res, 200, data);
}

static void api_metrics(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    (void)args, (void)req;
    if (!api->metrics_enabled) {
        http_error(res, FL_ERR_NOT_FOUND, "metrics are turned off");
        return;
    }
    size_t modules;
    char **names = catalogue_modules(api->catalogue, "", true, RIGHTS_ALL, &modules);
    for (size_t i = 0; names && i < modules; i++)
        free(names[i]);
    free(names);
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    metrics_render(&res->body, catalogue_function_count(api->catalogue), modules);
    uint64_t written, dropped;
    activations_counts(api->activations, &written, &dropped);
    fl_buf_printf(&res->body,
                  "# HELP funless_core_activations_written_total Activation records written.\n"
                  "# TYPE funless_core_activations_written_total counter\n"
                  "funless_core_activations_written_total %llu\n"
                  "# HELP funless_core_activations_dropped_total Activation records dropped "
                  "(the store was behind or failed).\n"
                  "# TYPE funless_core_activations_dropped_total counter\n"
                  "funless_core_activations_dropped_total %llu\n",
                  (unsigned long long)written, (unsigned long long)dropped);
    fl_buf_printf(&res->body,
                  "# HELP funless_core_async_queue_depth Asynchronous calls accepted and not "
                  "ended.\n"
                  "# TYPE funless_core_async_queue_depth gauge\n"
                  "funless_core_async_queue_depth %llu\n"
                  "# HELP funless_core_async_retries_total Asynchronous calls retried after a "
                  "platform failure.\n"
                  "# TYPE funless_core_async_retries_total counter\n"
                  "funless_core_async_retries_total %llu\n",
                  (unsigned long long)async_depth(api->async),
                  (unsigned long long)async_retries(api->async));
    uint64_t delivered, failed, refused;
    sinks_counts(api->sinks, &delivered, &failed, &refused);
    fl_buf_printf(&res->body,
                  "# HELP funless_core_sink_sends_total Results sent to sinks, by how it ended.\n"
                  "# TYPE funless_core_sink_sends_total counter\n"
                  "funless_core_sink_sends_total{outcome=\"delivered\"} %llu\n"
                  "funless_core_sink_sends_total{outcome=\"failed\"} %llu\n"
                  "funless_core_sink_sends_total{outcome=\"refused\"} %llu\n",
                  (unsigned long long)delivered, (unsigned long long)failed,
                  (unsigned long long)refused);
}

cJSON *api_name_list(char **names, size_t count)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < count; i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", names[i]);
        cJSON_AddItemToArray(list, item);
        free(names[i]);
    }
    free(names);
    return list;
}

void api_workers_list(struct api *api, const struct route_args *args,
                      const struct http_request *req, struct http_response *res)
{
    (void)args, (void)req;
    api_reply(res, 200, cluster_workers_json(api->cluster));
}

void api_worker_connect(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    (void)args;
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return;
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(body, "address");
    if (!cJSON_IsString(address))
        http_error(res, FL_ERR_BAD_REQUEST, "expected {\"address\":\"host:port\"}");
    else if (cluster_add_worker(api->cluster, address->valuestring) != FL_OK)
        http_error(res, FL_ERR_INVALID_NAME, "invalid worker address (use host:port)");
    else {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "address", address->valuestring);
        api_reply(res, 201, data);
    }
    cJSON_Delete(body);
}

/* ---- routing ---- */

enum { ROUTE_MAX_SEGMENTS = 6 };

/* Splits "/a/b/c/" in place into at most `max` segments; -1 when there are more. */
static int api_split(char *path, char **segs, int max)
{
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(path, "/", &save); tok;
         tok = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        segs[n++] = tok;
    }
    return n;
}

/* Route patterns, split once. */
static struct {
    pthread_once_t once;
    char text[ARRAY_SIZE(api_routes)][64];
    char *segs[ARRAY_SIZE(api_routes)][ROUTE_MAX_SEGMENTS];
    int count[ARRAY_SIZE(api_routes)];
} api_patterns = {.once = PTHREAD_ONCE_INIT};

static void api_split_patterns(void)
{
    for (size_t r = 0; r < ARRAY_SIZE(api_routes); r++) {
        snprintf(api_patterns.text[r], sizeof(api_patterns.text[r]), "%s", api_routes[r].pattern);
        api_patterns.count[r] =
            api_split(api_patterns.text[r], api_patterns.segs[r], ROUTE_MAX_SEGMENTS);
    }
}

static const struct route *api_match(const char *url, struct route_args *args, char *copy,
                                     size_t copy_len, size_t *index)
{
    char *segs[ROUTE_MAX_SEGMENTS];
    pthread_once(&api_patterns.once, api_split_patterns);
    snprintf(copy, copy_len, "%s", url);
    int n = api_split(copy, segs, ROUTE_MAX_SEGMENTS);
    for (size_t r = 0; n >= 0 && r < ARRAY_SIZE(api_routes); r++) {
        if (api_patterns.count[r] != n)
            continue;
        args->count = 0;
        bool ok = true;
        for (int i = 0; ok && i < n; i++) {
            const char *pattern = api_patterns.segs[r][i];
            if (pattern[0] == '*' && pattern[1] == '\0')
                args->param[args->count++] = segs[i];
            else
                ok = strcmp(pattern, segs[i]) == 0;
        }
        if (ok) {
            *index = r;
            return &api_routes[r];
        }
    }
    return NULL;
}

static const char *api_bearer(const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    return authorization + 7;
}

static bool api_authorize(struct api *api, enum access access, const struct http_request *req,
                          struct http_response *res, struct auth_identity *who)
{
    if (access == ACCESS_PUBLIC)
        return true;
    *who = auth_check(api->auth, api_bearer(req->authorization));
    if (who->role == AUTH_NONE) {
        http_error(res, FL_ERR_UNAUTHORIZED, "missing or unknown token");
        return false;
    }
    if (access == ACCESS_ADMIN && who->role != AUTH_ADMIN) {
        http_error(res, FL_ERR_FORBIDDEN, "this route needs an admin token");
        return false;
    }
    return true;
}

static void api_method_not_allowed(const struct route *route, struct http_response *res)
{
    static __thread char allow[64];
    allow[0] = '\0';
    for (int i = 0; i < 4 && route->methods[i].method; i++)
        snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", i ? ", " : "",
                 route->methods[i].method);
    res->allow = allow;
    http_error(res, FL_ERR_METHOD, "method not allowed here (allowed: %s)", allow);
}

/* The route and method of `req`, with the token checked (unless the server's admit step did);
 * NULL with the answer in `res`. */
static const struct route_method *api_resolve(struct api *api, const struct http_request *req,
                                              struct http_response *res, struct route_args *args,
                                              char *copy, size_t copy_len)
{
    size_t index = 0;
    const struct route *route =
        strlen(req->url) < copy_len ? api_match(req->url, args, copy, copy_len, &index) : NULL;
    if (!route) {
        res->route = "unknown";
        http_error(res, FL_ERR_NOT_FOUND, "no such route: %s %.200s", req->method, req->url);
        return NULL;
    }
    res->route = api_route_labels[index];
    const struct route_method *m = NULL;
    for (int i = 0; i < 4 && route->methods[i].method; i++)
        if (strcmp(route->methods[i].method, req->method) == 0)
            m = &route->methods[i];
    if (!m) {
        api_method_not_allowed(route, res);
        return NULL;
    }
    if (!api_authorize(api, route->access, req, res, &args->who))
        return NULL;
    return m;
}

/* What the admit step resolved, for the handler: routing and the token check happen once per
 * request. */
struct api_routed {
    const struct route_method *method;
    struct route_args args; /* point into `path` */
    char path[];
};

bool api_admit(void *arg, struct http_request *req, struct http_response *res)
{
    size_t len = strlen(req->url) + 1;
    struct api_routed *routed = malloc(sizeof(*routed) + (len < 1024 ? len : 1024));
    if (!routed) {
        http_error(res, FL_ERR_NOMEM, "out of memory");
        return false;
    }
    routed->args = (struct route_args){0};
    routed->method =
        api_resolve(arg, req, res, &routed->args, routed->path, len < 1024 ? len : 1024);
    if (!routed->method) {
        free(routed);
        return false;
    }
    req->routed = routed;
    return true;
}

void api_handle(void *arg, const struct http_request *req, struct http_response *res)
{
    struct api *api = arg;
    const struct api_routed *routed = req->routed;
    if (!routed) { /* api_admit is the server's admit step: it resolved every request */
        http_error(res, FL_ERR_INVALID_ARG, "request not routed");
        return;
    }
    const struct route_method *m = routed->method;
    if (!m->never_waits && !req->may_block)
        res->status = HTTP_RUN_BLOCKING; /* the store, pushes: not on the event loop */
    else
        m->fn(api, &routed->args, req, res);
}
