/*
 * api_tenants — who may use what (docs/tenants.md): modules' access lists, functions'
 * configuration and secrets, quotas, and the admin's routes over subjects and their tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "core/api/api_internal.h"
#include "core/api/validate.h"

enum {
    ACCESS_MAX = 100,         /* entries in a module's access list */
    ENV_KEYS_MAX = 100,       /* configuration and secrets, each */
    ENV_KEY_MAX = 128,        /* characters of a key */
    ENV_BYTES_MAX = 32 << 10, /* the whole environment ("KEY=VALUE\0" entries) */
    GRACE_MAX_S = 30 * 86400, /* the longest a rotated token keeps working */
};

static const char *const right_names[] = {"read", "invoke", "write"};

/* ---- access lists ---- */

/* [{"subject":S,"rights":["read",...]}] checked; `detail` says why not. */
static bool access_parse(const cJSON *list, struct module_access **out, size_t *count, char *detail,
                         size_t detail_len)
{
    *out = NULL;
    *count = 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > ACCESS_MAX) {
        snprintf(detail, detail_len, "access must be an array of at most %d entries", ACCESS_MAX);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    *out = calloc(n ? n : 1, sizeof(**out));
    if (!*out) {
        snprintf(detail, detail_len, "out of memory");
        return false;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        const char *subject =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "subject"));
        const cJSON *rights = cJSON_GetObjectItemCaseSensitive(item, "rights");
        if (!subject || (strcmp(subject, "*") != 0 && !name_valid(subject)) ||
            !cJSON_IsArray(rights) || cJSON_GetArraySize(rights) == 0) {
            snprintf(detail, detail_len,
                     "each entry is {\"subject\":NAME or \"*\",\"rights\":[\"read\", \"invoke\", "
                     "\"write\"]} with at least one right");
            goto fail;
        }
        struct module_access *a = &(*out)[(*count)++];
        snprintf(a->subject, sizeof(a->subject), "%s", subject);
        const cJSON *right;
        cJSON_ArrayForEach(right, rights)
        {
            unsigned bit = 0;
            for (unsigned k = 0; k < 3; k++)
                if (cJSON_IsString(right) && strcmp(right->valuestring, right_names[k]) == 0)
                    bit = 1u << k;
            if (!bit) {
                snprintf(detail, detail_len, "a right is \"read\", \"invoke\" or \"write\"");
                goto fail;
            }
            a->rights |= bit;
        }
    }
    return true;
fail:
    free(*out);
    *out = NULL;
    *count = 0;
    return false;
}

static cJSON *access_json(const struct module_access *access, size_t count)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < count; i++) {
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "subject", access[i].subject);
        cJSON *rights = cJSON_AddArrayToObject(entry, "rights");
        for (unsigned k = 0; k < 3; k++)
            if (access[i].rights & (1u << k))
                cJSON_AddItemToArray(rights, cJSON_CreateString(right_names[k]));
        cJSON_AddItemToArray(list, entry);
    }
    return list;
}

void api_load_access(struct api *api, const char *module, const char *stored)
{
    cJSON *list = cJSON_Parse(stored ? stored : "[]");
    struct module_access *access;
    size_t count;
    char detail[200];
    if (access_parse(list, &access, &count, detail, sizeof(detail)))
        catalogue_set_access(api->catalogue, module, access, count);
    else
        fl_log(FL_LOG_ERROR, "access_unreadable", "module=%s detail=%s", module, detail);
    free(access);
    cJSON_Delete(list);
}

/* The module's owner and access list, for its owner (and the admin). */
void api_module_access_get(struct api *api, const struct route_args *args,
                           const struct http_request *req, struct http_response *res)
{
    (void)req;
    const char *module = args->param[0];
    if (!api_module_allowed(api, args, module, RIGHT_OWN, res))
        return;
    char owner[FL_NAME_MAX + 1];
    struct module_access *access;
    size_t count;
    if (!catalogue_module_info(api->catalogue, module, owner, &access, &count)) {
        http_error(res, FL_ERR_NOT_FOUND, "module %s not found", module);
        return;
    }
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "module", module);
    if (owner[0])
        cJSON_AddStringToObject(data, "owner", owner);
    else
        cJSON_AddNullToObject(data, "owner"); /* shared by everyone */
    cJSON_AddItemToObject(data, "access", access_json(access, count));
    free(access);
    api_reply(res, 200, data);
}

