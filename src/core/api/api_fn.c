/*
 * api_fn — modules and functions: the store is written first (one
 * transaction), then the catalogue follows; reads come from the catalogue.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/util.h"
#include "core/api/api_internal.h"
#include "core/api/validate.h"
#include "core/async.h"
#include "core/elements.h"
#include "core/sinks/sinks.h"
#include "core/triggers/triggers.h"
#include "core/cluster/invocation.h"
#include "engine/engine.h"

#define DEFAULT_MODULE "_"

/* ---- loading ---- */

static void api_load_module(void *arg, const struct db_module *row)
{
    struct api *api = arg;
    catalogue_add_module(api->catalogue, row->name, row->owner);
    api_load_access(api, row->name, row->access);
}

static void api_load_function(void *arg, const struct db_function *row)
{
    struct api *api = arg;
    struct fn_def def = {.size = row->size};
    char detail[128];
    snprintf(def.module, sizeof(def.module), "%s", row->module);
    snprintf(def.name, sizeof(def.name), "%s", row->name);
    snprintf(def.hash, sizeof(def.hash), "%s", row->hash);
    snprintf(def.created_at, sizeof(def.created_at), "%s", row->created_at);
    snprintf(def.updated_at, sizeof(def.updated_at), "%s", row->updated_at);
    snprintf(def.owner, sizeof(def.owner), "%s", row->owner ? row->owner : "");
    meta_parse(row->metadata, strlen(row->metadata), &def.meta, detail, sizeof(detail));
    catalogue_put(api->catalogue, &def, NULL);
    api_load_env(api, def.module, def.name, row->config, row->secrets);
}

enum fl_err api_load(struct api *api, char *detail, size_t detail_len)
{
    char now[32];
    api_now(now);
    /* `_` is shared by everyone (no owner), as FunLess's only module is */
    enum fl_err err = db_module_create(api->db, DEFAULT_MODULE, "", now, detail, detail_len);
    if (err != FL_OK && err != FL_ERR_EXISTS)
        return err;
    err = db_module_list(api->db, api_load_module, api, detail, detail_len);
    if (err == FL_OK)
        err = api->db->ops->function_list(api->db, api_load_function, api, detail, detail_len);
    if (err == FL_OK)
        err = api_load_scripts(api, detail, detail_len);
    if (err == FL_OK)
        err = api_load_quotas(api, detail, detail_len);
    return err;
}

/* ---- modules ---- */

/* A function with events or sinks, as the store holds it (read first: the store's lock is held
 * while it lists, and restoring queries it again). */
struct stored_extras {
    struct stored_extras *next;
    char module[FL_NAME_MAX + 1], name[FL_NAME_MAX + 1];
    char *events, *sinks;
};

static void api_collect_extras(void *arg, const struct db_function *row)
{
    struct stored_extras **list = arg;
    bool events = row->events && strcmp(row->events, "[]") != 0;
    bool sinks = row->sinks && strcmp(row->sinks, "[]") != 0;
    struct stored_extras *e = events || sinks ? calloc(1, sizeof(*e)) : NULL;
    if (!e)
        return;
    snprintf(e->module, sizeof(e->module), "%s", row->module);
    snprintf(e->name, sizeof(e->name), "%s", row->name);
    e->events = events ? strdup(row->events) : NULL;
    e->sinks = sinks ? strdup(row->sinks) : NULL;
    e->next = *list;
    *list = e;
}

static void api_newest_cron(void *arg, const struct db_activation *row)
{
    int64_t *last = arg;
    int64_t start = strtoll(row->start_ms, NULL, 10);
    if (strcmp(row->trigger, "cron") == 0 && start > *last)
        *last = start;
}

/* When its cron events last fired, as its recent records tell (0: not among them). */
static int64_t api_last_cron_fire(struct api *api, const char *module, const char *name)
{
    int64_t last = 0;
    struct db_activation_query q = {.module = module, .function = name, .limit = 100};
    char detail[256];
    api->db->ops->activation_query(api->db, &q, api_newest_cron, &last, detail, sizeof(detail));
    return last;
}

enum fl_err api_load_triggers(struct api *api, char *detail, size_t detail_len)
{
    struct stored_extras *list = NULL;
    enum fl_err err =
        api->db->ops->function_list(api->db, api_collect_extras, &list, detail, detail_len);
    while (list) {
        struct stored_extras *e = list;
        list = e->next;
        if (err == FL_OK && e->events)
            triggers_restore(api->triggers, e->module, e->name, e->events,
                             api_last_cron_fire(api, e->module, e->name));
        if (err == FL_OK && e->sinks && api->sinks)
            sinks_set(api->sinks, e->module, e->name, e->sinks);
        free(e->events);
        free(e->sinks);
        free(e);
    }
    return err;
}

static cJSON *api_named(const char *name)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "name", name);
    return data;
}

void api_modules_list(struct api *api, const struct route_args *args,
                      const struct http_request *req, struct http_response *res)
{
    (void)req;
    size_t count;
    char **names = catalogue_modules(api->catalogue, args->who.subject, api_is_admin(args),
                                     RIGHTS_ALL, &count);
    api_reply(res, 200, api_name_list(names, count));
}

