/*
 * cmd_tenants — the commands over tenants (docs/tenants.md): `fl fn config|secret`, `fl mod
 * share|unshare|access` and `fl admin user get|delete|rotate|quota`. A secret's value is read
 * from stdin, never from the command line (argv is visible to every user of the machine).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fl/fl.h"

enum { MAX_POSITIONAL = 64, SECRET_MAX = 32 << 10 };
enum { OPT_RIGHTS = 3000, OPT_GRACE, OPT_EXPIRES };

struct tenant_args {
    const char *positional[MAX_POSITIONAL];
    int count;
    const char *module;
    const char *rights;
    const char *grace, *expires_in;
};

/* Global options, -m, --rights, --grace and --expires-in, then the positional words after
 * `skip` words of argv. */
static int tenant_parse(struct fl_ctx *ctx, int argc, char **argv, int skip, const char *usage,
                        int min, int max, struct tenant_args *a)
{
    static const struct option longopts[] = {
        FL_GLOBAL_LONG,
        {"module", 1, 0, 'm'},
        {"rights", 1, 0, OPT_RIGHTS},
        {"grace", 1, 0, OPT_GRACE},
        {"expires-in", 1, 0, OPT_EXPIRES},
        {0, 0, 0, 0},
    };
    *a = (struct tenant_args){.module = "_", .rights = "read"};
    int opt;
    optind = 0; /* a fresh scan of this argv (glibc) */
    while ((opt = getopt_long(argc - skip + 1, argv + skip - 1, FL_GLOBAL_SHORT "m:", longopts,
                              NULL)) != -1) {
        if (opt == 'm')
            a->module = optarg;
        else if (opt == OPT_RIGHTS)
            a->rights = optarg;
        else if (opt == OPT_GRACE)
            a->grace = optarg;
        else if (opt == OPT_EXPIRES)
            a->expires_in = optarg;
        else if (opt == '?' || !fl_global_option(ctx, opt, optarg, usage))
            return opt == '?' ? fl_usage_error(usage, "bad option") : FLX_USAGE;
    }
    for (int i = skip - 1 + optind; i < argc; i++) {
        if (a->count == max)
            return fl_usage_error(usage, "unexpected '%s'", argv[i]);
        a->positional[a->count++] = argv[i];
    }
    return a->count < min ? fl_usage_error(usage, "missing arguments") : FLX_OK;
}

static char *print_json(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    return text;
}

/* ---- fl fn config | secret ---- */

static void config_path(const struct tenant_args *a, char *path, size_t len)
{
    char module[512], fn[512];
    fl_escape(a->module, module, sizeof(module));
    fl_escape(a->positional[0], fn, sizeof(fn));
    snprintf(path, len, "/v1/fn/%s/%s/config", module, fn);
}

/* PUT {"<map>":{...}} with `changes`; prints `sentence`. */
static int config_put(struct fl_ctx *ctx, const struct tenant_args *a, const char *map,
                      cJSON *changes, const char *sentence)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, map, changes);
    char *json = print_json(body), path[1200];
    config_path(a, path, sizeof(path));
    struct fl_request req = {.method = "PUT", .path = path, .json = json};
    int rc = fl_call_say(ctx, &req, 200, sentence, a->positional[0]);
    if (json)
        explicit_bzero(json, strlen(json)); /* it may hold a secret */
    free(json);
    return rc;
}

static int config_set(struct fl_ctx *ctx, const struct tenant_args *a)
{
    cJSON *changes = cJSON_CreateObject();
    for (int i = 1; i < a->count; i++) {
        const char *eq = strchr(a->positional[i], '=');
        if (!eq || eq == a->positional[i]) {
            cJSON_Delete(changes);
            return fl_usage_error(NULL, "'%s' is not KEY=VALUE", a->positional[i]);
        }
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - a->positional[i]), a->positional[i]);
        cJSON_AddStringToObject(changes, key, eq + 1); /* values are text, as in an environment */
    }
    return config_put(ctx, a, "config", changes, "configuration of %s set\n");
}

