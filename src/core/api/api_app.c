/*
 * api_app — APP scheduling scripts: uploaded as YAML (multipart `name`, `file`),
 * checked by the APP parser (core/app), stored as uploaded and in the normalised
 * JSON form the API returns, and kept parsed in memory for invocations.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/api/api_internal.h"

/* Writes go to the store, then to the in-memory set: one writer at a time keeps both in the
 * same order. */
static pthread_mutex_t script_write_lock = PTHREAD_MUTEX_INITIALIZER;

static void script_load(void *arg, const struct db_script *row)
{
    struct api *api = arg;
    struct app_script *script;
    char detail[256];
    if (app_parse(row->source, strlen(row->source), &script, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_WARN, "script_skipped", "name=%s detail=%s", row->name, detail);
        return;
    }
    if (app_scripts_put(api->scripts, row->name, script) != FL_OK)
        fl_log(FL_LOG_WARN, "script_skipped", "name=%s detail=%s", row->name, "out of memory");
}

enum fl_err api_load_scripts(struct api *api, char *detail, size_t detail_len)
{
    return api->db->ops->script_list(api->db, script_load, api, detail, detail_len);
}

struct script_list {
    cJSON *list;
    const char *only; /* one name, or NULL for all */
    bool found;
};

static cJSON *script_json(const char *name, const char *parsed)
{
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "name", name);
    cJSON *script = cJSON_Parse(parsed);
    cJSON_AddItemToObject(item, "script", script ? script : cJSON_CreateNull());
    return item;
}

static void script_row(void *arg, const struct db_script *row)
{
    struct script_list *sl = arg;
    if (sl->only && strcmp(sl->only, row->name) != 0)
        return;
    sl->found = true;
    cJSON_AddItemToArray(sl->list, script_json(row->name, row->parsed));
}

void api_scripts_list(struct api *api, const struct route_args *args,
                      const struct http_request *req, struct http_response *res)
{
    (void)args, (void)req;
    struct script_list sl = {cJSON_CreateArray(), NULL, false};
    char detail[256];
    enum fl_err err = api->db->ops->script_list(api->db, script_row, &sl, detail, sizeof(detail));
    if (err == FL_OK)
        api_reply(res, 200, sl.list);
    else {
        cJSON_Delete(sl.list);
        api_store_error(res, err, "list scripts", detail);
    }
}

void api_script_get(struct api *api, const struct route_args *args, const struct http_request *req,
                    struct http_response *res)
{
    (void)req;
    const char *name = args->param[0];
    if (!api_check_name(name, "script", res))
        return;
    struct script_list sl = {cJSON_CreateArray(), name, false};
    char detail[256];
    enum fl_err err = api->db->ops->script_list(api->db, script_row, &sl, detail, sizeof(detail));
    if (err != FL_OK)
        api_store_error(res, err, "read script", detail);
    else if (!sl.found)
        http_error(res, FL_ERR_NOT_FOUND, "script %s not found", name);
    else
        api_reply(res, 200, cJSON_DetachItemFromArray(sl.list, 0));
    cJSON_Delete(sl.list);
}

/* Reads and parses the `file` part; answers 400/422 itself and returns NULL on failure. */
static char *script_source(const struct multipart *mp, struct app_script **parsed,
                           struct http_response *res)
{
    char *source = api_text_part(mp, "file", true, res);
    if (!source)
        return NULL;
    char detail[256];
    enum fl_err err = app_parse(source, strlen(source), parsed, detail, sizeof(detail));
    if (err != FL_OK) {
        http_error(res, err, "invalid APP script: %s", detail);
        free(source);
        return NULL;
    }
    return source;
}

/* Store first, then memory (takes over `parsed`); answers itself. */
static void script_store(struct api *api, const char *name, const char *source,
                         struct app_script *parsed, bool create, struct http_response *res)
{
    char now[32], detail[256];
    api_now(now);
    cJSON *normalised = app_to_json(parsed);
    char *parsed_text = cJSON_PrintUnformatted(normalised);
    cJSON_Delete(normalised);
    struct db_script row = {name, source, parsed_text, now, now};
    pthread_mutex_lock(&script_write_lock);
    enum fl_err err = api->db->ops->script_put(api->db, &row, create, detail, sizeof(detail));
    if (err == FL_OK) {
        err = app_scripts_put(api->scripts, name, parsed);
        parsed = NULL;
    }
    pthread_mutex_unlock(&script_write_lock);
    app_release(parsed);
    if (err == FL_OK)
        api_reply(res, create ? 201 : 200, script_json(name, parsed_text));
    else if (err == FL_ERR_EXISTS || err == FL_ERR_NOT_FOUND)
        http_error(res, err,
                   err == FL_ERR_EXISTS ? "script %s already exists" : "script %s not found", name);
    else
        api_store_error(res, err, "store script", detail);
    free(parsed_text);
}

static void script_put(struct api *api, const char *name, const struct http_request *req,
                       struct http_response *res, bool create)
{
    struct multipart mp;
    if (!api_multipart_body(req, res, &mp))
        return;
    char *part_name = create ? api_text_part(&mp, "name", true, res) : NULL;
    if (create)
        name = part_name;
    struct app_script *parsed = NULL;
    char *source =
        name && api_check_name(name, "script", res) ? script_source(&mp, &parsed, res) : NULL;
    if (source)
        script_store(api, name, source, parsed, create, res);
    free(source);
    free(part_name);
}

void api_script_create(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)args;
    script_put(api, NULL, req, res, true);
}

void api_script_update(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    if (api_check_name(args->param[0], "script", res))
        script_put(api, args->param[0], req, res, false);
}

void api_script_delete(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)req;
    const char *name = args->param[0];
    if (!api_check_name(name, "script", res))
        return;
    char detail[256];
    pthread_mutex_lock(&script_write_lock);
    enum fl_err err = api->db->ops->script_delete(api->db, name, detail, sizeof(detail));
    if (err == FL_OK)
        app_scripts_remove(api->scripts, name);
    pthread_mutex_unlock(&script_write_lock);
    if (err == FL_OK)
        api_no_content(res);
    else if (err == FL_ERR_NOT_FOUND)
        http_error(res, err, "script %s not found", name);
    else
        api_store_error(res, err, "delete script", detail);
}