/* The `name` inside {"<object>":{"name":...}}, or NULL after answering 400/422. */
static const char *api_body_name(cJSON *body, const char *object, const char *what,
                                 struct http_response *res)
{
    const cJSON *name =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, object), "name");
    if (!cJSON_IsString(name)) {
        http_error(res, FL_ERR_BAD_REQUEST, "expected {\"%s\":{\"name\":...}}", object);
        return NULL;
    }
    return api_check_name(name->valuestring, what, res) ? name->valuestring : NULL;
}

void api_module_create(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    cJSON *body = api_json_body(api, req, res);
    const char *name = body ? api_body_name(body, "module", "module", res) : NULL;
    if (name) {
        char now[32], detail[256];
        api_now(now);
        /* its creator owns it: private until shared (docs/tenants.md) */
        enum fl_err err =
            db_module_create(api->db, name, args->who.subject, now, detail, sizeof(detail));
        if (err == FL_OK) {
            catalogue_add_module(api->catalogue, name, args->who.subject);
            api_reply(res, 201, api_named(name));
        } else if (err == FL_ERR_EXISTS) {
            /* 422 and the changeset's shape, as FunLess (a function's is 409) */
            http_error_field(res, FL_ERR_INVALID_NAME, "name", "has already been taken",
                             "module %s already exists", name);
        } else {
            api_store_error(res, err, "create module", detail);
        }
    }
    cJSON_Delete(body);
}

bool api_module_allowed(struct api *api, const struct route_args *args, const char *module,
                        unsigned needed, struct http_response *res)
{
    if (!api_check_path_name(module, "module", res))
        return false;
    unsigned rights =
        catalogue_rights(api->catalogue, module, args->who.subject, api_is_admin(args));
    if ((rights & needed) == needed)
        return true;
    if (rights == 0) /* unknown, or someone else's private module: the same answer */
        http_error(res, FL_ERR_NOT_FOUND, "module %s not found", module);
    else
        http_error(res, FL_ERR_FORBIDDEN, "you may not %s module %s",
                   needed & RIGHT_OWN      ? "rename, delete or share"
                   : needed & RIGHT_WRITE  ? "change functions in"
                   : needed & RIGHT_INVOKE ? "invoke functions of"
                                           : "read",
                   module);
    return false;
}

void api_module_get(struct api *api, const struct route_args *args, const struct http_request *req,
                    struct http_response *res)
{
    (void)req;
    const char *module = args->param[0];
    if (!api_module_allowed(api, args, module, RIGHT_READ, res))
        return;
    size_t count;
    char **names = catalogue_functions(api->catalogue, module, &count);
    cJSON *data = api_named(module);
    cJSON_AddItemToObject(data, "functions", api_name_list(names, count));
    api_reply(res, 200, data);
}

void api_module_rename(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    const char *module = args->param[0];
    if (!api_module_allowed(api, args, module, RIGHT_OWN, res))
        return;
    if (strcmp(module, DEFAULT_MODULE) == 0) {
        http_error(res, FL_ERR_FORBIDDEN_OP, "the default module _ cannot be renamed");
        return;
    }
    cJSON *body = api_json_body(api, req, res);
    const char *name = body ? api_body_name(body, "module", "module", res) : NULL;
    if (name) {
        char now[32], detail[256];
        api_now(now);
        enum fl_err err =
            api->db->ops->module_rename(api->db, module, name, now, detail, sizeof(detail));
        if (err == FL_OK) {
            catalogue_rename_module(api->catalogue, module, name);
            if (api->triggers)
                triggers_rename_module(api->triggers, module, name);
            if (api->sinks)
                sinks_rename_module(api->sinks, module, name);
            api_reply(res, 200, api_named(name));
        } else if (err == FL_ERR_EXISTS) {
            http_error_field(res, FL_ERR_INVALID_NAME, "name", "has already been taken",
                             "module %s already exists", name);
        } else if (err == FL_ERR_NOT_FOUND) {
            http_error(res, err, "module %s not found", module);
        } else {
            api_store_error(res, err, "rename module", detail);
        }
    }
    cJSON_Delete(body);
}