static int config_unset(struct fl_ctx *ctx, const struct tenant_args *a, const char *map)
{
    cJSON *changes = cJSON_CreateObject();
    for (int i = 1; i < a->count; i++)
        cJSON_AddNullToObject(changes, a->positional[i]);
    return config_put(ctx, a, map, changes,
                      strcmp(map, "config") == 0 ? "configuration of %s changed\n"
                                                 : "secrets of %s changed\n");
}

/* A secret's value from stdin: all of it, less one trailing newline (echo, a here-string). */
static char *secret_from_stdin(void)
{
    char *value = malloc(SECRET_MAX + 1);
    size_t len = value ? fread(value, 1, SECRET_MAX + 1, stdin) : 0;
    if (!value || len > SECRET_MAX) {
        free(value);
        return NULL;
    }
    if (len && value[len - 1] == '\n')
        len--;
    if (len && value[len - 1] == '\r')
        len--;
    value[len] = '\0';
    return value;
}

static int secret_set(struct fl_ctx *ctx, const struct tenant_args *a)
{
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "value of %s (then Ctrl-D): ", a->positional[1]);
    char *value = secret_from_stdin();
    if (!value)
        return fl_usage_error(NULL, "the secret's value (stdin) is larger than %d bytes",
                              SECRET_MAX);
    cJSON *changes = cJSON_CreateObject();
    cJSON_AddStringToObject(changes, a->positional[1], value);
    explicit_bzero(value, strlen(value));
    free(value);
    int rc = config_put(ctx, a, "secrets", changes, "secret of %s set\n");
    return rc;
}

int fl_fn_config(struct fl_ctx *ctx, int argc, char **argv)
{
    static const char usage[] = "fl fn config get|set|unset NAME [KEY=VALUE ...|KEY ...] "
                                "[-m MODULE]";
    const char *verb = argc > 1 ? argv[1] : "";
    struct tenant_args a;
    bool get = strcmp(verb, "get") == 0;
    if (!get && strcmp(verb, "set") != 0 && strcmp(verb, "unset") != 0)
        return fl_usage_error(usage, "fl fn config takes get, set or unset");
    int rc = tenant_parse(ctx, argc, argv, 2, usage, get ? 1 : 2, get ? 1 : MAX_POSITIONAL, &a);
    if (rc != FLX_OK)
        return rc;
    if (get) {
        char path[1200];
        config_path(&a, path, sizeof(path));
        struct fl_request req = {.method = "GET", .path = path};
        return fl_call_print(ctx, &req, 200, NULL, NULL);
    }
    return strcmp(verb, "set") == 0 ? config_set(ctx, &a) : config_unset(ctx, &a, "config");
}

int fl_fn_secret(struct fl_ctx *ctx, int argc, char **argv)
{
    static const char usage[] = "fl fn secret set NAME KEY [-m MODULE]   (the value from stdin)\n"
                                "       fl fn secret unset NAME KEY ... [-m MODULE]";
    const char *verb = argc > 1 ? argv[1] : "";
    struct tenant_args a;
    bool set = strcmp(verb, "set") == 0;
    if (!set && strcmp(verb, "unset") != 0)
        return fl_usage_error(usage, "fl fn secret takes set or unset");
    int rc = tenant_parse(ctx, argc, argv, 2, usage, 2, set ? 2 : MAX_POSITIONAL, &a);
    if (rc != FLX_OK)
        return rc;
    return set ? secret_set(ctx, &a) : config_unset(ctx, &a, "secrets");
}

/* ---- fl mod share | unshare | access ---- */

static void access_path(const char *module, char *path, size_t len)
{
    char escaped[512];
    fl_escape(module, escaped, sizeof(escaped));
    snprintf(path, len, "/v1/fn/%s/access", escaped);
}

