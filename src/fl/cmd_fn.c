/*
 * cmd_fn — `fl fn ...`: functions (upload, update, get, list, delete,
 * invoke) and, through cmd_build.c, building them from source.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fl/fl.h"

enum { MAX_ARGS = 256, MAX_FILE_BYTES = 256 << 20 };

enum fn_flag {
    F_MODULE = 1 << 0,
    F_UPLOAD = 1 << 1, /* --memory-mb --timeout-ms --tag --no-wait */
    F_LANG = 1 << 2,
    F_OUT_FILE = 1 << 3, /* -o is the output file, not the output format */
    F_INVOKE = 1 << 4,   /* -a -j --script */
    F_DEST = 1 << 5,     /* -d DIR: where the .wasm goes (FunLess's fn build) */
    F_NEW_DIRS = 1 << 6, /* -o DIR and -t DIR (FunLess's fn new) */
};

enum { OPT_MEMORY = 2000, OPT_TIMEOUT, OPT_TAG, OPT_NO_WAIT, OPT_SCRIPT, OPT_ASYNC };

struct fn_args {
    const char *positional[3];
    int count;
    const char *module;
    const char *memory_mb, *timeout_ms, *tag;
    bool no_wait;
    const char *language, *out_file, *dest_dir, *out_dir;
    const char *json, *script;
    bool async;
    const char *pairs[MAX_ARGS];
    int pair_count;
};

struct fn_verb {
    const char *name;
    const char *usage;
    unsigned flags;
    int positional; /* exactly this many */
    int (*run)(struct fl_ctx *ctx, const struct fn_args *a);
};

/* ---- reading local files ---- */

/* The whole file (or stdin for "-"); NULL after a message. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fl: cannot read %s: %m\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *data = malloc(cap + 1);
    while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap && cap < MAX_FILE_BYTES) {
            char *grown = realloc(data, cap * 2 + 1);
            if (!grown) {
                free(data);
                data = NULL;
            }
            data = grown;
            cap *= 2;
        } else if (n == cap) {
            fprintf(stderr, "fl: %s is larger than %d MiB\n", path, MAX_FILE_BYTES >> 20);
            free(data);
            data = NULL;
        }
    }
    if (f != stdin)
        fclose(f);
    if (data) {
        data[n] = '\0';
        *len = n;
    }
    return data;
}

/* A Wasm binary's header: "\0asm" version 1. */
static bool looks_like_wasm(const char *data, size_t len)
{
    return len >= 8 && memcmp(data, "\0asm\1\0\0\0", 8) == 0;
}

/* ---- upload and update ---- */

/* {"tag","capacity","timeout_ms"} from the flags, or NULL when none was given. */
static char *metadata_json(const struct fn_args *a)
{
    if (!a->memory_mb && !a->timeout_ms && !a->tag)
        return NULL;
    cJSON *meta = cJSON_CreateObject();
    if (a->tag)
        cJSON_AddStringToObject(meta, "tag", a->tag);
    if (a->memory_mb)
        cJSON_AddNumberToObject(meta, "capacity", strtod(a->memory_mb, NULL));
    if (a->timeout_ms)
        cJSON_AddNumberToObject(meta, "timeout_ms", strtod(a->timeout_ms, NULL));
    char *text = cJSON_PrintUnformatted(meta);
    cJSON_Delete(meta);
    return text;
}

static bool whole_number(const char *text)
{
    return text && text[0] && strspn(text, "0123456789") == strlen(text) && strlen(text) < 10;
}

/* Sends code that is already in memory: POST (create) or PUT (update). */
static int send_code(struct fl_ctx *ctx, const struct fn_args *a, const char *name,
                     const char *code, size_t len, const char *filename, bool create)
{
    if (!looks_like_wasm(code, len))
        return fl_usage_error(NULL, "%s is not a WebAssembly binary", filename);
    if ((a->memory_mb && !whole_number(a->memory_mb)) ||
        (a->timeout_ms && !whole_number(a->timeout_ms)))
        return fl_usage_error(NULL, "--memory-mb and --timeout-ms take whole numbers");
    char module[512], fn[512], path[1100];
    fl_escape(a->module, module, sizeof(module));
    fl_escape(name, fn, sizeof(fn));
    snprintf(path, sizeof(path), create ? "/v1/fn/%s" : "/v1/fn/%s/%s", module, fn);
    char *meta = metadata_json(a);
    const char *wait = a->no_wait ? "false" : "true";
    struct fl_part parts[5] = {{"name", name, strlen(name), NULL},
                               {"code", code, len, filename},
                               {"wait_for_workers", wait, strlen(wait), NULL}};
    if (meta)
        parts[3] = (struct fl_part){"metadata", meta, strlen(meta), NULL};
    struct fl_request req = {create ? "POST" : "PUT", path, false, NULL, parts, true};
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, create ? 201 : 200, &reply);
    free(meta);
    if (rc != FLX_OK)
        return rc;
    if (ctx->output == FL_OUT_TABLE)
        printf("function %s/%s %s (%zu bytes)\n", a->module, name, create ? "uploaded" : "updated",
               len);
    else
        fl_print_object(ctx, fl_reply_data(&reply));
    fl_reply_free(&reply);
    return FLX_OK;
}