void api_module_delete(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)req;
    const char *module = args->param[0];
    if (!api_module_allowed(api, args, module, RIGHT_OWN, res))
        return;
    if (strcmp(module, DEFAULT_MODULE) == 0) {
        /* FunLess's own body for this one, with the usual errors beside it */
        res->status = http_status_of(FL_ERR_FORBIDDEN_OP);
        res->content_type = "application/json";
        fl_buf_reset(&res->body);
        fl_buf_printf(&res->body, "{\"error\":\"Cannot delete default module\",\"errors\":{"
                                  "\"detail\":\"Bad Request\",\"reason\":\"the default module _ "
                                  "cannot be deleted\"}}");
        return;
    }
    char detail[256];
    size_t count;
    char **functions = catalogue_functions(api->catalogue, module, &count);
    enum fl_err err = api->db->ops->module_delete(api->db, module, detail, sizeof(detail));
    if (err == FL_OK || err == FL_ERR_NOT_FOUND) {
        catalogue_remove_module(api->catalogue, module);
        if (api->triggers)
            triggers_rename_module(api->triggers, module, NULL);
        if (api->sinks)
            sinks_rename_module(api->sinks, module, NULL);
    }
    for (size_t i = 0; functions && i < count; i++) {
        if (err == FL_OK) /* the Workers drop the module's functions too */
            cluster_drop_code(api->cluster, module, functions[i], false, detail, sizeof(detail));
        free(functions[i]);
    }
    free(functions);
    if (err == FL_OK)
        api_no_content(res);
    else if (err == FL_ERR_NOT_FOUND)
        http_error(res, err, "module %s not found", module);
    else
        api_store_error(res, err, "delete module", detail);
}

/* ---- functions ---- */

/* What a create or update upload carries, checked. */
struct upload {
    bool wait_for_workers;
    char *name;
    struct multipart_part code; /* a copy: its bytes point into the request body */
    struct fn_meta meta;
    char *metadata_json;
    char hash[FL_HASH_HEX_BYTES];
    /* the `events` field (core/triggers) and the `sinks` field (core/sinks), when given and
     * not empty */
    char *events_stored;  /* the valid elements, as kept */
    cJSON *events_result; /* the reply's `events` */
    unsigned events_failed;
    char *sinks_stored;
    cJSON *sinks_result;
    unsigned sinks_failed;
};

static void upload_free(struct upload *up)
{
    free(up->name);
    free(up->metadata_json);
    free(up->events_stored);
    cJSON_Delete(up->events_result);
    free(up->sinks_stored);
    cJSON_Delete(up->sinks_result);
}

typedef enum fl_err (*list_check_fn)(const char *json, size_t len, char **stored, cJSON **results,
                                     unsigned *failed, char *detail, size_t detail_len);

/* FunLess's `events` or `sinks` part: absent, empty or `[]` means none given. 400 when it is
 * not a JSON array. */
static bool upload_elements(const struct multipart *mp, const char *field, list_check_fn check,
                            struct http_response *res, char **stored, cJSON **results,
                            unsigned *failed)
{
    const struct multipart_part *part = multipart_get(mp, field);
    if (!part || part->len == 0)
        return true;
    char detail[256];
    enum fl_err err =
        check((const char *)part->data, part->len, stored, results, failed, detail, sizeof(detail));
    if (err != FL_OK) {
        http_error(res, err, "%s", detail);
        return false;
    }
    if (cJSON_GetArraySize(*results) == 0) { /* `[]`: as if not given */
        free(*stored);
        cJSON_Delete(*results);
        *stored = NULL;
        *results = NULL;
    }
    return true;
}

/* Its `events` and `sinks` parts. */
static bool upload_lists(const struct multipart *mp, struct http_response *res, struct upload *up)
{
    return upload_elements(mp, "events", triggers_check, res, &up->events_stored,
                           &up->events_result, &up->events_failed) &&
           upload_elements(mp, "sinks", sinks_check, res, &up->sinks_stored, &up->sinks_result,
                           &up->sinks_failed);
}

/* The reply to a create or update: {"name"}, with `events` and `events_metadata` when events
 * were given; 207 when one of them failed. */
static void upload_reply(const struct upload *up, const struct fn_def *def, int status,
                         struct http_response *res)
{
    cJSON *data = api_named(def->name);
    if (up->events_result) {
        cJSON_AddItemToObject(data, "events", cJSON_Duplicate(up->events_result, true));
        cJSON_AddItemToObject(data, "events_metadata",
                              elements_metadata(up->events_result, up->events_failed));
    }
    if (up->sinks_result) {
        cJSON_AddItemToObject(data, "sinks", cJSON_Duplicate(up->sinks_result, true));
        cJSON_AddItemToObject(data, "sinks_metadata",
                              elements_metadata(up->sinks_result, up->sinks_failed));
    }
    api_reply(res, up->events_failed || up->sinks_failed ? 207 : status, data);
}

static bool upload_wait_flag(const struct multipart *mp, struct http_response *res, bool *wait_out)
{
    const struct multipart_part *wait = multipart_get(mp, "wait_for_workers");
    *wait_out = wait && wait->len == 4 && memcmp(wait->data, "true", 4) == 0;
    if (!wait || *wait_out || (wait->len == 5 && memcmp(wait->data, "false", 5) == 0))
        return true;
    http_error(res, FL_ERR_BAD_REQUEST, "wait_for_workers must be true or false");
    return false;
}