/* Whether every subject named exists ("*" always does); `detail` names one that does not. */
static bool access_subjects_exist(struct api *api, const struct module_access *access, size_t count,
                                  char *detail, size_t detail_len)
{
    for (size_t i = 0; i < count; i++) {
        struct auth_subject_info info;
        if (strcmp(access[i].subject, "*") == 0)
            continue;
        if (!auth_subject_info(api->auth, access[i].subject, &info)) {
            snprintf(detail, detail_len, "no subject %s", access[i].subject);
            return false;
        }
        free(info.quota);
    }
    return true;
}

/* Writes a module's new access list: the store, then the catalogue. */
static enum fl_err access_store(struct api *api, const char *module,
                                const struct module_access *access, size_t count, char *detail,
                                size_t detail_len)
{
    cJSON *json = access_json(access, count);
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    char now[32];
    api_now(now);
    enum fl_err err =
        text ? db_module_set_access(api->db, module, text, now, detail, detail_len) : FL_ERR_NOMEM;
    free(text);
    if (err == FL_OK && !catalogue_set_access(api->catalogue, module, access, count))
        err = FL_ERR_NOMEM;
    return err;
}

void api_module_access_put(struct api *api, const struct route_args *args,
                           const struct http_request *req, struct http_response *res)
{
    const char *module = args->param[0];
    if (!api_module_allowed(api, args, module, RIGHT_OWN, res))
        return;
    char owner[FL_NAME_MAX + 1], detail[256];
    struct module_access *current;
    size_t current_count;
    if (!catalogue_module_info(api->catalogue, module, owner, &current, &current_count)) {
        http_error(res, FL_ERR_NOT_FOUND, "module %s not found", module);
        return;
    }
    free(current);
    if (!owner[0]) {
        http_error(res, FL_ERR_FORBIDDEN_OP,
                   "module %s is shared by everyone: it has no access list", module);
        return;
    }
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return;
    struct module_access *access = NULL;
    size_t count = 0;
    if (!access_parse(cJSON_GetObjectItemCaseSensitive(body, "access"), &access, &count, detail,
                      sizeof(detail))) {
        http_error(res, FL_ERR_BAD_REQUEST, "%s", detail);
    } else if (!access_subjects_exist(api, access, count, detail, sizeof(detail))) {
        http_error(res, FL_ERR_INVALID_NAME, "%s", detail);
    } else {
        enum fl_err err = access_store(api, module, access, count, detail, sizeof(detail));
        if (err == FL_OK) {
            cJSON *data = cJSON_CreateObject();
            cJSON_AddStringToObject(data, "module", module);
            cJSON_AddStringToObject(data, "owner", owner);
            cJSON_AddItemToObject(data, "access", access_json(access, count));
            api_reply(res, 200, data);
        } else {
            api_store_error(res, err, "set the module's access", detail);
        }
    }
    free(access);
    cJSON_Delete(body);
}

/* A deleted subject's grants go with it: a later subject of the same name gets none. */
static void access_forget(struct api *api, const char *subject)
{
    size_t count;
    char **modules = catalogue_modules(api->catalogue, "", true, RIGHTS_ALL, &count);
    for (size_t i = 0; modules && i < count; i++) {
        char owner[FL_NAME_MAX + 1], detail[256];
        struct module_access *access;
        size_t n, kept = 0;
        if (catalogue_module_info(api->catalogue, modules[i], owner, &access, &n)) {
            for (size_t k = 0; k < n; k++)
                if (strcmp(access[k].subject, subject) != 0)
                    access[kept++] = access[k];
            if (kept < n &&
                access_store(api, modules[i], access, kept, detail, sizeof(detail)) != FL_OK)
                fl_log(FL_LOG_ERROR, "access_forget_failed", "module=%s subject=%s detail=%s",
                       modules[i], subject, detail);
            free(access);
        }
        free(modules[i]);
    }
    free(modules);
}

