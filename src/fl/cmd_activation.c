/*
 * cmd_activation — `fl activation list|get|logs` and `fl fn logs`: the records of invocations
 * (docs/activations.md).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fl/fl.h"

enum { OPT_STATUS = 3000, OPT_LIMIT, OPT_BEFORE, OPT_FOLLOW };

static const char list_usage[] =
    "fl activation list [-m MODULE] [-f FUNCTION] [--status S] [--limit N] [--before ID]";
static const char get_usage[] = "fl activation get ID";
static const char logs_usage[] = "fl activation logs ID";

static const char *const summary_columns[] = {"id",          "module", "function",    "status",
                                              "http_status", "start",  "duration_ms", NULL};

/* A query string value, percent-escaped, appended as "&key=value" (nothing when NULL). */
static void add_param(char *query, size_t len, const char *key, const char *value)
{
    if (!value)
        return;
    char escaped[512];
    fl_escape(value, escaped, sizeof(escaped));
    size_t used = strlen(query);
    snprintf(query + used, len - used, "%s%s=%s", used ? "&" : "", key, escaped);
}

struct list_args {
    const char *module, *function, *status, *limit, *before;
    bool follow;
    const char *positional[2];
    int count;
};

/* Options of `fl activation ...` and `fl fn logs`; FLX_OK or the usage error's code. */
static int parse(struct fl_ctx *ctx, int argc, char **argv, const char *usage, int want,
                 struct list_args *a)
{
    static const struct option longopts[] = {
        FL_GLOBAL_LONG,
        {"module", 1, 0, 'm'},
        {"function", 1, 0, 'f'},
        {"status", 1, 0, OPT_STATUS},
        {"limit", 1, 0, OPT_LIMIT},
        {"before", 1, 0, OPT_BEFORE},
        {"follow", 0, 0, OPT_FOLLOW},
        {0, 0, 0, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, FL_GLOBAL_SHORT "m:f:n:", longopts, NULL)) != -1) {
        if (opt == 'm')
            a->module = optarg;
        else if (opt == 'f')
            a->function = optarg;
        else if (opt == OPT_STATUS)
            a->status = optarg;
        else if (opt == OPT_LIMIT || opt == 'n')
            a->limit = optarg;
        else if (opt == OPT_BEFORE)
            a->before = optarg;
        else if (opt == OPT_FOLLOW)
            a->follow = true;
        else if (opt == '?' || !fl_global_option(ctx, opt, optarg, usage))
            return opt == '?' ? fl_usage_error(usage, "bad option") : FLX_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        if (a->count == want)
            return fl_usage_error(usage, "unexpected '%s'", argv[i]);
        a->positional[a->count++] = argv[i];
    }
    return a->count == want ? FLX_OK : fl_usage_error(usage, "missing arguments");
}

static void activation_path(const char *id, const char *tail, char *path, size_t len)
{
    char escaped[256];
    fl_escape(id, escaped, sizeof(escaped));
    snprintf(path, len, "/v1/activations/%s%s", escaped, tail);
}

static int activation_list(struct fl_ctx *ctx, const struct list_args *a)
{
    char query[2048] = "", path[2100];
    add_param(query, sizeof(query), "module", a->module);
    add_param(query, sizeof(query), "function", a->function);
    add_param(query, sizeof(query), "status", a->status);
    add_param(query, sizeof(query), "limit", a->limit);
    add_param(query, sizeof(query), "before", a->before);
    snprintf(path, sizeof(path), "/v1/activations%s%s", query[0] ? "?" : "", query);
    struct fl_request req = {.method = "GET", .path = path};
    return fl_call_print(ctx, &req, 200, summary_columns, NULL);
}

static int activation_get(struct fl_ctx *ctx, const char *id)
{
    char path[512];
    activation_path(id, "", path, sizeof(path));
    struct fl_request req = {.method = "GET", .path = path};
    return fl_call_print(ctx, &req, 200, NULL, NULL);
}

/* The log lines of one record, as they are. */
static int activation_logs(struct fl_ctx *ctx, const char *id)
{
    char path[512];
    activation_path(id, "/logs", path, sizeof(path));
    struct fl_request req = {.method = "GET", .path = path};
    struct fl_reply reply;
    int rc = fl_call(ctx, &req, &reply);
    if (rc != FLX_OK)
        return rc;
    if (reply.status == 200)
        fwrite(reply.body ? reply.body : "", 1, reply.len, stdout);
    else
        rc = fl_reply_error(&reply, false);
    fl_reply_free(&reply);
    return rc;
}