/* Parses and checks an upload: 400 for missing parts, 422 for names, metadata and code. */
static bool upload_parse(struct api *api, const struct http_request *req, const char *default_name,
                         struct http_response *res, struct upload *up)
{
    struct multipart mp;
    memset(up, 0, sizeof(*up));
    if (!api_multipart_body(req, res, &mp))
        return false;
    up->name = api_text_part(&mp, "name", default_name == NULL, res);
    if (!up->name && default_name)
        up->name = strdup(default_name);
    if (!up->name || !api_check_name(up->name, "function", res) ||
        !upload_wait_flag(&mp, res, &up->wait_for_workers) || !upload_lists(&mp, res, up))
        return false;
    if (strcmp(up->name, "access") == 0) { /* GET/PUT /v1/fn/{module}/access is the module's */
        http_error(res, FL_ERR_INVALID_NAME,
                   "the function name 'access' is reserved (/v1/fn/{module}/access is the "
                   "module's access list)");
        return false;
    }
    const struct multipart_part *code = multipart_get(&mp, "code");
    if (code)
        up->code = *code;
    if (!code) {
        http_error(res, FL_ERR_BAD_REQUEST, "missing multipart field 'code' (the .wasm file)");
        return false;
    }
    const struct multipart_part *meta = multipart_get(&mp, "metadata");
    char detail[256];
    enum fl_err err = meta_parse(meta ? (const char *)meta->data : NULL, meta ? meta->len : 0,
                                 &up->meta, detail, sizeof(detail));
    if (err == FL_OK && api->max_capacity_mb && up->meta.capacity_mb > api->max_capacity_mb)
        err = fl_fail(FL_ERR_INVALID_NAME, detail, sizeof(detail),
                      "metadata.capacity is at most %u MiB here (--max-capacity-mb)",
                      api->max_capacity_mb);
    if (err == FL_OK) /* our own checks first: fast, and they name the problem best */
        err = engine_check(up->code.data, up->code.len, (uint64_t)up->meta.capacity_mb << 20, false,
                           NULL, detail, sizeof(detail));
    const void *parts[] = {up->code.data};
    size_t lens[] = {up->code.len};
    if (err == FL_OK) {
        /* the Workers start compiling while wabt's validator type-checks (they compile nothing
         * twice: the push after the store finds the compile done or under way) */
        fl_hash_hex(parts, lens, 1, up->hash);
        cluster_prefetch(api->cluster, up->hash, up->code.data, up->code.len);
        err = engine_check(up->code.data, up->code.len, (uint64_t)up->meta.capacity_mb << 20, true,
                           NULL, detail, sizeof(detail));
    }
    if (err != FL_OK) {
        http_error(res, err, "%s", detail);
        return false;
    }
    up->metadata_json = meta_to_json(&up->meta);
    return up->metadata_json != NULL;
}

/*
 * Sends new code to every connected Worker. With wait_for_workers the reply waits for
 * their acknowledgements; a Worker that fails to take the code does not undo the write
 * (it gets the code on its first "no code" answer), it is logged.
 */
static void api_push(struct api *api, const struct upload *up, const struct fn_def *def)
{
    char detail[256];
    if (!api->push_on_create) /* FunLess's STORE_ON_CREATE=false */
        return;
    if (cluster_push_code(api->cluster, def->module, def->name, def->hash, up->code.data,
                          up->code.len, up->wait_for_workers, detail, sizeof(detail)) != FL_OK)
        fl_log(FL_LOG_WARN, "code_push_failed", "function=%s/%s detail=%s", def->module, def->name,
               detail);
}

static void upload_to_def(const struct upload *up, const char *module, const char *owner,
                          const char *created, const char *now, struct fn_def *def)
{
    memset(def, 0, sizeof(*def));
    snprintf(def->owner, sizeof(def->owner), "%s", owner);
    snprintf(def->module, sizeof(def->module), "%s", module);
    snprintf(def->name, sizeof(def->name), "%s", up->name);
    snprintf(def->hash, sizeof(def->hash), "%s", up->hash);
    def->size = up->code.len;
    def->meta = up->meta;
    snprintf(def->created_at, sizeof(def->created_at), "%s", created);
    snprintf(def->updated_at, sizeof(def->updated_at), "%s", now);
}

static struct db_function upload_to_row(const struct upload *up, const struct fn_def *def)
{
    return (struct db_function){
        .module = def->module,
        .name = def->name,
        .code = up->code.data,
        .size = up->code.len,
        .hash = def->hash,
        .metadata = up->metadata_json,
        .created_at = def->created_at,
        .updated_at = def->updated_at,
        .events = up->events_stored, /* NULL: none on create, kept on update */
        .sinks = up->sinks_stored,
        .owner = def->owner,
    };
}