/* ---- configuration and secrets ---- */

static bool env_key_valid(const char *key)
{
    size_t len = strlen(key);
    return len >= 1 && len <= ENV_KEY_MAX && !(key[0] >= '0' && key[0] <= '9') &&
           strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
}

/* Applies `changes` ({"KEY":"value" to set, "KEY":null to remove}) to `map`; `detail` says
 * why not. */
static bool env_merge(cJSON *map, const cJSON *changes, const char *what, char *detail,
                      size_t detail_len)
{
    if (!cJSON_IsObject(changes)) {
        snprintf(detail, detail_len, "%s must be an object of \"KEY\":\"value\" (null removes)",
                 what);
        return false;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, changes)
    {
        if (!env_key_valid(item->string)) {
            snprintf(detail, detail_len,
                     "%s key '%.40s' is not an environment variable name (letters, digits and _, "
                     "not starting with a digit, at most %d)",
                     what, item->string, ENV_KEY_MAX);
            return false;
        }
        if (cJSON_IsNull(item)) {
            cJSON_DeleteItemFromObjectCaseSensitive(map, item->string);
        } else if (cJSON_IsString(item)) {
            cJSON *value = cJSON_CreateString(item->valuestring);
            if (cJSON_GetObjectItemCaseSensitive(map, item->string))
                cJSON_ReplaceItemInObjectCaseSensitive(map, item->string, value);
            else
                cJSON_AddItemToObject(map, item->string, value);
        } else {
            snprintf(detail, detail_len, "%s '%s' must be a string (or null to remove it)", what,
                     item->string);
            return false;
        }
    }
    if (cJSON_GetArraySize(map) > ENV_KEYS_MAX) {
        snprintf(detail, detail_len, "at most %d %s entries", ENV_KEYS_MAX, what);
        return false;
    }
    return true;
}

/* The bytes env_build writes for both maps: what ENV_BYTES_MAX bounds. */
static size_t env_bytes(const cJSON *config, const cJSON *secrets)
{
    const cJSON *maps[] = {config, secrets}, *item;
    size_t bytes = 0;
    for (int m = 0; m < 2; m++)
        cJSON_ArrayForEach(item, maps[m])
        {
            if (cJSON_IsString(item)) /* KEY=VALUE\0 */
                bytes += strlen(item->string) + 1 + strlen(item->valuestring) + 1;
        }
    return bytes;
}

/* "KEY=VALUE\0" entries of both maps into `env`; false past ENV_BYTES_MAX. */
static bool env_build(const cJSON *config, const cJSON *secrets, struct fl_buf *env)
{
    const cJSON *maps[] = {config, secrets}, *item;
    for (int m = 0; m < 2; m++)
        cJSON_ArrayForEach(item, maps[m])
        {
            if (!cJSON_IsString(item))
                continue;
            if (!fl_buf_append(env, item->string, strlen(item->string)) ||
                !fl_buf_append(env, "=", 1) ||
                !fl_buf_append(env, item->valuestring, strlen(item->valuestring) + 1))
                return false;
        }
    return env->len <= ENV_BYTES_MAX;
}

/* {"config":{...},"secrets":["NAME",...]}: what GETs show (never a secret's value). */
static cJSON *env_shown(const cJSON *config, const cJSON *secrets)
{
    cJSON *shown = cJSON_CreateObject();
    cJSON_AddItemToObject(shown, "config", cJSON_Duplicate(config, true));
    cJSON *names = cJSON_AddArrayToObject(shown, "secrets");
    const cJSON *item;
    cJSON_ArrayForEach(item, secrets)
    {
        cJSON_AddItemToArray(names, cJSON_CreateString(item->string));
    }
    return shown;
}

