/*
 * api_activations — the invocations' records (docs/activations.md): one by id, its logs, and
 * lists filtered by module, function and status, newest first, paged with a cursor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "core/api/api_internal.h"
#include "core/api/validate.h"

enum { LIST_DEFAULT = 50, LIST_MAX = 1000 };

static const char *const activation_statuses[] = {
    "queued", "running", "success", "error", "trap", "timeout", "unavailable", "busy", "lost",
};

static bool activation_id_valid(const char *id)
{
    return id && strlen(id) == ACTIVATION_ID_CHARS &&
           strspn(id, "0123456789abcdef") == ACTIVATION_ID_CHARS;
}

/* A stored JSON text as JSON (NULL when empty or unreadable). */
static cJSON *stored_json(const char *text)
{
    return text && text[0] ? cJSON_Parse(text) : NULL;
}

/* The record as the API shows it; `whole` adds the result and the logs. */
static cJSON *activation_json(const struct db_activation *r, bool whole)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "module", r->module);
    cJSON_AddStringToObject(o, "function", r->function);
    cJSON_AddStringToObject(o, "hash", r->hash);
    cJSON_AddStringToObject(o, "trigger", r->trigger);
    cJSON_AddStringToObject(o, "status", r->status);
    cJSON_AddNumberToObject(o, "http_status", atoi(r->http_status));
    cJSON_AddStringToObject(o, "worker", r->worker);
    cJSON_AddStringToObject(o, "start", r->start);
    cJSON_AddNumberToObject(o, "duration_ms", strtod(r->duration_ms, NULL));
    cJSON_AddNumberToObject(o, "attempts", atoi(r->attempts));
    if (r->error[0])
        cJSON_AddStringToObject(o, "error", r->error);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON *sinks = stored_json(r->sinks);
    if (sinks) /* the function has sinks, and this call's result has been sent (docs/sinks.md) */
        cJSON_AddItemToObject(o, "sinks", sinks);
    if (!whole)
        return o;
    cJSON *result = stored_json(r->result);
    cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "result_truncated", strcmp(r->result_truncated, "1") == 0);
    cJSON *logs = stored_json(r->logs);
    cJSON_AddItemToObject(o, "logs", logs ? logs : cJSON_CreateArray());
    cJSON_AddBoolToObject(o, "logs_truncated", strcmp(r->logs_truncated, "1") == 0);
    return o;
}

struct collect {
    cJSON *list;
    bool whole;
};

static void collect_row(void *arg, const struct db_activation *row)
{
    struct collect *c = arg;
    cJSON_AddItemToArray(c->list, activation_json(row, c->whole));
}

/* Runs `query` after the records handed over so far are written; answers a store error. */
static bool activations_read(struct api *api, const struct db_activation_query *query,
                             struct collect *c, struct http_response *res)
{
    char detail[256];
    enum fl_err err =
        api->activations ? activations_sync(api->activations, detail, sizeof(detail)) : FL_OK;
    if (err == FL_OK)
        err =
            api->db->ops->activation_query(api->db, query, collect_row, c, detail, sizeof(detail));
    if (err != FL_OK)
        api_store_error(res, err, "read activations", detail);
    return err == FL_OK;
}

/* The record `id` (404 when unknown, or of a module the caller may not read); NULL after
 * answering. */
static cJSON *activation_find(struct api *api, const struct route_args *args, const char *id,
                              struct http_response *res)
{
    if (!activation_id_valid(id)) {
        http_error(res, FL_ERR_NOT_FOUND, "activation %.40s not found", id);
        return NULL;
    }
    struct collect c = {cJSON_CreateArray(), true};
    struct db_activation_query query = {.id = id, .limit = 1};
    if (!activations_read(api, &query, &c, res)) {
        cJSON_Delete(c.list);
        return NULL;
    }
    cJSON *record = cJSON_DetachItemFromArray(c.list, 0);
    cJSON_Delete(c.list);
    const cJSON *module = cJSON_GetObjectItemCaseSensitive(record, "module");
    if (record && !api_is_admin(args) &&
        !(catalogue_rights(api->catalogue, cJSON_GetStringValue(module), args->who.subject, false) &
          RIGHT_READ)) { /* records belong to their module's readers: no existence leak */
        cJSON_Delete(record);
        record = NULL;
    }
    if (!record)
        http_error(res, FL_ERR_NOT_FOUND, "activation %s not found", id);
    return record;
}