/* The rights list of "read,invoke" (NULL after a message). */
static cJSON *rights_list(const char *text)
{
    cJSON *list = cJSON_CreateArray();
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", text);
    for (char *save = NULL, *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
        if (strcmp(r, "read") != 0 && strcmp(r, "invoke") != 0 && strcmp(r, "write") != 0) {
            cJSON_Delete(list);
            fl_usage_error(NULL, "a right is read, invoke or write (not '%s')", r);
            return NULL;
        }
        cJSON_AddItemToArray(list, cJSON_CreateString(r));
    }
    return list;
}

/* Reads the module's access list, drops `subject` from it, adds it back with `rights` (NULL:
 * not), and writes the list. */
static int access_change(struct fl_ctx *ctx, const char *module, const char *subject, cJSON *rights,
                         const char *sentence)
{
    char path[600];
    access_path(module, path, sizeof(path));
    struct fl_request get = {.method = "GET", .path = path};
    struct fl_reply reply;
    int rc = fl_expect(ctx, &get, 200, &reply);
    if (rc != FLX_OK) {
        cJSON_Delete(rights);
        return rc;
    }
    cJSON *access =
        cJSON_DetachItemFromObject(fl_reply_data(&reply), "access") ?: cJSON_CreateArray();
    fl_reply_free(&reply);
    for (int i = cJSON_GetArraySize(access) - 1; i >= 0; i--) {
        const cJSON *entry = cJSON_GetArrayItem(access, i);
        const char *who = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "subject"));
        if (who && strcmp(who, subject) == 0)
            cJSON_DeleteItemFromArray(access, i);
    }
    if (rights) {
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "subject", subject);
        cJSON_AddItemToObject(entry, "rights", rights);
        cJSON_AddItemToArray(access, entry);
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "access", access);
    char *json = print_json(body);
    struct fl_request put = {.method = "PUT", .path = path, .json = json};
    char what[400];
    snprintf(what, sizeof(what), "%.190s with %.190s", module, subject);
    rc = fl_call_say(ctx, &put, 200, sentence, what);
    free(json);
    return rc;
}

int fl_mod_access(struct fl_ctx *ctx, int argc, char **argv)
{
    const char *verb = argv[1];
    struct tenant_args a;
    if (strcmp(verb, "access") == 0) {
        int rc = tenant_parse(ctx, argc, argv, 2, "fl mod access MODULE", 1, 1, &a);
        if (rc != FLX_OK)
            return rc;
        char path[600];
        access_path(a.positional[0], path, sizeof(path));
        struct fl_request req = {.method = "GET", .path = path};
        static const char *const columns[] = {"subject", "rights", NULL};
        return fl_call_print(ctx, &req, 200, columns, "access");
    }
    bool share = strcmp(verb, "share") == 0;
    const char *usage = share ? "fl mod share MODULE SUBJECT|'*' [--rights read,invoke,write]"
                              : "fl mod unshare MODULE SUBJECT|'*'";
    int rc = tenant_parse(ctx, argc, argv, 2, usage, 2, 2, &a);
    if (rc != FLX_OK)
        return rc;
    cJSON *rights = share ? rights_list(a.rights) : NULL;
    if (share && !rights)
        return FLX_USAGE;
    return access_change(ctx, a.positional[0], a.positional[1], rights,
                         share ? "shared %s\n" : "no longer shared: %s\n");
}

/* ---- fl admin user get | delete | rotate | quota ---- */

static void subject_path(const char *name, const char *tail, char *path, size_t len)
{
    char escaped[512];
    fl_escape(name, escaped, sizeof(escaped));
    snprintf(path, len, "/v1/admin/subjects/%s%s", escaped, tail);
}

static bool whole_seconds(const char *text)
{
    return text && *text && strspn(text, "0123456789") == strlen(text) && strlen(text) < 10;
}