void api_function_create(struct api *api, const struct route_args *args,
                         const struct http_request *req, struct http_response *res)
{
    const char *module = args->param[0];
    struct upload up = {0};
    if (!api_module_allowed(api, args, module, RIGHT_WRITE, res) ||
        !upload_parse(api, req, NULL, res, &up) ||
        !api_upload_quota(api, args->who.subject, up.code.len, true, res)) {
        upload_free(&up);
        return;
    }
    char now[32], detail[256];
    api_now(now);
    struct fn_def def;
    /* charged to its creator's quota (docs/tenants.md) */
    upload_to_def(&up, module, args->who.subject, now, now, &def);
    struct db_function row = upload_to_row(&up, &def);
    enum fl_err err = api->db->ops->function_create(api->db, &row, detail, sizeof(detail));
    if (err == FL_OK) {
        catalogue_put(api->catalogue, &def, NULL);
        if (up.events_stored && api->triggers)
            triggers_set(api->triggers, def.module, def.name, up.events_stored);
        if (up.sinks_stored && api->sinks)
            sinks_set(api->sinks, def.module, def.name, up.sinks_stored);
        api_push(api, &up, &def);
        upload_reply(&up, &def, 201, res);
    } else if (err == FL_ERR_EXISTS) {
        http_error(res, err, "function %s/%s already exists", module, def.name);
    } else if (err == FL_ERR_NOT_FOUND) {
        http_error(res, err, "module %s not found", module);
    } else {
        api_store_error(res, err, "create function", detail);
    }
    upload_free(&up);
}

bool api_function_lookup(struct api *api, const struct route_args *args, unsigned needed,
                         struct http_response *res, struct fn_def *def)
{
    if (!api_check_path_name(args->param[0], "module", res) ||
        !api_check_path_name(args->param[1], "function", res))
        return false;
    unsigned rights = 0;
    bool found = catalogue_get_as(api->catalogue, args->param[0], args->param[1], args->who.subject,
                                  api_is_admin(args), def, &rights);
    if (found && (rights & needed) == needed)
        return true;
    if (!found || rights == 0)
        http_error(res, FL_ERR_NOT_FOUND, "function %s/%s not found", args->param[0],
                   args->param[1]);
    else
        http_error(res, FL_ERR_FORBIDDEN, "you may not %s functions of module %s",
                   needed & RIGHT_WRITE    ? "change"
                   : needed & RIGHT_INVOKE ? "invoke"
                                           : "read",
                   args->param[0]);
    return false;
}

/*
 * The hot read: written directly rather than through cJSON (names, tags and hashes are
 * [_a-zA-Z0-9] only, times are ISO-8601), which halves the cost of the request.
 */
void api_function_get(struct api *api, const struct route_args *args,
                      const struct http_request *req, struct http_response *res)
{
    (void)req;
    struct fn_def def;
    if (!api_function_lookup(api, args, RIGHT_READ, res, &def))
        return;
    char tag[FL_NAME_MAX + 3] = "null";
    if (def.meta.tag[0])
        snprintf(tag, sizeof(tag), "\"%s\"", def.meta.tag);
    /* its entries are host names, addresses and networks (checked at upload): no escaping */
    char http_allow[2 * META_HTTP_ALLOW_MAX + 32] = "";
    if (def.meta.http_allow[0]) {
        size_t n = (size_t)snprintf(http_allow, sizeof(http_allow), ",\"http_allow\":[\"");
        for (const char *p = def.meta.http_allow; *p && n + 4 < sizeof(http_allow); p++)
            n += (size_t)snprintf(http_allow + n, sizeof(http_allow) - n, "%s",
                                  *p == ',' ? "\",\"" : (char[]){*p, '\0'});
        snprintf(http_allow + n, sizeof(http_allow) - n, "\"]");
    }
    cJSON *events = api->triggers ? triggers_describe(api->triggers, def.module, def.name) : NULL;
    char *events_json = cJSON_GetArraySize(events) ? cJSON_PrintUnformatted(events) : NULL;
    cJSON_Delete(events);
    cJSON *sinks = api->sinks ? sinks_describe(api->sinks, def.module, def.name) : NULL;
    char *sinks_json = cJSON_GetArraySize(sinks) ? cJSON_PrintUnformatted(sinks) : NULL;
    cJSON_Delete(sinks);
    /* {"config":{...},"secrets":[names]}: its members join the reply's (never a secret's value) */
    char *env = def.has_env ? catalogue_env_shown(api->catalogue, def.module, def.name) : NULL;
    size_t env_len = env ? strlen(env) : 0;
    res->status = 200;
    res->content_type = "application/json";
    fl_buf_printf(&res->body,
                  "{\"data\":{\"name\":\"%s\",\"module\":\"%s\",\"hash\":\"%s\",\"size\":%llu,"
                  "\"metadata\":{\"tag\":%s,\"capacity\":%u,\"timeout_ms\":%u%s},"
                  "\"created_at\":\"%s\",\"updated_at\":\"%s\"%s%s%s%s%s%.*s}}",
                  def.name, def.module, def.hash, (unsigned long long)def.size, tag,
                  def.meta.capacity_mb, def.meta.timeout_ms, http_allow, def.created_at,
                  def.updated_at, events_json ? ",\"events\":" : "", events_json ? events_json : "",
                  sinks_json ? ",\"sinks\":" : "", sinks_json ? sinks_json : "",
                  env_len > 2 ? "," : "", env_len > 2 ? (int)env_len - 2 : 0,
                  env_len > 2 ? env + 1 : "");
    cJSON_free(events_json);
    cJSON_free(sinks_json);
    free(env);
}

