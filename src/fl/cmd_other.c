/*
 * cmd_other — `fl mod`, `fl app`, `fl admin` and `fl cfg`: thin commands
 * over one REST call each (cfg: over ~/.fl/config).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fl/config.h"
#include "fl/fl.h"

/*
 * Parses the global options and exactly `want` positional arguments after `skip` words
 * (the group and its verbs) into `pos`. Returns FLX_OK or the usage error's code.
 */
static int parse_args(struct fl_ctx *ctx, int argc, char **argv, int skip, const char *usage,
                      int want, const char **pos)
{
    static const struct option longopts[] = {FL_GLOBAL_LONG, {"count", 0, 0, 'c'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc - skip + 1, argv + skip - 1, FL_GLOBAL_SHORT "c", longopts,
                              NULL)) != -1)
        if (opt == 'c')
            ctx->count = true; /* FunLess's -c/--count: "Count: N" after a list */
        else if (opt == '?' || !fl_global_option(ctx, opt, optarg, usage))
            return opt == '?' ? fl_usage_error(usage, "bad option") : FLX_USAGE;
    int count = argc - skip + 1 - optind;
    if (count != want)
        return fl_usage_error(usage, count < want ? "missing arguments" : "too many arguments");
    for (int i = 0; i < count; i++)
        pos[i] = argv[skip - 1 + optind + i];
    return FLX_OK;
}

/* A verb: its name, how many arguments, and the call it makes. */
struct verb {
    const char *name;
    const char *usage;
    int args;
    int (*run)(struct fl_ctx *ctx, const char **pos);
};

static int dispatch(struct fl_ctx *ctx, int argc, char **argv, int skip, const struct verb *verbs,
                    size_t count, const char *what)
{
    const char *name = argc >= skip ? argv[skip - 1] : "";
    for (size_t i = 0; i < count; i++)
        if (strcmp(verbs[i].name, name) == 0) {
            const char *pos[3] = {0};
            int rc = parse_args(ctx, argc, argv, skip, verbs[i].usage, verbs[i].args, pos);
            return rc == FLX_OK ? verbs[i].run(ctx, pos) : rc;
        }
    return fl_usage_error(NULL, "%s", what);
}

static const char *const name_column[] = {"name", NULL};

/* "{"<object>":{"name":NAME}}" (caller frees). */
static char *named_body(const char *object, const char *name)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(body, object), "name", name);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return text;
}

static void module_path(const char *name, char *path, size_t len)
{
    char escaped[512];
    fl_escape(name, escaped, sizeof(escaped));
    snprintf(path, len, "/v1/fn/%s", escaped);
}

/* ---- fl mod ---- */

/* Names one per line, then "Count: N" with -c: FunLess's fl's lines, which scripts read. */
static void print_names(const struct fl_ctx *ctx, const cJSON *list)
{
    const cJSON *item;
    int count = 0;
    cJSON_ArrayForEach(item, list)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "name"));
        if (name) {
            printf("%s\n", name);
            count++;
        }
    }
    if (ctx->count)
        printf("Count: %d\n", count);
}

/* One GET; `data` (or its `list_key`) as FunLess's lines in table mode, after `header`. */
static int print_listing(struct fl_ctx *ctx, const char *path, const char *list_key,
                         const char *header, const char *name)
{
    struct fl_request req = {.method = "GET", .path = path};
    if (ctx->output != FL_OUT_TABLE)
        return fl_call_print(ctx, &req, 200, name_column, list_key);
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, 200, &reply);
    if (rc != FLX_OK)
        return rc;
    const cJSON *data = fl_reply_data(&reply);
    if (header)
        printf(header, name);
    print_names(ctx, list_key ? cJSON_GetObjectItemCaseSensitive(data, list_key) : data);
    fl_reply_free(&reply);
    return FLX_OK;
}

static int mod_list(struct fl_ctx *ctx, const char **pos)
{
    (void)pos;
    return print_listing(ctx, "/v1/fn", NULL, NULL, NULL);
}