/* The function's environment and what GETs show, into the catalogue. */
static bool env_install(struct api *api, const char *module, const char *name, const cJSON *config,
                        const cJSON *secrets)
{
    struct fl_buf env;
    fl_buf_init(&env, ENV_BYTES_MAX + 1);
    cJSON *shown = env_shown(config, secrets);
    char *shown_text = cJSON_PrintUnformatted(shown);
    cJSON_Delete(shown);
    bool empty = cJSON_GetArraySize(config) == 0 && cJSON_GetArraySize(secrets) == 0;
    bool ok = shown_text && env_build(config, secrets, &env) &&
              catalogue_set_env(api->catalogue, module, name, env.data, env.len,
                                empty ? NULL : shown_text);
    if (env.data)
        explicit_bzero(env.data, env.len);
    fl_buf_deinit(&env);
    free(shown_text);
    return ok;
}

/* The secrets' plain JSON object from their sealed text ("" : an empty object); NULL when the
 * key cannot open them. */
static cJSON *secrets_unseal(struct api *api, const char *sealed)
{
    if (!sealed || !*sealed)
        return cJSON_CreateObject();
    if (!api->secret_key)
        return NULL;
    size_t len;
    char *plain = secrets_open(api->secret_key, sealed, &len);
    if (!plain)
        return NULL;
    cJSON *map = cJSON_ParseWithLength(plain, len);
    explicit_bzero(plain, len);
    free(plain);
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(map);
        return NULL;
    }
    return map;
}

/* Frees a map that held secrets, wiping their values first. */
static void secrets_forget(cJSON *map)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, map)
    {
        if (cJSON_IsString(item))
            explicit_bzero(item->valuestring, strlen(item->valuestring));
    }
    cJSON_Delete(map);
}

void api_load_env(struct api *api, const char *module, const char *name, const char *config,
                  const char *secrets)
{
    bool no_config = !config || !*config || strcmp(config, "{}") == 0;
    if (no_config && (!secrets || !*secrets))
        return;
    cJSON *config_map = cJSON_Parse(no_config ? "{}" : config);
    cJSON *secrets_map = secrets_unseal(api, secrets);
    if (!secrets_map) /* another key file than the one that sealed them: the calls go without */
        fl_log(FL_LOG_ERROR, "secrets_unreadable",
               "function=%s/%s detail=the secret key cannot open its secrets (was "
               "--secret-key-file changed?); set them again",
               module, name);
    if (!cJSON_IsObject(config_map) ||
        !env_install(api, module, name, config_map, secrets_map ? secrets_map : NULL))
        fl_log(FL_LOG_ERROR, "config_unreadable", "function=%s/%s", module, name);
    cJSON_Delete(config_map);
    secrets_forget(secrets_map);
}

/* GET .../config: the configuration, and the secrets' names only. */
void api_function_config_get(struct api *api, const struct route_args *args,
                             const struct http_request *req, struct http_response *res)
{
    (void)req;
    struct fn_def def;
    if (!api_function_lookup(api, args, RIGHT_READ, res, &def))
        return;
    char *shown = catalogue_env_shown(api->catalogue, def.module, def.name);
    cJSON *data = shown ? cJSON_Parse(shown) : NULL;
    free(shown);
    if (!data) {
        data = cJSON_CreateObject();
        cJSON_AddItemToObject(data, "config", cJSON_CreateObject());
        cJSON_AddItemToObject(data, "secrets", cJSON_CreateArray());
    }
    api_reply(res, 200, data);
}

/* The maps after the body's changes, checked; false after answering. */
static bool config_apply(struct api *api, const cJSON *body, cJSON *config, cJSON *secrets,
                         struct http_response *res)
{
    const cJSON *config_changes = cJSON_GetObjectItemCaseSensitive(body, "config");
    const cJSON *secret_changes = cJSON_GetObjectItemCaseSensitive(body, "secrets");
    char detail[256];
    if (!config_changes && !secret_changes) {
        http_error(res, FL_ERR_BAD_REQUEST,
                   "expected {\"config\":{\"KEY\":\"value\"},\"secrets\":{\"KEY\":\"value\"}} "
                   "(either may be left out; null removes a key)");
        return false;
    }
    if (secret_changes && !api->secret_key) {
        http_error(res, FL_ERR_UNAVAILABLE, "secrets are off: the Core has no secret key");
        return false;
    }
    if ((config_changes && !env_merge(config, config_changes, "config", detail, sizeof(detail))) ||
        (secret_changes &&
         !env_merge(secrets, secret_changes, "secrets", detail, sizeof(detail)))) {
        http_error(res, FL_ERR_BAD_REQUEST, "%s", detail);
        return false;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, config)
    {
        if (cJSON_GetObjectItemCaseSensitive(secrets, item->string)) {
            http_error(res, FL_ERR_BAD_REQUEST, "%s is both a configuration key and a secret",
                       item->string);
            return false;
        }
    }
    bool fits = env_bytes(config, secrets) <= ENV_BYTES_MAX;
    if (!fits)
        http_error(res, FL_ERR_TOO_LARGE,
                   "configuration and secrets take at most %d bytes together", ENV_BYTES_MAX);
    return fits;
}