void api_function_update(struct api *api, const struct route_args *args,
                         const struct http_request *req, struct http_response *res)
{
    struct fn_def old;
    struct upload up = {0};
    if (!api_function_lookup(api, args, RIGHT_WRITE, res, &old))
        return;
    if (!upload_parse(api, req, NULL, res, &up) || /* `name` required, as FunLess */
        !api_upload_quota(api, old.owner, up.code.len > old.size ? up.code.len - old.size : 0,
                          false, res)) {
        upload_free(&up);
        return;
    }
    char now[32], detail[256];
    api_now(now);
    struct fn_def def;
    upload_to_def(&up, old.module, old.owner, old.created_at, now, &def);
    struct db_function row = upload_to_row(&up, &def);
    enum fl_err err =
        api->db->ops->function_update(api->db, old.name, &row, detail, sizeof(detail));
    if (err == FL_OK) {
        catalogue_put(api->catalogue, &def, old.name);
        if (strcmp(old.name, def.name) != 0)
            cluster_drop_code(api->cluster, old.module, old.name, false, detail, sizeof(detail));
        if (strcmp(old.name, def.name) != 0) { /* its events and sinks go with it */
            if (api->triggers)
                triggers_rename(api->triggers, old.module, old.name, def.name);
            if (api->sinks)
                sinks_rename(api->sinks, old.module, old.name, def.name);
        }
        if (api->triggers && up.events_stored) /* a non-empty list replaces them (FunLess) */
            triggers_set(api->triggers, def.module, def.name, up.events_stored);
        if (api->sinks && up.sinks_stored)
            sinks_set(api->sinks, def.module, def.name, up.sinks_stored);
        api_push(api, &up, &def);
        upload_reply(&up, &def, 200, res);
    } else if (err == FL_ERR_EXISTS) {
        http_error(res, err, "function %s/%s already exists", old.module, def.name);
    } else if (err == FL_ERR_NOT_FOUND) {
        http_error(res, err, "function %s/%s not found", old.module, old.name);
    } else {
        api_store_error(res, err, "update function", detail);
    }
    upload_free(&up);
}

void api_function_delete(struct api *api, const struct route_args *args,
                         const struct http_request *req, struct http_response *res)
{
    (void)req;
    struct fn_def def;
    if (!api_function_lookup(api, args, RIGHT_WRITE, res, &def))
        return;
    char detail[256];
    enum fl_err err =
        api->db->ops->function_delete(api->db, def.module, def.name, detail, sizeof(detail));
    if (err == FL_OK || err == FL_ERR_NOT_FOUND) {
        catalogue_remove(api->catalogue, def.module, def.name);
        if (api->triggers)
            triggers_rename(api->triggers, def.module, def.name, NULL);
        if (api->sinks)
            sinks_rename(api->sinks, def.module, def.name, NULL);
        cluster_drop_code(api->cluster, def.module, def.name, false, detail, sizeof(detail));
    }
    if (err == FL_OK)
        api_no_content(res);
    else if (err == FL_ERR_NOT_FOUND)
        http_error(res, err, "function %s/%s not found", def.module, def.name);
    else
        api_store_error(res, err, "delete function", detail);
}

/* cluster_code_fn: the code from the store, when a Worker answers "no code" (on one of the
 * cluster's store readers). */
enum fl_err api_code_from_store(void *arg, const struct fn_def *def, struct fl_buf *code)
{
    struct api *api = arg;
    char detail[256];
    enum fl_err err =
        api->db->ops->function_code(api->db, def->module, def->name, code, detail, sizeof(detail));
    if (err != FL_OK)
        fl_log(FL_LOG_WARN, "code_fetch_failed", "function=%s/%s detail=%s", def->module, def->name,
               detail);
    return err;
}

/* The script named by {"language":"app","script":NAME}; answers 400/404/422 itself. */
static bool api_invoke_script(struct api *api, const cJSON *scheduling, struct app_script **policy,
                              char script_name[FL_NAME_MAX + 1], struct http_response *res)
{
    const cJSON *language = cJSON_GetObjectItemCaseSensitive(scheduling, "language");
    const cJSON *script = cJSON_GetObjectItemCaseSensitive(scheduling, "script");
    if (!cJSON_IsObject(scheduling) || (language && !cJSON_IsString(language))) {
        http_error(res, FL_ERR_BAD_REQUEST,
                   "scheduling must be {\"language\":\"none\"} or "
                   "{\"language\":\"app\",\"script\":NAME}");
        return false;
    }
    if (!language || strcmp(language->valuestring, "none") == 0)
        return true;
    if (strcmp(language->valuestring, "app") != 0) {
        http_error(res, FL_ERR_BAD_REQUEST, "unknown scheduling language %.64s (none or app)",
                   language->valuestring);
        return false;
    }
    if (!cJSON_IsString(script)) {
        http_error(res, FL_ERR_BAD_REQUEST, "scheduling.script must name an APP script");
        return false;
    }
    if (!api_check_name(script->valuestring, "script", res))
        return false;
    if (!(*policy = app_scripts_get(api->scripts, script->valuestring)))
        http_error(res, FL_ERR_NOT_FOUND, "script %s not found", script->valuestring);
    else
        snprintf(script_name, FL_NAME_MAX + 1, "%s", script->valuestring);
    return *policy != NULL;
}