static int upload_file(struct fl_ctx *ctx, const struct fn_args *a, bool create)
{
    size_t len;
    char *code = read_file(a->positional[1], &len);
    if (!code)
        return FLX_USAGE;
    const char *slash = strrchr(a->positional[1], '/');
    int rc = send_code(ctx, a, a->positional[0], code, len, slash ? slash + 1 : a->positional[1],
                       create);
    free(code);
    return rc;
}

static int fn_upload(struct fl_ctx *ctx, const struct fn_args *a)
{
    return upload_file(ctx, a, true);
}

static int fn_update(struct fl_ctx *ctx, const struct fn_args *a)
{
    return upload_file(ctx, a, false);
}

/* ---- reading and deleting ---- */

static void function_path(const struct fn_args *a, char *path, size_t len)
{
    char module[512], fn[512];
    fl_escape(a->module, module, sizeof(module));
    fl_escape(a->positional[0], fn, sizeof(fn));
    snprintf(path, len, "/v1/fn/%s/%s", module, fn);
}

static int fn_get(struct fl_ctx *ctx, const struct fn_args *a)
{
    char path[1100];
    function_path(a, path, sizeof(path));
    struct fl_request req = {.method = "GET", .path = path};
    return fl_call_print(ctx, &req, 200, NULL, NULL);
}

static int fn_list(struct fl_ctx *ctx, const struct fn_args *a)
{
    char module[512], path[600];
    fl_escape(a->module, module, sizeof(module));
    snprintf(path, sizeof(path), "/v1/fn/%s", module);
    struct fl_request req = {.method = "GET", .path = path};
    static const char *const columns[] = {"name", NULL};
    return fl_call_print(ctx, &req, 200, columns, "functions");
}

static int fn_delete(struct fl_ctx *ctx, const struct fn_args *a)
{
    char path[1100], name[400];
    function_path(a, path, sizeof(path));
    snprintf(name, sizeof(name), "%.190s/%.190s", a->module, a->positional[0]);
    struct fl_request req = {.method = "DELETE", .path = path};
    return fl_call_say(ctx, &req, 204, "function %s deleted\n", name);
}

/* ---- invoke ---- */

/* The invocation's arguments: -j (text, @file or -) as the base, -a KEY=VALUE on top. */
static int invoke_args(const struct fn_args *a, cJSON **out)
{
    *out = NULL;
    cJSON *args = NULL;
    if (a->json) {
        size_t len;
        char *text = a->json[0] == '@'           ? read_file(a->json + 1, &len)
                     : strcmp(a->json, "-") == 0 ? read_file("-", &len)
                                                 : strdup(a->json);
        if (!text)
            return FLX_USAGE;
        args = cJSON_Parse(text);
        free(text);
        if (!args)
            return fl_usage_error(NULL, "-j: the input is not valid JSON");
    }
    if (a->pair_count && !args)
        args = cJSON_CreateObject();
    if (a->pair_count && !cJSON_IsObject(args)) {
        cJSON_Delete(args);
        return fl_usage_error(NULL, "-a adds keys to an object: -j must be a JSON object then");
    }
    for (int i = 0; i < a->pair_count; i++) {
        const char *eq = strchr(a->pairs[i], '=');
        if (!eq || eq == a->pairs[i]) {
            cJSON_Delete(args);
            return fl_usage_error(NULL, "-a takes KEY=VALUE, not '%s'", a->pairs[i]);
        }
        char *key = strndup(a->pairs[i], (size_t)(eq - a->pairs[i]));
        /* a string, as FunLess's fl sends it (-j for numbers, booleans and objects) */
        cJSON_DeleteItemFromObjectCaseSensitive(args, key);
        cJSON_AddItemToObject(args, key, cJSON_CreateString(eq + 1));
        free(key);
    }
    *out = args;
    return FLX_OK;
}