/* Stores the maps (the secrets sealed), then installs them; answers. */
static void config_store(struct api *api, const struct fn_def *def, const cJSON *config,
                         const cJSON *secrets, struct http_response *res)
{
    char *config_text = cJSON_PrintUnformatted(config);
    char *secrets_plain = cJSON_GetArraySize(secrets) ? cJSON_PrintUnformatted(secrets) : NULL;
    char *sealed = secrets_plain
                       ? secrets_seal(api->secret_key, secrets_plain, strlen(secrets_plain))
                       : strdup("");
    if (secrets_plain)
        explicit_bzero(secrets_plain, strlen(secrets_plain));
    free(secrets_plain);
    char now[32], detail[256];
    api_now(now);
    enum fl_err err = config_text && sealed
                          ? db_function_set_config(api->db, def->module, def->name, config_text,
                                                   sealed, now, detail, sizeof(detail))
                          : FL_ERR_NOMEM;
    if (err == FL_OK && !env_install(api, def->module, def->name, config, secrets))
        err = FL_ERR_NOMEM;
    if (err == FL_OK)
        api_reply(res, 200, env_shown(config, secrets));
    else if (err == FL_ERR_NOT_FOUND)
        http_error(res, err, "function %s/%s not found", def->module, def->name);
    else
        api_store_error(res, err, "set the configuration", detail);
    free(config_text);
    free(sealed);
}

/* PUT .../config: sets and removes configuration keys and secrets; a call that starts after
 * the reply sees them (no code is sent again). */
void api_function_config_put(struct api *api, const struct route_args *args,
                             const struct http_request *req, struct http_response *res)
{
    struct fn_def def;
    if (!api_function_lookup(api, args, RIGHT_WRITE, res, &def))
        return;
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return;
    pthread_mutex_lock(&api->config_lock); /* read, merge, write: one change at a time */
    char *stored_config = NULL, *stored_secrets = NULL, detail[256];
    enum fl_err err = db_function_config(api->db, def.module, def.name, &stored_config,
                                         &stored_secrets, detail, sizeof(detail));
    cJSON *config = err == FL_OK ? cJSON_Parse(stored_config) : NULL;
    cJSON *secrets = err == FL_OK ? secrets_unseal(api, stored_secrets) : NULL;
    if (err != FL_OK)
        api_store_error(res, err, "read the configuration", detail);
    else if (!cJSON_IsObject(config) || !secrets)
        http_error(res, FL_ERR_STORE,
                   "the stored secrets cannot be opened with this Core's secret key");
    else if (config_apply(api, body, config, secrets, res))
        config_store(api, &def, config, secrets, res);
    pthread_mutex_unlock(&api->config_lock);
    cJSON_Delete(config);
    secrets_forget(secrets);
    free(stored_config);
    free(stored_secrets);
    cJSON_Delete(body);
}

/* ---- quotas ---- */

static bool api_subject_is_admin(struct api *api, const char *subject)
{
    struct auth_subject_info info;
    if (!auth_subject_info(api->auth, subject, &info))
        return false;
    free(info.quota);
    return info.admin;
}