void api_activation_get(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    (void)req;
    cJSON *record = activation_find(api, args, args->param[0], res);
    if (record)
        api_reply(res, 200, record);
}

void api_activation_logs(struct api *api, const struct route_args *args,
                         const struct http_request *req, struct http_response *res)
{
    (void)req;
    cJSON *record = activation_find(api, args, args->param[0], res);
    if (!record)
        return;
    res->status = 200;
    res->content_type = "text/plain; charset=utf-8";
    fl_buf_reset(&res->body);
    const cJSON *line;
    cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(record, "logs"))
    {
        if (cJSON_IsString(line))
            fl_buf_printf(&res->body, "%s\n", line->valuestring);
    }
    cJSON_Delete(record);
}

/* The list's parameters; false after answering 400. */
static bool list_query(const struct http_request *req, struct db_activation_query *q,
                       struct http_response *res)
{
    *q = (struct db_activation_query){
        .module = http_query(req, "module"),
        .function = http_query(req, "function"),
        .status = http_query(req, "status"),
        .before = http_query(req, "before"),
        .limit = LIST_DEFAULT,
    };
    const char *limit = http_query(req, "limit");
    if (limit) {
        size_t digits = strspn(limit, "0123456789");
        unsigned long n = digits && !limit[digits] && digits <= 4 ? strtoul(limit, NULL, 10) : 0;
        if (n < 1 || n > LIST_MAX) {
            http_error(res, FL_ERR_BAD_REQUEST, "limit must be a whole number from 1 to %d",
                       LIST_MAX);
            return false;
        }
        q->limit = (unsigned)n;
    }
    if ((q->module && !name_valid(q->module)) || (q->function && !name_valid(q->function))) {
        http_error(res, FL_ERR_BAD_REQUEST, "module and function must be valid names");
        return false;
    }
    bool known = !q->status;
    for (size_t i = 0; !known && i < ARRAY_SIZE(activation_statuses); i++)
        known = strcmp(q->status, activation_statuses[i]) == 0;
    if (!known) {
        http_error(res, FL_ERR_BAD_REQUEST,
                   "status must be one of queued, running, success, error, trap, timeout, "
                   "unavailable, busy, lost");
        return false;
    }
    if (q->before && !activation_id_valid(q->before)) {
        http_error(res, FL_ERR_BAD_REQUEST, "before must be an activation id");
        return false;
    }
    return true;
}

/* The modules whose records the caller may read, joined by ',' for the query (caller frees;
 * "," when none). */
static char *readable_modules(struct api *api, const struct route_args *args)
{
    size_t count;
    char **names = catalogue_modules(api->catalogue, args->who.subject, false, RIGHT_READ, &count);
    char *joined = api_join_names(names, count);
    if (joined && !*joined) { /* "" would mean any module */
        free(joined);
        joined = strdup(",");
    }
    return joined;
}

void api_activations_list(struct api *api, const struct route_args *args,
                          const struct http_request *req, struct http_response *res)
{
    struct db_activation_query q;
    if (!list_query(req, &q, res))
        return;
    if (q.module && !api_module_allowed(api, args, q.module, RIGHT_READ, res))
        return;
    char *modules = NULL; /* a subject reads the records of the modules it may read */
    if (!api_is_admin(args) && !q.module) {
        if (!(modules = readable_modules(api, args))) {
            http_error(res, FL_ERR_NOMEM, "out of memory");
            return;
        }
        q.modules = modules;
    }
    if (q.before) { /* a cursor must name a record that exists */
        struct collect probe = {cJSON_CreateArray(), false};
        struct db_activation_query one = {.id = q.before, .modules = modules, .limit = 1};
        bool read = activations_read(api, &one, &probe, res);
        bool found = read && cJSON_GetArraySize(probe.list) == 1;
        cJSON_Delete(probe.list);
        if (!read || !found) {
            if (read)
                http_error(res, FL_ERR_BAD_REQUEST, "before names no activation");
            free(modules);
            return;
        }
    }
    struct collect c = {cJSON_CreateArray(), false};
    if (activations_read(api, &q, &c, res))
        api_reply(res, 200, c.list);
    else
        cJSON_Delete(c.list);
    free(modules);
}