static int user_rotate(struct fl_ctx *ctx, const struct tenant_args *a)
{
    cJSON *body = cJSON_CreateObject();
    if (a->grace && !whole_seconds(a->grace)) {
        cJSON_Delete(body);
        return fl_usage_error(NULL, "--grace takes whole seconds");
    }
    if (a->expires_in && !whole_seconds(a->expires_in)) {
        cJSON_Delete(body);
        return fl_usage_error(NULL, "--expires-in takes whole seconds");
    }
    if (a->grace)
        cJSON_AddNumberToObject(body, "grace_seconds", atof(a->grace));
    if (a->expires_in)
        cJSON_AddNumberToObject(body, "expires_in_seconds", atof(a->expires_in));
    char *json = print_json(body), path[600];
    subject_path(a->positional[0], "/token", path, sizeof(path));
    struct fl_request req = {.method = "POST", .path = path, .admin = true, .json = json};
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, 200, &reply);
    free(json);
    if (rc != FLX_OK)
        return rc;
    const cJSON *data = fl_reply_data(&reply);
    const char *token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "token"));
    if (ctx->output == FL_OUT_TABLE && token)
        printf("new token of %s (shown only now): %s\n%s", a->positional[0], token,
               a->grace ? "the previous one works until the grace ends\n"
                        : "the previous one no longer works\n");
    else
        fl_print_object(ctx, data);
    fl_reply_free(&reply);
    return FLX_OK;
}

/* KEY=N or KEY=default (back to the Core's default) for each quota named. */
static int user_quota(struct fl_ctx *ctx, const struct tenant_args *a)
{
    cJSON *quota = cJSON_CreateObject();
    for (int i = 1; i < a->count; i++) {
        const char *eq = strchr(a->positional[i], '=');
        char key[64];
        if (!eq || (!whole_seconds(eq + 1) && strcmp(eq + 1, "default") != 0)) {
            cJSON_Delete(quota);
            return fl_usage_error(NULL, "'%s' is not KEY=NUMBER or KEY=default", a->positional[i]);
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - a->positional[i]), a->positional[i]);
        if (strcmp(eq + 1, "default") == 0)
            cJSON_AddNullToObject(quota, key);
        else
            cJSON_AddNumberToObject(quota, key, atof(eq + 1));
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "quota", quota);
    char *json = print_json(body), path[600];
    subject_path(a->positional[0], "/quota", path, sizeof(path));
    struct fl_request req = {.method = "PUT", .path = path, .admin = true, .json = json};
    int rc = fl_call_print(ctx, &req, 200, NULL, NULL);
    free(json);
    return rc;
}

int fl_admin_user(struct fl_ctx *ctx, int argc, char **argv)
{
    const char *verb = argc > 2 ? argv[2] : "";
    struct tenant_args a;
    char path[600];
    if (strcmp(verb, "rotate") == 0 || strcmp(verb, "quota") == 0) {
        bool rotate = verb[0] == 'r';
        int rc = tenant_parse(ctx, argc, argv, 3,
                              rotate ? "fl admin user rotate NAME [--grace S] [--expires-in S]"
                                     : "fl admin user quota NAME KEY=N|KEY=default ... (keys: "
                                       "functions, code_mb, rate, concurrent, keep_hours)",
                              rotate ? 1 : 2, rotate ? 1 : MAX_POSITIONAL, &a);
        return rc != FLX_OK ? rc : rotate ? user_rotate(ctx, &a) : user_quota(ctx, &a);
    }
    bool get = strcmp(verb, "get") == 0;
    if (!get && strcmp(verb, "delete") != 0)
        return fl_usage_error(NULL, "fl admin user takes create, list, get, delete, rotate or "
                                    "quota");
    int rc = tenant_parse(ctx, argc, argv, 3,
                          get ? "fl admin user get NAME" : "fl admin user delete NAME", 1, 1, &a);
    if (rc != FLX_OK)
        return rc;
    subject_path(a.positional[0], "", path, sizeof(path));
    struct fl_request req = {.method = get ? "GET" : "DELETE", .path = path, .admin = true};
    return get ? fl_call_print(ctx, &req, 200, NULL, NULL)
               : fl_call_say(ctx, &req, 204, "user %s deleted; its tokens no longer work\n",
                             a.positional[0]);
}