bool api_upload_quota(struct api *api, const char *owner, uint64_t added_bytes, bool new_function,
                      struct http_response *res)
{
    if (!owner[0] || api_subject_is_admin(api, owner))
        return true; /* functions from before tenants, and admins', count against nothing */
    struct quota_limits limits = quotas_limits(api->quotas, owner);
    size_t functions;
    uint64_t bytes;
    catalogue_owned(api->catalogue, owner, &functions, &bytes);
    if (new_function && limits.functions && functions + 1 > limits.functions) {
        http_error(res, FL_ERR_FORBIDDEN, "quota: %s may have at most %u functions", owner,
                   limits.functions);
        return false;
    }
    if (limits.code_mb && bytes + added_bytes > (uint64_t)limits.code_mb << 20) {
        http_error(res, FL_ERR_FORBIDDEN, "quota: %s may have at most %u MiB of code", owner,
                   limits.code_mb);
        return false;
    }
    return true;
}

bool api_invoke_quota(struct api *api, const struct route_args *args, bool concurrent,
                      bool *counted, struct http_response *res)
{
    *counted = false;
    if (api_is_admin(args) || !api->quotas)
        return true;
    uint32_t retry_after_s = 1;
    switch (quota_admit(api->quotas, args->who.subject, concurrent, &retry_after_s)) {
    case QUOTA_OK:
        *counted = concurrent;
        return true;
    case QUOTA_RATE:
        http_error(res, FL_ERR_BUSY, "quota: %s invokes more often than its rate allows",
                   args->who.subject);
        break;
    case QUOTA_CONCURRENT:
        http_error(res, FL_ERR_BUSY, "quota: %s has as many invocations running as it may",
                   args->who.subject);
        break;
    }
    res->retry_after_s = retry_after_s;
    return false;
}

enum fl_err api_load_quotas(struct api *api, char *detail, size_t detail_len)
{
    size_t count;
    char **names = auth_subjects(api->auth, &count);
    enum fl_err err = names ? FL_OK : FL_ERR_NOMEM;
    for (size_t i = 0; names && i < count; i++) {
        struct auth_subject_info info;
        struct quota_override o;
        if (err == FL_OK && auth_subject_info(api->auth, names[i], &info)) {
            if (quota_parse(info.quota, &o, detail, detail_len) == FL_OK)
                quotas_set(api->quotas, names[i], &o);
            else
                fl_log(FL_LOG_ERROR, "quota_unreadable", "subject=%s detail=%s", names[i], detail);
            free(info.quota);
        }
        free(names[i]);
    }
    free(names);
    return err;
}

struct activation_retention *api_retention(void *arg, size_t *count)
{
    struct api *api = arg;
    size_t subjects;
    char **names = auth_subjects(api->auth, &subjects);
    struct activation_retention *out = calloc(subjects + 1, sizeof(*out));
    *count = 0;
    for (size_t i = 0; names && i < subjects; i++) {
        struct quota_limits limits = quotas_limits(api->quotas, names[i]);
        size_t owned = 0;
        char **modules = limits.keep_hours && out && !api_subject_is_admin(api, names[i])
                             ? catalogue_owned_modules(api->catalogue, names[i], &owned)
                             : NULL;
        char *joined = modules ? api_join_names(modules, owned) : NULL;
        if (joined && *joined) {
            out[*count].modules = joined;
            out[(*count)++].keep_hours = limits.keep_hours;
        } else {
            free(joined);
        }
        free(names[i]);
    }
    free(names);
    return out;
}

/* ---- subjects (admin) ---- */

void api_subjects_list(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    (void)args, (void)req;
    size_t count;
    char **names = auth_subjects(api->auth, &count);
    api_reply(res, 200, api_name_list(names, count));
}

/* `expires_in_seconds` of a body (absent: 0, never); false after answering 400. */
static bool token_expiry(const cJSON *body, int64_t *expires_ms, struct http_response *res)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, "expires_in_seconds");
    *expires_ms = 0;
    if (!in || cJSON_IsNull(in))
        return true;
    if (!cJSON_IsNumber(in) || in->valuedouble < 1 || in->valuedouble > 10.0 * 365 * 86400) {
        http_error(res, FL_ERR_BAD_REQUEST,
                   "expires_in_seconds must be a number of seconds from 1 to ten years");
        return false;
    }
    *expires_ms = fl_wall_ms() + (int64_t)(in->valuedouble * 1000);
    return true;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char text[32];
    if (!ms) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    fl_format_wall_ms(ms, text);
    cJSON_AddStringToObject(o, key, text);
}