static int fn_invoke(struct fl_ctx *ctx, const struct fn_args *a)
{
    cJSON *args;
    int rc = invoke_args(a, &args);
    if (rc != FLX_OK)
        return rc;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "args", args ? args : cJSON_CreateObject());
    if (a->script) {
        cJSON *scheduling = cJSON_AddObjectToObject(body, "scheduling");
        cJSON_AddStringToObject(scheduling, "language", "app");
        cJSON_AddStringToObject(scheduling, "script", a->script);
    }
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char path[1100];
    function_path(a, path, sizeof(path));
    if (a->async) /* queued: the reply is the activation id (docs/activations.md) */
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "?async=true");
    struct fl_request req = {.method = "POST", .path = path, .json = json};
    struct fl_reply reply;
    rc = fl_call(ctx, &req, &reply);
    free(json);
    if (rc != FLX_OK)
        return rc;
    if (reply.status == 202 && ctx->output == FL_OUT_JSON) {
        fl_print_json(fl_reply_data(&reply));
    } else if (reply.status == 202) {
        puts(cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(fl_reply_data(&reply), "activation_id")));
    } else if (reply.status == 200) {
        fl_print_json(fl_reply_data(&reply));
    } else {
        rc = fl_reply_error(&reply, true);
    }
    fl_reply_free(&reply);
    return rc;
}

/* ---- build, create, new ---- */

static int fn_build(struct fl_ctx *ctx, const struct fn_args *a)
{
    char out[4096];
    snprintf(out, sizeof(out), "%s", a->out_file ? a->out_file : "");
    if (!a->out_file) /* FunLess's -d DIR: DIR/NAME.wasm */
        snprintf(out, sizeof(out), "%s/%s.wasm", a->dest_dir ? a->dest_dir : ".", a->positional[0]);
    int rc =
        fl_build(a->positional[0], a->positional[1], a->language, out, ctx->output != FL_OUT_TABLE);
    if (rc == FLX_OK && ctx->output == FL_OUT_TABLE)
        printf("built %s\n", out);
    return rc;
}

static int fn_create(struct fl_ctx *ctx, const struct fn_args *a)
{
    char dir[] = "/tmp/fl-build-XXXXXX", out[64];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fl: cannot make a temporary folder: %m\n");
        return FLX_SERVER;
    }
    snprintf(out, sizeof(out), "%s/function.wasm", dir);
    int rc = fl_build(a->positional[0], a->positional[1], a->language, out, true);
    size_t len = 0;
    char *code = rc == FLX_OK ? read_file(out, &len) : NULL;
    if (code) {
        char filename[600];
        snprintf(filename, sizeof(filename), "%.500s.wasm", a->positional[0]);
        rc = send_code(ctx, a, a->positional[0], code, len, filename, true);
    } else if (rc == FLX_OK) {
        rc = FLX_SERVER;
    }
    free(code);
    unlink(out);
    rmdir(dir);
    return rc;
}

static int fn_new(struct fl_ctx *ctx, const struct fn_args *a)
{
    (void)ctx;
    if (!a->language)
        return fl_usage_error("fl fn new NAME -l c|rust",
                              "say which language with -l c or -l rust");
    return fl_new(a->positional[0], a->language, a->out_dir);
}

static const struct fn_verb verbs[] = {
    {"upload",
     "fl fn upload NAME FILE.wasm [-m MODULE] [--memory-mb N] [--timeout-ms N] "
     "[--tag T] [--no-wait]",
     F_MODULE | F_UPLOAD, 2, fn_upload},
    {"update",
     "fl fn update NAME FILE.wasm [-m MODULE] [--memory-mb N] [--timeout-ms N] "
     "[--tag T] [--no-wait]",
     F_MODULE | F_UPLOAD, 2, fn_update},
    {"get", "fl fn get NAME [-m MODULE]", F_MODULE, 1, fn_get},
    {"list", "fl fn list [-m MODULE]", F_MODULE, 0, fn_list},
    {"delete", "fl fn delete NAME [-m MODULE]", F_MODULE, 1, fn_delete},
    {"invoke",
     "fl fn invoke NAME [-m MODULE] [-a KEY=VALUE ...] [-j JSON | -j @FILE | -j -] "
     "[--script APP] [--async]",
     F_MODULE | F_INVOKE, 1, fn_invoke},
    {"build", "fl fn build NAME SRC [-l c|rust] [-o OUT.wasm | -d DIR]",
     F_LANG | F_OUT_FILE | F_DEST, 2, fn_build},
    {"create",
     "fl fn create NAME SRC [-l c|rust] [-m MODULE] [--memory-mb N] [--timeout-ms N] "
     "[--tag T] [--no-wait]",
     F_MODULE | F_UPLOAD | F_LANG, 2, fn_create},
    {"new", "fl fn new NAME -l c|rust [-o DIR]", F_LANG | F_NEW_DIRS, 1, fn_new},
};

