/*
 * fl — the user's command-line client: what its command files share.
 * REST only (libcurl): fl knows nothing of the Core but its API.
 *
 * Settings: flag > environment (FL_API_HOST, FL_API_TOKEN, FL_ADMIN_TOKEN)
 * > ~/.fl/config > http://localhost:4000. Output: a table (default), JSON
 * (-o json: the reply's `data`, for scripts) or bare names (-q).
 */
#ifndef FL_FL_FL_H
#define FL_FL_FL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes (fl --help lists them). */
enum fl_exit {
    FLX_OK = 0,
    FLX_FUNCTION = 1,    /* the function failed: its error, a trap, its time limit */
    FLX_USAGE = 2,       /* bad command line, or a local file that is not usable */
    FLX_NOT_FOUND = 3,   /* 404 */
    FLX_CONFLICT = 4,    /* 409: the name is taken */
    FLX_UNAVAILABLE = 5, /* 503, 502, 429: no Worker could run it now */
    FLX_NETWORK = 6,     /* the Core cannot be reached */
    FLX_AUTH = 7,        /* 401, 403: a missing, wrong or non-admin token */
    FLX_REFUSED = 8,     /* 400, 413, 422: the Core refused the input */
    FLX_SERVER = 9,      /* any other failure of the Core, or of a local build */
};

enum fl_output { FL_OUT_TABLE, FL_OUT_JSON, FL_OUT_QUIET };

struct fl_ctx {
    char api_host[512];
    char api_token[256];
    char admin_token[256];
    enum fl_output output;
    bool count; /* -c/--count (FunLess's): a list ends with "Count: N" */
};

/* ---- options: every command takes the global ones too ---- */

enum {
    FL_OPT_HOST = 1000,
    FL_OPT_TOKEN,
    FL_OPT_ADMIN_TOKEN,
};
#define FL_GLOBAL_SHORT "o:qhH:"
#define FL_GLOBAL_LONG                                                                             \
    {"output", 1, 0, 'o'}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},                              \
        {"api-host", 1, 0, FL_OPT_HOST}, {"host", 1, 0, FL_OPT_HOST},                              \
        {"api-token", 1, 0, FL_OPT_TOKEN},                                                         \
    {                                                                                              \
        "admin-token", 1, 0, FL_OPT_ADMIN_TOKEN                                                    \
    }

/* Applies a global option parsed by getopt_long; false (after a message) if `opt` is not one or
 * its value is wrong. -h prints `usage` and exits 0. */
bool fl_global_option(struct fl_ctx *ctx, int opt, const char *arg, const char *usage);
/* Prints "fl: <message>" and the usage line to stderr; returns FLX_USAGE. */
int fl_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the REST client ---- */

struct fl_part {
    const char *name;
    const void *data; /* NULL ends a list */
    size_t len;
    const char *filename; /* a file part when set */
};

struct fl_request {
    const char *method;
    const char *path;            /* already escaped */
    bool admin;                  /* use the admin token */
    const char *json;            /* a JSON body, or */
    const struct fl_part *parts; /* a multipart body */
    bool progress;               /* upload progress on stderr when it is a terminal */
};

struct fl_reply {
    long status;
    char *body;
    size_t len;
    cJSON *json;      /* the parsed body, or NULL */
    const char *hint; /* what to do about a 401/403, or NULL */
};

/* Performs the request. Returns FLX_OK with `reply` filled (any status), or FLX_NETWORK after
 * printing why. */
int fl_call(const struct fl_ctx *ctx, const struct fl_request *req, struct fl_reply *reply);
void fl_reply_free(struct fl_reply *reply);
/* `data` of a 2xx reply, or NULL. */
cJSON *fl_reply_data(const struct fl_reply *reply);
/* For a failed reply: prints "fl: <errors.detail>" and returns the exit code of its status
 * (`invoke`: 422/500/504 are the function's failure). */
int fl_reply_error(const struct fl_reply *reply, bool invoke);
/* One request whose success is `want_status`: FLX_OK with `reply` to read, or the exit code
 * (reply freed). */
int fl_expect(const struct fl_ctx *ctx, const struct fl_request *req, long want_status,
              struct fl_reply *reply);
/* A path segment, percent-escaped into `out`. */
void fl_escape(const char *segment, char *out, size_t len);

/* ---- output ---- */

/* A list of objects as a table of `columns` (NULL-terminated; the first is the name used by
 * -q), JSON, or names. */
void fl_print_list(const struct fl_ctx *ctx, const cJSON *list, const char *const *columns);
/* Any JSON value on one line. */
void fl_print_json(const cJSON *value);
/* One object: "key  value" lines, JSON, or its name. */
void fl_print_object(const struct fl_ctx *ctx, const cJSON *obj);

/* One call whose success is `want`; then prints `data` as a list of `columns` (the list under
 * `list_key` when set, except with -o json, which prints all of `data`), or as an object when
 * `columns` is NULL. Returns the exit code. */
int fl_call_print(struct fl_ctx *ctx, const struct fl_request *req, long want,
                  const char *const *columns, const char *list_key);
/* One call whose success has no body worth showing: `sentence` (a printf format taking `name`)
 * in table mode, the reply's data (if any) with -o json. */
int fl_call_say(struct fl_ctx *ctx, const struct fl_request *req, long want, const char *sentence,
                const char *name);

/* FunLess's fl command lines as ours (aliases.c): a new argv (the words rewritten; argv itself
 * when out of memory). */
char **fl_aliases_apply(int argc, char **argv);

/* ---- commands ---- */

int fl_cmd_fn(struct fl_ctx *ctx, int argc, char **argv);
int fl_cmd_mod(struct fl_ctx *ctx, int argc, char **argv);
int fl_cmd_app(struct fl_ctx *ctx, int argc, char **argv);
int fl_cmd_admin(struct fl_ctx *ctx, int argc, char **argv);
int fl_cmd_cfg(struct fl_ctx *ctx, int argc, char **argv);
int fl_cmd_activation(struct fl_ctx *ctx, int argc, char **argv);
int fl_cmd_template(struct fl_ctx *ctx, int argc, char **argv);
/* Tenants (cmd_tenants.c): `fl fn config|secret` (argv[0] is "config"/"secret"), `fl mod
 * share|unshare|access` (argv[0] "mod"), `fl admin user get|delete|rotate|quota` (argv[0]
 * "admin"). */
int fl_fn_config(struct fl_ctx *ctx, int argc, char **argv);
int fl_fn_secret(struct fl_ctx *ctx, int argc, char **argv);
int fl_mod_access(struct fl_ctx *ctx, int argc, char **argv);
int fl_admin_user(struct fl_ctx *ctx, int argc, char **argv);
/* `fl fn logs` (cmd_activation.c): argv[0] is "logs". */
int fl_fn_logs(struct fl_ctx *ctx, int argc, char **argv);

/* fn build / new / create's build step (cmd_build.c). */
int fl_build(const char *name, const char *source, const char *language, const char *out_path,
             bool quiet);
int fl_new(const char *name, const char *language, const char *out_dir);

#endif