void api_subject_create(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    (void)args;
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return;
    const cJSON *subject = cJSON_GetObjectItemCaseSensitive(body, "subject");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(subject, "name");
    int64_t expires_ms = 0;
    if (!cJSON_IsString(name)) {
        http_error(res, FL_ERR_BAD_REQUEST, "expected {\"subject\":{\"name\":...}}");
    } else if (api_check_name(name->valuestring, "subject", res) &&
               token_expiry(subject, &expires_ms, res)) {
        char token[AUTH_TOKEN_CHARS + 1], now[32], detail[256];
        api_now(now);
        enum fl_err err = auth_create_subject(api->auth, name->valuestring, false, expires_ms, now,
                                              token, detail, sizeof(detail));
        if (err == FL_OK) {
            cJSON *data = cJSON_CreateObject();
            cJSON_AddStringToObject(data, "name", name->valuestring);
            cJSON_AddStringToObject(data, "token", token);
            add_time(data, "token_expires", expires_ms);
            api_reply(res, 201, data);
        } else if (err == FL_ERR_EXISTS) {
            http_error_field(res, FL_ERR_INVALID_NAME, "name", "has already been taken",
                             "subject %s already exists", name->valuestring);
        } else {
            api_store_error(res, err, "create subject", detail);
        }
    }
    cJSON_Delete(body);
}

/* {"functions":N,"code_mb":X,"running":N}: what the subject uses now. */
static cJSON *subject_use(struct api *api, const char *subject)
{
    size_t functions;
    uint64_t bytes;
    catalogue_owned(api->catalogue, subject, &functions, &bytes);
    cJSON *use = cJSON_CreateObject();
    cJSON_AddNumberToObject(use, "functions", (double)functions);
    cJSON_AddNumberToObject(use, "code_mb", (double)(bytes * 100 / (1 << 20)) / 100);
    cJSON_AddNumberToObject(use, "running", quota_running(api->quotas, subject));
    return use;
}

void api_subject_get(struct api *api, const struct route_args *args, const struct http_request *req,
                     struct http_response *res)
{
    (void)req;
    const char *name = args->param[0];
    struct auth_subject_info info;
    if (!api_check_path_name(name, "subject", res))
        return;
    if (!auth_subject_info(api->auth, name, &info)) {
        http_error(res, FL_ERR_NOT_FOUND, "subject %s not found", name);
        return;
    }
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "name", name);
    cJSON_AddBoolToObject(data, "admin", info.admin);
    cJSON_AddStringToObject(data, "created_at", info.created_at);
    add_time(data, "token_expires", info.token_expires_ms);
    add_time(data, "previous_token_until",
             info.previous_until_ms > fl_wall_ms() ? info.previous_until_ms : 0);
    struct quota_limits limits = quotas_limits(api->quotas, name);
    if (info.admin)
        limits = (struct quota_limits){0};
    cJSON_AddItemToObject(data, "quota", quota_limits_json(&limits));
    cJSON *own = cJSON_Parse(info.quota);
    cJSON_AddItemToObject(data, "quota_set", own ? own : cJSON_CreateObject());
    cJSON_AddItemToObject(data, "use", subject_use(api, name));
    free(info.quota);
    api_reply(res, 200, data);
}

void api_subject_delete(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    (void)req;
    const char *name = args->param[0];
    char detail[256];
    if (!api_check_path_name(name, "subject", res))
        return;
    if (strcmp(name, args->who.subject) == 0) {
        http_error(res, FL_ERR_FORBIDDEN_OP, "a subject cannot delete itself");
        return;
    }
    enum fl_err err = auth_delete_subject(api->auth, name, detail, sizeof(detail));
    if (err == FL_OK) {
        /* what it owned passes to the admin deleting it: a later subject of the same name
         * inherits nothing */
        if (db_subject_transfer(api->db, name, args->who.subject, detail, sizeof(detail)) != FL_OK)
            fl_log(FL_LOG_ERROR, "subject_transfer_failed", "subject=%s detail=%s", name, detail);
        catalogue_transfer(api->catalogue, name, args->who.subject);
        quotas_remove(api->quotas, name);
        access_forget(api, name);
        api_no_content(res);
    } else if (err == FL_ERR_NOT_FOUND || err == FL_ERR_FORBIDDEN_OP) {
        http_error(res, err, "%s", detail);
    } else {
        api_store_error(res, err, "delete subject", detail);
    }
}