/* The invocation's arguments as JSON text (the body's "args", default {}) and its APP script
 * (NULL: the default policy); answers the error itself and returns NULL on failure. */
static char *api_invoke_args(struct api *api, const struct http_request *req,
                             struct app_script **policy, char script_name[FL_NAME_MAX + 1],
                             struct http_response *res)
{
    *policy = NULL;
    script_name[0] = '\0';
    if (!req->body_len)
        return strdup("{}");
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return NULL;
    const cJSON *scheduling = cJSON_GetObjectItemCaseSensitive(body, "scheduling");
    char *args = NULL;
    if (!scheduling || cJSON_IsNull(scheduling) ||
        api_invoke_script(api, scheduling, policy, script_name, res)) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "args");
        args = a ? cJSON_PrintUnformatted(a) : strdup("{}");
    }
    cJSON_Delete(body);
    return args;
}

/* docs/api.md's invocation outcomes: the status is the error table's (http_error). */
static void api_invoke_reply(const struct invocation_outcome *o, enum fl_err failure,
                             const char *detail, struct http_response *res)
{
    if (failure == FL_OK) {
        res->status = 200;
        res->content_type = "application/json";
        fl_buf_reset(&res->body);
        if (!fl_buf_append(&res->body, "{\"data\":", 8) ||
            !fl_buf_append(&res->body, o->output, o->output_len) ||
            !fl_buf_append(&res->body, "}", 1))
            http_error(res, FL_ERR_NOMEM, "out of memory");
    } else {
        /* FunLess's own details for a function's error and for no Worker; its phrase else */
        http_error_detail(res, failure,
                          failure == FL_ERR_FUNCTION      ? detail
                          : failure == FL_ERR_UNAVAILABLE ? "No worker available"
                                                          : NULL,
                          "%s", detail);
    }
    if (o->status == FL_ERR_BUSY || o->status == FL_ERR_UNAVAILABLE)
        res->retry_after_s = 1;
    snprintf(res->worker, sizeof(res->worker), "%s", o->worker);
}

/* One invocation of a request: parsed once, started on the event loop, answered when its
 * invocation is done (invocation.h). */
struct invoke_state {
    struct fn_def def;
    char script[FL_NAME_MAX + 1]; /* its APP script's name, "" for the default policy */
    char activation[ACTIVATION_ID_CHARS + 1];
    int64_t start_wall_ms; /* accepted at (the record's `start`) */
    uint64_t start_ms;     /* the same on the monotonic clock (its duration) */
    struct api *api;
    char *input;
    struct app_script *policy;
    struct invocation *invocation; /* out, not done yet */
    struct http_response *res;
    struct http_exchange *exchange;
    bool counted;                  /* it holds a place in its caller's concurrency quota */
    char subject[FL_NAME_MAX + 1]; /* ... that caller */
};

static void invoke_state_free(void *arg)
{
    struct invoke_state *st = arg;
    assert(!st->invocation); /* a suspended connection is not ended before it resumes */
    if (st->counted)
        quota_release(st->api->quotas, st->subject);
    app_release(st->policy);
    free(st->input);
    free(st);
}

/* invocation_done_fn, on the loop's thread. */
/* The invocation's record (core/activations.h), once its reply is known. */
static void invoke_record(struct invoke_state *st, const struct invocation_outcome *o,
                          const char *error)
{
    const struct http_response *res = st->res;
    struct activation_record record = {
        .id = st->activation,
        .module = st->def.module,
        .function = st->def.name,
        .hash = st->def.hash,
        .trigger = "http",
        .outcome = o->status == FL_OK && o->output_len == 0 ? FL_ERR_BAD_OUTPUT : o->status,
        .http_status = res->status,
        .worker = o->worker,
        .start_ms = st->start_wall_ms,
        .duration_ms = fl_ms_since(fl_now_ms(), st->start_ms),
        .attempts = o->attempts,
        .result = o->status == FL_OK && o->output_len ? o->output : NULL,
        .result_len = o->output_len,
        .error = o->status != FL_OK ? error : NULL,
        .logs = o->logs,
        .logs_len = o->logs_len,
    };
    activations_record(st->api->activations, &record);
    if (record.outcome == FL_OK && record.result) /* after the record: the sends update it */
        sinks_deliver(st->api->sinks, st->def.module, st->def.name, st->activation, o->output,
                      o->output_len);
}

static void invoke_done(void *arg, const struct invocation_outcome *outcome)
{
    struct invoke_state *st = arg;
    st->invocation = NULL;
    char detail[512]; /* the reply's errors.detail, and the record's error */
    enum fl_err failure =
        invocation_failure(outcome, st->def.meta.timeout_ms, detail, sizeof(detail));
    api_invoke_reply(outcome, failure, detail, st->res);
    snprintf(st->res->activation, sizeof(st->res->activation), "%s", st->activation);
    invoke_record(st, outcome, detail);
    http_resume(st->exchange);
}