/* Whether `opt` belongs to the verb's flags (global options always do). */
static bool flag_allowed(const struct fn_verb *v, int opt)
{
    switch (opt) {
    case 'm':
        return v->flags & F_MODULE;
    case OPT_MEMORY:
    case OPT_TIMEOUT:
    case OPT_TAG:
    case OPT_NO_WAIT:
        return v->flags & F_UPLOAD;
    case 'l':
        return v->flags & F_LANG;
    case 'd':
        return v->flags & F_DEST;
    case 't':
        return v->flags & F_NEW_DIRS;
    case 'a':
    case 'j':
    case OPT_SCRIPT:
    case OPT_ASYNC:
        return v->flags & F_INVOKE;
    default:
        return true;
    }
}

static bool take_flag(struct fl_ctx *ctx, const struct fn_verb *v, int opt, const char *arg,
                      struct fn_args *a)
{
    if (!flag_allowed(v, opt)) {
        fl_usage_error(v->usage, "this option does not apply to fn %s", v->name);
        return false;
    }
    switch (opt) {
    case 'm':
        a->module = arg;
        return true;
    case OPT_MEMORY:
        a->memory_mb = arg;
        return true;
    case OPT_TIMEOUT:
        a->timeout_ms = arg;
        return true;
    case OPT_TAG:
        a->tag = arg;
        return true;
    case OPT_NO_WAIT:
        a->no_wait = true;
        return true;
    case 'l':
        a->language = arg;
        return true;
    case 'j':
        a->json = arg;
        return true;
    case OPT_SCRIPT:
        a->script = arg;
        return true;
    case OPT_ASYNC:
        a->async = true;
        return true;
    case 'a':
        if (a->pair_count == MAX_ARGS) {
            fl_usage_error(v->usage, "at most %d -a", MAX_ARGS);
            return false;
        }
        a->pairs[a->pair_count++] = arg;
        return true;
    case 'd':
        a->dest_dir = arg;
        return true;
    case 't': /* FunLess's template folder: fl carries its starters (docs/fl.md) */
        return true;
    case 'o':
        if (v->flags & F_OUT_FILE) {
            a->out_file = arg;
            return true;
        }
        if (v->flags & F_NEW_DIRS) {
            a->out_dir = arg;
            return true;
        }
        return fl_global_option(ctx, opt, arg, v->usage);
    default:
        return fl_global_option(ctx, opt, arg, v->usage);
    }
}

int fl_cmd_fn(struct fl_ctx *ctx, int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "logs") == 0)
        return fl_fn_logs(ctx, argc - 1, argv + 1);
    if (strcmp(verb, "config") == 0)
        return fl_fn_config(ctx, argc - 1, argv + 1);
    if (strcmp(verb, "secret") == 0)
        return fl_fn_secret(ctx, argc - 1, argv + 1);
    const struct fn_verb *v = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
        if (strcmp(verbs[i].name, verb) == 0)
            v = &verbs[i];
    if (!v)
        return fl_usage_error(NULL, "fl fn takes upload, update, get, list, delete, invoke, "
                                    "logs, config, secret, build, create or new");
    static const struct option longopts[] = {
        FL_GLOBAL_LONG,
        {"module", 1, 0, 'm'},
        {"memory-mb", 1, 0, OPT_MEMORY},
        {"timeout-ms", 1, 0, OPT_TIMEOUT},
        {"tag", 1, 0, OPT_TAG},
        {"no-wait", 0, 0, OPT_NO_WAIT},
        {"language", 1, 0, 'l'},
        {"lang", 1, 0, 'l'},
        {"arg", 1, 0, 'a'},
        {"json", 1, 0, 'j'},
        {"script", 1, 0, OPT_SCRIPT},
        {"async", 0, 0, OPT_ASYNC},
        {0, 0, 0, 0},
    };
    struct fn_args a = {.module = "_"};
    int opt;
    while ((opt = getopt_long(argc - 1, argv + 1, FL_GLOBAL_SHORT "m:l:a:j:d:t:", longopts,
                              NULL)) != -1)
        if (opt == '?' || !take_flag(ctx, v, opt, optarg, &a))
            return opt == '?' ? fl_usage_error(v->usage, "bad option") : FLX_USAGE;
    for (int i = optind; i < argc - 1; i++) {
        if (a.count == v->positional)
            return fl_usage_error(v->usage, "unexpected '%s'", argv[1 + i]);
        a.positional[a.count++] = argv[1 + i];
    }
    if (a.count != v->positional)
        return fl_usage_error(v->usage, "missing arguments");
    return v->run(ctx, &a);
}