/* POST .../token {"grace_seconds":N,"expires_in_seconds":N} (both optional): a new token. */
void api_subject_rotate(struct api *api, const struct route_args *args,
                        const struct http_request *req, struct http_response *res)
{
    const char *name = args->param[0];
    if (!api_check_path_name(name, "subject", res))
        return;
    cJSON *body = req->body_len ? api_json_body(api, req, res) : cJSON_CreateObject();
    if (!body)
        return;
    const cJSON *grace = cJSON_GetObjectItemCaseSensitive(body, "grace_seconds");
    int64_t expires_ms = 0;
    if (grace &&
        (!cJSON_IsNumber(grace) || grace->valuedouble < 0 || grace->valuedouble > GRACE_MAX_S)) {
        http_error(res, FL_ERR_BAD_REQUEST, "grace_seconds must be from 0 to %d", GRACE_MAX_S);
    } else if (token_expiry(body, &expires_ms, res)) {
        char token[AUTH_TOKEN_CHARS + 1], detail[256];
        uint32_t grace_s = grace ? (uint32_t)grace->valuedouble : 0;
        enum fl_err err =
            auth_rotate(api->auth, name, grace_s, expires_ms, token, detail, sizeof(detail));
        if (err == FL_OK) {
            cJSON *data = cJSON_CreateObject();
            cJSON_AddStringToObject(data, "name", name);
            cJSON_AddStringToObject(data, "token", token);
            add_time(data, "token_expires", expires_ms);
            struct auth_subject_info info = {0}; /* the grace's end as auth_rotate set it */
            bool known = auth_subject_info(api->auth, name, &info);
            add_time(data, "previous_token_until", known ? info.previous_until_ms : 0);
            free(info.quota);
            api_reply(res, 200, data);
        } else if (err == FL_ERR_NOT_FOUND) {
            http_error(res, err, "subject %s not found", name);
        } else {
            api_store_error(res, err, "rotate the token", detail);
        }
    }
    cJSON_Delete(body);
}

/* PUT .../quota {"quota":{"rate":100,"functions":null,...}}: the subject's own values (null:
 * back to the default). */
void api_subject_quota(struct api *api, const struct route_args *args,
                       const struct http_request *req, struct http_response *res)
{
    const char *name = args->param[0];
    if (!api_check_path_name(name, "subject", res))
        return;
    cJSON *body = api_json_body(api, req, res);
    if (!body)
        return;
    const cJSON *quota = cJSON_GetObjectItemCaseSensitive(body, "quota");
    char *text = cJSON_IsObject(quota) ? cJSON_PrintUnformatted(quota) : NULL;
    struct quota_override o;
    char detail[256];
    enum fl_err err = text ? quota_parse(text, &o, detail, sizeof(detail))
                           : fl_fail(FL_ERR_BAD_REQUEST, detail, sizeof(detail),
                                     "expected {\"quota\":{\"rate\":N,...}}");
    char *stored = err == FL_OK ? quota_override_json(&o) : NULL;
    if (err == FL_OK)
        err =
            stored ? auth_set_quota(api->auth, name, stored, detail, sizeof(detail)) : FL_ERR_NOMEM;
    if (err == FL_OK && !quotas_set(api->quotas, name, &o))
        err = FL_ERR_NOMEM;
    if (err == FL_OK) {
        struct route_args get = {.param = {(char *)name}, .count = 1, .who = args->who};
        api_subject_get(api, &get, req, res);
    } else if (err == FL_ERR_BAD_REQUEST || err == FL_ERR_NOT_FOUND) {
        http_error(res, err, "%s", detail);
    } else {
        api_store_error(res, err, "set the quota", detail);
    }
    free(stored);
    free(text);
    cJSON_Delete(body);
}