static int mod_get(struct fl_ctx *ctx, const char **pos)
{
    char path[600];
    module_path(pos[0], path, sizeof(path));
    return print_listing(ctx, path, "functions", "Module: %s\nFunctions:\n", pos[0]);
}

static int mod_create(struct fl_ctx *ctx, const char **pos)
{
    char *body = named_body("module", pos[0]);
    struct fl_request req = {.method = "POST", .path = "/v1/fn", .json = body};
    int rc = fl_call_say(ctx, &req, 201, "Successfully created module %s.\n", pos[0]);
    free(body);
    return rc;
}

static int mod_update(struct fl_ctx *ctx, const char **pos)
{
    char path[600], *body = named_body("module", pos[1]), what[400];
    module_path(pos[0], path, sizeof(path));
    snprintf(what, sizeof(what), "%.190s to %.190s", pos[0], pos[1]);
    struct fl_request req = {.method = "PUT", .path = path, .json = body};
    int rc = fl_call_say(ctx, &req, 200, "Successfully renamed module %s.\n", what);
    free(body);
    return rc;
}

static int mod_delete(struct fl_ctx *ctx, const char **pos)
{
    char path[600];
    module_path(pos[0], path, sizeof(path));
    struct fl_request req = {.method = "DELETE", .path = path};
    return fl_call_say(ctx, &req, 204, "Successfully deleted module %s.\n", pos[0]);
}

int fl_cmd_mod(struct fl_ctx *ctx, int argc, char **argv)
{
    static const struct verb verbs[] = {
        {"list", "fl mod list [-c]", 0, mod_list},
        {"get", "fl mod get NAME [-c]", 1, mod_get},
        {"create", "fl mod create NAME", 1, mod_create},
        {"update", "fl mod update NAME NEW_NAME", 2, mod_update},
        {"delete", "fl mod delete NAME", 1, mod_delete},
    };
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "share") == 0 || strcmp(verb, "unshare") == 0 || strcmp(verb, "access") == 0)
        return fl_mod_access(ctx, argc, argv);
    return dispatch(ctx, argc, argv, 2, verbs, ARRAY_SIZE(verbs),
                    "fl mod takes list, get, create, update, delete, share, unshare or access");
}

/* ---- fl app ---- */

static void script_path(const char *name, char *path, size_t len)
{
    char escaped[512];
    fl_escape(name ? name : "", escaped, sizeof(escaped));
    snprintf(path, len, "/v1/scripts/app%s%s", name ? "/" : "", escaped);
}

static int app_list(struct fl_ctx *ctx, const char **pos)
{
    (void)pos;
    struct fl_request req = {.method = "GET", .path = "/v1/scripts/app"};
    return fl_call_print(ctx, &req, 200, name_column, NULL);
}

static int app_get(struct fl_ctx *ctx, const char **pos)
{
    char path[600];
    script_path(pos[0], path, sizeof(path));
    struct fl_request req = {.method = "GET", .path = path};
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, 200, &reply);
    if (rc != FLX_OK)
        return rc;
    const cJSON *data = fl_reply_data(&reply);
    if (ctx->output == FL_OUT_QUIET) {
        fl_print_object(ctx, data);
    } else { /* a script is a tree: JSON reads best for people too */
        fl_print_json(
            ctx->output == FL_OUT_JSON ? data : cJSON_GetObjectItemCaseSensitive(data, "script"));
    }
    fl_reply_free(&reply);
    return FLX_OK;
}

