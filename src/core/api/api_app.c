/*
 * api_app — APP scheduling scripts: uploaded as YAML (multipart `name`, `file`, as FunLess's
 * main branch takes them, or JSON {"app_script":{"name","script"}}, as its v0.9.0 release and
 * Go SDK send them), checked by the APP parser (core/app), stored as uploaded and in the
 * normalised JSON form, and kept parsed in memory for invocations. Replies carry FunLess's `id`;
 * `/v1/scripts/app` shows the parsed script (main), `/v1/app` the text (v0.9.0).
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
    return db_script_list(api->db, script_load, api, detail, detail_len);
}

/* How a reply shows a script: parsed (FunLess main's /v1/scripts/app) or as text (v0.9.0's
 * /v1/app). */
enum script_style { SCRIPT_PARSED, SCRIPT_TEXT };

struct script_list {
    struct api *api;
    cJSON *list;
    const char *only; /* one name, or NULL for all */
    bool found;
    enum script_style style;
};

/* {"id","name","script"}; the parsed form from the script in memory, so that it is written as
 * this version writes it (a stored older form is the fallback). */
static cJSON *script_json(struct api *api, const struct db_script *row, enum script_style style)
{
    cJSON *item = cJSON_CreateObject();
    cJSON_AddNumberToObject(item, "id", strtod(row->id ? row->id : "0", NULL));
    cJSON_AddStringToObject(item, "name", row->name);
    if (style == SCRIPT_TEXT) {
        cJSON_AddStringToObject(item, "script", row->source);
        return item;
    }
    struct app_script *parsed = app_scripts_get(api->scripts, row->name);
    cJSON *script = parsed ? app_to_json(parsed) : cJSON_Parse(row->parsed);
    app_release(parsed);
    cJSON_AddItemToObject(item, "script", script ? script : cJSON_CreateNull());
    return item;
}

static void script_row(void *arg, const struct db_script *row)
{
    struct script_list *sl = arg;
    if (sl->only && strcmp(sl->only, row->name) != 0)
        return;
    sl->found = true;
    cJSON_AddItemToArray(sl->list, script_json(sl->api, row, sl->style));
}

static void scripts_list(struct api *api, enum script_style style, struct http_response *res)
{
    struct script_list sl = {api, cJSON_CreateArray(), NULL, false, style};
    char detail[256];
    enum fl_err err = db_script_list(api->db, script_row, &sl, detail, sizeof(detail));
    if (err == FL_OK)
        api_reply(res, 200, sl.list);
    else {
        cJSON_Delete(sl.list);
        api_store_error(res, err, "list scripts", detail);
    }
}

void api_scripts_list(struct api *api, const struct route_args *args,
                      const struct http_request *req, struct http_response *res)
{
    (void)args, (void)req;
    scripts_list(api, SCRIPT_PARSED, res);
}

void api_apps_list(struct api *api, const struct route_args *args, const struct http_request *req,
                   struct http_response *res)
{
    (void)args, (void)req;
    scripts_list(api, SCRIPT_TEXT, res);
}

static void script_get(struct api *api, const char *name, enum script_style style,
                       struct http_response *res)
{
    if (!api_check_path_name(name, "script", res))
        return;
    struct script_list sl = {api, cJSON_CreateArray(), name, false, style};
    char detail[256];
    enum fl_err err = db_script_list(api->db, script_row, &sl, detail, sizeof(detail));
    if (err != FL_OK)
        api_store_error(res, err, "read script", detail);
    else if (!sl.found)
        http_error(res, FL_ERR_NOT_FOUND, "script %s not found", name);
    else
        api_reply(res, 200, cJSON_DetachItemFromArray(sl.list, 0));
    cJSON_Delete(sl.list);
}

void api_script_get(struct api *api, const struct route_args *args, const struct http_request *req,
                    struct http_response *res)
{
    (void)req;
    script_get(api, args->param[0], SCRIPT_PARSED, res);
}

void api_app_get(struct api *api, const struct route_args *args, const struct http_request *req,
                 struct http_response *res)
{
    (void)req;
    script_get(api, args->param[0], SCRIPT_TEXT, res);
}

/* Parses `source` (taken; NULL after an answer already given); answers 422 itself and returns
 * NULL on failure. */