/* The client went away while its call was out: the Worker stops it (and `done` still comes). */
static void invoke_gone(void *arg)
{
    struct invoke_state *st = arg;
    if (st->invocation)
        invocation_cancel(st->invocation);
}

/*
 * POST .../{f}?async=true: the call is handed to the queue (async_enqueue: a queued record,
 * docs/activations.md) and answered 202 once the batch holding it is committed — many accepts
 * share one commit, and no thread waits for it; then the queue runs it.
 */
struct async_accept {
    struct api *api;
    struct fn_def def;
    char script[FL_NAME_MAX + 1];
    char *input;
    struct http_response *res;
    struct http_exchange *exchange;
};

static void async_accept_free(void *arg)
{
    struct async_accept *acc = arg;
    free(acc->input);
    free(acc);
}

/* On the loop: the queued record is in the store (or could not be written). */
static void async_accepted(void *arg, const char *id, enum fl_err err)
{
    struct async_accept *acc = arg;
    struct http_response *res = acc->res;
    if (err != FL_OK) {
        api_store_error(res, err, "queue the call", "the batch holding it was not written");
    } else {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "activation_id", id);
        api_reply(res, 202, data);
        snprintf(res->location, sizeof(res->location), "/v1/activations/%s", id);
        snprintf(res->activation, sizeof(res->activation), "%s", id);
    }
    http_resume(acc->exchange);
}

static void api_function_invoke_async(struct api *api, const struct route_args *args,
                                      const struct http_request *req, struct http_response *res)
{
    struct async_accept *acc = calloc(1, sizeof(*acc));
    if (!acc) {
        http_error(res, FL_ERR_NOMEM, "out of memory");
        return;
    }
    *req->state = acc;
    *req->state_free = async_accept_free;
    struct app_script *policy = NULL;
    bool counted = false; /* an asynchronous call counts against the rate only */
    if (!api_function_lookup(api, args, RIGHT_INVOKE, res, &acc->def) ||
        !api_invoke_quota(api, args, false, &counted, res) ||
        !(acc->input = api_invoke_args(api, req, &policy, acc->script, res)))
        return;
    app_release(policy); /* looked up again when the call runs */
    acc->api = api;
    acc->res = res;
    acc->exchange = req->exchange;
    struct async_request call = {.def = &acc->def,
                                 .args = acc->input,
                                 .script = acc->script,
                                 .trigger = "async",
                                 .accepted = async_accepted,
                                 .arg = acc};
    enum fl_err err = api->async ? async_enqueue(api->async, &call) : FL_ERR_UNAVAILABLE;
    if (err == FL_OK) {
        res->status = HTTP_RUN_LATER;
    } else if (err == FL_ERR_BUSY) {
        http_error(res, err,
                   "the queue of asynchronous calls is full, or the store behind: "
                   "retry later");
        res->retry_after_s = 1;
    } else {
        http_error(res, FL_ERR_UNAVAILABLE, "asynchronous calls are not available");
    }
}

/* ?async=true or false (absent: false); -1 after answering 400. */
static int api_async_wanted(const struct http_request *req, struct http_response *res)
{
    const char *async = http_query(req, "async");
    if (!async || strcmp(async, "false") == 0)
        return 0;
    if (strcmp(async, "true") == 0)
        return 1;
    http_error(res, FL_ERR_BAD_REQUEST, "async must be true or false");
    return -1;
}

void api_function_invoke(struct api *api, const struct route_args *args,
                         const struct http_request *req, struct http_response *res)
{
    int async = api_async_wanted(req, res);
    if (async < 0)
        return;
    if (async) {
        api_function_invoke_async(api, args, req, res);
        return;
    }
    struct invoke_state *st = calloc(1, sizeof(*st));
    if (!st) {
        http_error(res, FL_ERR_NOMEM, "out of memory");
        return;
    }
    *req->state = st;
    *req->state_free = invoke_state_free;
    st->api = api;
    snprintf(st->subject, sizeof(st->subject), "%s", args->who.subject);
    if (!api_function_lookup(api, args, RIGHT_INVOKE, res, &st->def) ||
        !api_invoke_quota(api, args, true, &st->counted, res) ||
        !(st->input = api_invoke_args(api, req, &st->policy, st->script, res)))
        return;
    st->res = res;
    st->exchange = req->exchange;
    st->start_wall_ms = fl_wall_ms();
    if (!activation_new_id(st->activation, st->start_wall_ms)) {
        http_error(res, FL_ERR_IO, "no random bytes for the activation id");
        return;
    }
    st->start_ms = fl_now_ms();
    struct invocation_request call = {
        .def = &st->def,
        .args = st->input,
        .args_len = strlen(st->input),
        .policy = st->policy,
        .request_id = req->id,
        .done = invoke_done,
        .done_arg = st,
    };
    if (!(st->invocation = invocation_start(api->cluster, &call))) {
        http_error(res, FL_ERR_NOMEM, "out of memory");
        return;
    }
    *req->on_gone = invoke_gone;
    res->status = HTTP_RUN_LATER;
}