static int app_send(struct fl_ctx *ctx, const char **pos, bool create)
{
    FILE *f = fopen(pos[1], "rb");
    if (!f)
        return fl_usage_error(NULL, "cannot read %s", pos[1]);
    char *yaml = malloc(1 << 20);
    size_t len = yaml ? fread(yaml, 1, 1 << 20, f) : 0;
    bool whole = yaml && feof(f);
    fclose(f);
    if (!whole) {
        free(yaml);
        return fl_usage_error(NULL, "%s is larger than 1 MiB", pos[1]);
    }
    char path[600];
    script_path(create ? NULL : pos[0], path, sizeof(path));
    struct fl_part parts[] = {
        {"name", pos[0], strlen(pos[0]), NULL}, {"file", yaml, len, "script.yaml"}, {0}};
    struct fl_request req = {create ? "POST" : "PUT", path, false, NULL, parts, false};
    int rc = fl_call_say(ctx, &req, create ? 201 : 200,
                         create ? "APP script %s uploaded\n" : "APP script %s updated\n", pos[0]);
    free(yaml);
    return rc;
}

static int app_upload(struct fl_ctx *ctx, const char **pos)
{
    return app_send(ctx, pos, true);
}

static int app_update(struct fl_ctx *ctx, const char **pos)
{
    return app_send(ctx, pos, false);
}

static int app_delete(struct fl_ctx *ctx, const char **pos)
{
    char path[600];
    script_path(pos[0], path, sizeof(path));
    struct fl_request req = {.method = "DELETE", .path = path};
    return fl_call_say(ctx, &req, 204, "APP script %s deleted\n", pos[0]);
}

int fl_cmd_app(struct fl_ctx *ctx, int argc, char **argv)
{
    static const struct verb verbs[] = {
        {"list", "fl app list", 0, app_list},
        {"get", "fl app get NAME", 1, app_get},
        {"upload", "fl app upload NAME FILE.yaml", 2, app_upload},
        {"update", "fl app update NAME FILE.yaml", 2, app_update},
        {"delete", "fl app delete NAME", 1, app_delete},
    };
    return dispatch(ctx, argc, argv, 2, verbs, ARRAY_SIZE(verbs),
                    "fl app takes list, get, upload, update or delete");
}

/* ---- fl admin ---- */

static int user_create(struct fl_ctx *ctx, const char **pos)
{
    char *body = named_body("subject", pos[0]);
    struct fl_request req = {
        .method = "POST", .path = "/v1/admin/subjects", .admin = true, .json = body};
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, 201, &reply);
    free(body);
    if (rc != FLX_OK)
        return rc;
    const cJSON *data = fl_reply_data(&reply);
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(data, "token");
    if (ctx->output == FL_OUT_TABLE && cJSON_IsString(token)) /* FunLess's lines */
        printf("User %s created. Auth token:\n%s\n", pos[0], token->valuestring);
    else
        fl_print_object(ctx, data);
    fl_reply_free(&reply);
    return FLX_OK;
}

static int user_list(struct fl_ctx *ctx, const char **pos)
{
    (void)pos;
    struct fl_request req = {.method = "GET", .path = "/v1/admin/subjects", .admin = true};
    if (ctx->output != FL_OUT_TABLE)
        return fl_call_print(ctx, &req, 200, name_column, NULL);
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, 200, &reply);
    if (rc != FLX_OK)
        return rc;
    printf("Users:\n"); /* FunLess's lines */
    const cJSON *item;
    cJSON_ArrayForEach(item, fl_reply_data(&reply))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "name"));
        if (name)
            printf("- %s\n", name);
    }
    fl_reply_free(&reply);
    return FLX_OK;
}

static int worker_list(struct fl_ctx *ctx, const char **pos)
{
    (void)pos;
    static const char *const columns[] = {"name",      "address", "connected", "free_mem",
                                          "total_mem", "load",    "in_flight", NULL};
    struct fl_request req = {.method = "GET", .path = "/v1/admin/workers", .admin = true};
    return fl_call_print(ctx, &req, 200, columns, NULL);
}

static int worker_connect(struct fl_ctx *ctx, const char **pos)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "address", pos[0]);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    struct fl_request req = {
        .method = "POST", .path = "/v1/admin/workers", .admin = true, .json = json};
    int rc = fl_call_say(ctx, &req, 201, "connecting to the Worker at %s\n", pos[0]);
    free(json);
    return rc;
}