static char *script_source(char *source, struct app_script **parsed, struct http_response *res)
{
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
                         struct app_script *parsed, bool create, enum script_style style,
                         struct http_response *res)
{
    char now[32], detail[256];
    api_now(now);
    cJSON *normalised = app_to_json(parsed);
    char *parsed_text = cJSON_PrintUnformatted(normalised);
    cJSON_Delete(normalised);
    struct db_script row = {name, source, parsed_text, now, now, NULL};
    pthread_mutex_lock(&script_write_lock);
    enum fl_err err = db_script_put(api->db, &row, create, detail, sizeof(detail));
    if (err == FL_OK) {
        err = app_scripts_put(api->scripts, name, parsed);
        parsed = NULL;
    }
    pthread_mutex_unlock(&script_write_lock);
    app_release(parsed);
    if (err == FL_OK) {
        script_get(api, name, style, res); /* as it is stored: its id too */
        if (create && res->status == 200)
            res->status = 201;
    } else if (err == FL_ERR_EXISTS) /* 422 and the changeset's shape, as FunLess */
        http_error_field(res, FL_ERR_INVALID_NAME, "name", "has already been taken",
                         "script %s already exists", name);
    else if (err == FL_ERR_NOT_FOUND)
        http_error(res, err, "script %s not found", name);
    else
        api_store_error(res, err, "store script", detail);
    free(parsed_text);
}

/* The name (create) and the YAML text of a multipart upload (`name`, `file`); false after
 * answering. */
static bool script_from_multipart(const struct http_request *req, bool create, char **name,
                                  char **source, struct http_response *res)
{
    struct multipart mp;
    if (!api_multipart_body(req, res, &mp))
        return false;
    if (create && !(*name = api_text_part(&mp, "name", true, res)))
        return false;
    return (*source = api_text_part(&mp, "file", true, res)) != NULL;
}

/* The same from {"app_script":{"name":...,"script":"YAML"}} (FunLess v0.9.0). */
static bool script_from_json(struct api *api, const struct http_request *req, bool create,
                             char **name, char **source, struct http_response *res)
{
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return false;
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(body, "app_script");
    const char *given_name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(app, "name"));
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(app, "script"));
    bool ok = text && (given_name || !create);
    if (!cJSON_IsObject(app)) /* FunLess: no clause matches, 400 */
        http_error(res, FL_ERR_BAD_REQUEST,
                   "expected {\"app_script\":{\"name\":...,\"script\":\"<the YAML>\"}}");
    else if (!ok) /* FunLess: its changeset's validate_required */
        http_error_field(res, FL_ERR_INVALID_NAME, text ? "name" : "script", "can't be blank",
                         "app_script needs a \"%s\"", text ? "name" : "script");
    if (ok && create)
        ok = (*name = strdup(given_name)) != NULL;
    if (ok)
        ok = (*source = strdup(text)) != NULL;
    cJSON_Delete(body);
    return ok;
}

static void script_put(struct api *api, const char *name, const struct http_request *req,
                       struct http_response *res, bool create, enum script_style style)
{
    char *given_name = NULL, *text = NULL;
    bool json = req->content_type && strncmp(req->content_type, "application/json", 16) == 0;
    bool read = json ? script_from_json(api, req, create, &given_name, &text, res)
                     : script_from_multipart(req, create, &given_name, &text, res);
    if (create)
        name = given_name;
    struct app_script *parsed = NULL;
    char *source = read && api_check_name(name, "script", res) ? script_source(text, &parsed, res)
                                                               : (free(text), NULL);
    if (source)
        script_store(api, name, source, parsed, create, style, res);
    free(source);
    free(given_name);
}

void api_script_create(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)args;
    script_put(api, NULL, req, res, true, SCRIPT_PARSED);
}

void api_app_create(struct api *api, const struct route_args *args, const struct http_request *req,
                    struct http_response *res)
{
    (void)args;
    script_put(api, NULL, req, res, true, SCRIPT_TEXT);
}

void api_script_update(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    if (api_check_path_name(args->param[0], "script", res))
        script_put(api, args->param[0], req, res, false, SCRIPT_PARSED);
}

void api_app_update(struct api *api, const struct route_args *args, const struct http_request *req,
                    struct http_response *res)
{
    if (api_check_path_name(args->param[0], "script", res))
        script_put(api, args->param[0], req, res, false, SCRIPT_TEXT);
}

void api_script_delete(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)req;
    const char *name = args->param[0];
    if (!api_check_path_name(name, "script", res))
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