int fl_cmd_activation(struct fl_ctx *ctx, int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : "";
    struct list_args a = {0};
    if (strcmp(verb, "list") == 0 || strcmp(verb, "ls") == 0) {
        int rc = parse(ctx, argc - 1, argv + 1, list_usage, 0, &a);
        return rc == FLX_OK ? activation_list(ctx, &a) : rc;
    }
    if (strcmp(verb, "get") == 0) {
        int rc = parse(ctx, argc - 1, argv + 1, get_usage, 1, &a);
        return rc == FLX_OK ? activation_get(ctx, a.positional[0]) : rc;
    }
    if (strcmp(verb, "logs") == 0) {
        int rc = parse(ctx, argc - 1, argv + 1, logs_usage, 1, &a);
        return rc == FLX_OK ? activation_logs(ctx, a.positional[0]) : rc;
    }
    return fl_usage_error(NULL, "fl activation takes list, get or logs");
}

/* ---- fl fn logs ---- */

enum { SEEN_MAX = 4096, FOLLOW_EVERY_MS = 1000, FOLLOW_BATCH = 100 };

struct seen {
    char ids[SEEN_MAX][33];
    size_t count, next;
};

static bool seen_has(const struct seen *s, const char *id)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->ids[i], id) == 0)
            return true;
    return false;
}

static void seen_add(struct seen *s, const char *id)
{
    snprintf(s->ids[s->next], sizeof(s->ids[s->next]), "%s", id);
    s->next = (s->next + 1) % SEEN_MAX;
    if (s->count < SEEN_MAX)
        s->count++;
}

/* Prints the logs of the newest records of the function not seen yet (at most `limit` read,
 * the newest `print_max` of them printed), oldest first, each under a line naming it; all that
 * it read count as seen. */
static int print_new_logs(struct fl_ctx *ctx, const char *module, const char *function,
                          const char *limit, int print_max, struct seen *seen)
{
    char query[1024] = "", path[1100];
    add_param(query, sizeof(query), "module", module);
    add_param(query, sizeof(query), "function", function);
    add_param(query, sizeof(query), "limit", limit);
    snprintf(path, sizeof(path), "/v1/activations?%s", query);
    struct fl_request req = {.method = "GET", .path = path};
    struct fl_reply reply;
    int rc = fl_expect(ctx, &req, 200, &reply);
    if (rc != FLX_OK)
        return rc;
    const cJSON *list = fl_reply_data(&reply);
    for (int i = cJSON_GetArraySize(list) - 1; i >= 0 && rc == FLX_OK; i--) {
        const cJSON *record = cJSON_GetArrayItem(list, i);
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "id"));
        if (!id || seen_has(seen, id))
            continue;
        seen_add(seen, id);
        if (i >= print_max) /* older than what was asked for: only remembered */
            continue;
        printf("== %s %s %s\n", id,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "start")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "status")));
        fflush(stdout);
        rc = activation_logs(ctx, id);
    }
    fl_reply_free(&reply);
    fflush(stdout);
    return rc;
}

int fl_fn_logs(struct fl_ctx *ctx, int argc, char **argv)
{
    static const char usage[] = "fl fn logs NAME [-m MODULE] [-n N] [--follow]";
    struct list_args a = {.module = "_", .limit = "10"};
    int rc = parse(ctx, argc, argv, usage, 1, &a);
    if (rc != FLX_OK)
        return rc;
    struct seen *seen = calloc(1, sizeof(*seen));
    if (!seen)
        return FLX_SERVER;
    /* following: the newest FOLLOW_BATCH are read once to be remembered, so that the polls
     * print only what comes after (a late record of a long call too), not what -n left out */
    char batch[16], *end; /* FOLLOW_BATCH as the list's limit parameter */
    snprintf(batch, sizeof(batch), "%d", FOLLOW_BATCH);
    long wanted = strtol(a.limit, &end, 10);
    bool number = *a.limit && !*end && wanted > 0 && wanted <= FOLLOW_BATCH;
    /* anything else goes to the Core as it is, to be refused or served there */
    rc = print_new_logs(ctx, a.module, a.positional[0], a.follow && number ? batch : a.limit,
                        number ? (int)wanted : INT_MAX, seen);
    while (rc == FLX_OK && a.follow) { /* until interrupted */
        usleep(FOLLOW_EVERY_MS * 1000);
        rc = print_new_logs(ctx, a.module, a.positional[0], batch, FOLLOW_BATCH, seen);
    }
    free(seen);
    return rc;
}