int fl_cmd_admin(struct fl_ctx *ctx, int argc, char **argv)
{
    static const struct verb users[] = {
        {"create", "fl admin user create NAME", 1, user_create},
        {"list", "fl admin user list", 0, user_list},
    };
    static const struct verb workers[] = {
        {"list", "fl admin worker list", 0, worker_list},
        {"connect", "fl admin worker connect HOST:PORT", 1, worker_connect},
    };
    const char *what = argc > 1 ? argv[1] : "";
    const char *verb = argc > 2 ? argv[2] : "";
    if (strcmp(what, "deploy") == 0) { /* FunLess's fl drives Docker and Kubernetes */
        fprintf(stderr, "fl: deploying is not fl's job here: funless dev runs the platform on "
                        "one machine; deploy/ holds the systemd units, the Compose file and the "
                        "Kubernetes manifests (README, docs/funless.md)\n");
        return FLX_USAGE;
    }
    if (strcmp(what, "user") == 0 && strcmp(verb, "create") != 0 && strcmp(verb, "list") != 0)
        return fl_admin_user(ctx, argc, argv);
    if (strcmp(what, "user") == 0)
        return dispatch(ctx, argc, argv, 3, users, 2, "fl admin user takes create or list");
    if (strcmp(what, "worker") == 0)
        return dispatch(ctx, argc, argv, 3, workers, 2, "fl admin worker takes list or connect");
    return fl_usage_error(NULL, "fl admin takes user or worker");
}

/* ---- fl template (FunLess's): the starters fl carries ---- */

int fl_cmd_template(struct fl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "list") == 0) {
        printf("c\nrust\n");
        return FLX_OK;
    }
    if (strcmp(verb, "pull") == 0) {
        printf("fl carries its templates: fl fn new NAME -l c|rust\n");
        return FLX_OK;
    }
    return fl_usage_error(NULL, "fl template takes list or pull");
}

/* ---- fl cfg ---- */

static int cfg_path(char *path, size_t len)
{
    if (fl_config_path(path, len))
        return FLX_OK;
    fprintf(stderr, "fl: HOME is not set: no ~/.fl/config\n");
    return FLX_USAGE;
}

static int cfg_set(struct fl_ctx *ctx, const char **pos)
{
    (void)ctx;
    char path[4096];
    if (!fl_config_key_valid(pos[0]))
        return fl_usage_error(NULL, "unknown setting '%s' (api_host, api_token, admin_token)",
                              pos[0]);
    int rc = cfg_path(path, sizeof(path));
    if (rc == FLX_OK && !fl_config_set(path, pos[0], pos[1])) {
        fprintf(stderr, "fl: cannot write %s: %m\n", path);
        rc = FLX_SERVER;
    }
    return rc;
}

static int cfg_get(struct fl_ctx *ctx, const char **pos)
{
    (void)ctx;
    char path[4096], value[4096];
    if (!fl_config_key_valid(pos[0]))
        return fl_usage_error(NULL, "unknown setting '%s' (api_host, api_token, admin_token)",
                              pos[0]);
    int rc = cfg_path(path, sizeof(path));
    if (rc != FLX_OK)
        return rc;
    if (!fl_config_get(path, pos[0], value, sizeof(value))) {
        fprintf(stderr, "fl: %s is not set in %s\n", pos[0], path);
        return FLX_NOT_FOUND;
    }
    puts(value);
    return FLX_OK;
}

int fl_cmd_cfg(struct fl_ctx *ctx, int argc, char **argv)
{
    static const struct verb verbs[] = {
        {"set", "fl cfg set KEY VALUE", 2, cfg_set},
        {"get", "fl cfg get KEY", 1, cfg_get},
    };
    return dispatch(ctx, argc, argv, 2, verbs, 2, "fl cfg takes set or get");
}
