/*
 * fl — entry point: settings (flag > environment > ~/.fl/config > default),
 * then the command group (fn, mod, app, admin, cfg, version).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fl/config.h"
#include "fl/fl.h"

#ifndef FUNLESS_VERSION
#define FUNLESS_VERSION "dev"
#endif

#define DEFAULT_API_HOST "http://localhost:4000"

static const char usage_text[] =
    "usage: fl [GLOBAL OPTIONS] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  fn upload NAME FILE.wasm [-m MODULE] [--memory-mb N] [--timeout-ms N] [--tag T] "
    "[--no-wait]\n"
    "  fn update NAME FILE.wasm [same options]\n"
    "  fn get|delete NAME [-m MODULE]       fn list [-m MODULE]\n"
    "  fn invoke NAME [-m MODULE] [-a KEY=VALUE ...] [-j JSON | -j @FILE | -j -] [--script APP]\n"
    "            [--async]                   (--async: queued; prints the activation id)\n"
    "  fn logs NAME [-m MODULE] [-n N] [--follow]   (the logs of its last N calls)\n"
    "  fn config get NAME | config set NAME KEY=VALUE ... | config unset NAME KEY ... [-m M]\n"
    "  fn secret set NAME KEY [-m M]         (the value from stdin, never the command line)\n"
    "  fn secret unset NAME KEY ... [-m M]\n"
    "  fn build NAME SRC [-l c|rust] [-o OUT.wasm]   (SRC: a .c/.rs file or a folder with one)\n"
    "  fn create NAME SRC [-l c|rust] [upload options]   (build, then upload)\n"
    "  fn new NAME -l c|rust                 (a starter function in ./NAME/)\n"
    "  mod list | get NAME | create NAME | update NAME NEW_NAME | delete NAME\n"
    "  mod share MODULE SUBJECT [--rights read,invoke,write] | mod unshare MODULE SUBJECT\n"
    "  mod access MODULE                     (its owner and who else may use it)\n"
    "  app list | get NAME | upload NAME FILE.yaml | update NAME FILE.yaml | delete NAME\n"
    "  admin user create NAME | admin user list | admin user get|delete NAME\n"
    "  admin user rotate NAME [--grace SECONDS] [--expires-in SECONDS]   (a new token)\n"
    "  admin user quota NAME KEY=N|KEY=default ...   (functions, code_mb, rate, concurrent,\n"
    "                                                  keep_hours; 0: no limit)\n"
    "  admin worker list | admin worker connect HOST:PORT\n"
    "  cfg set KEY VALUE | cfg get KEY       (keys: api_host, api_token, admin_token)\n"
    "  template list | template pull         (the starters fl fn new writes: c, rust)\n"
    "  activation list [-m MODULE] [-f FUNCTION] [--status S] [--limit N] [--before ID]\n"
    "  activation get ID | activation logs ID\n"
    "  version\n"
    "\n"
    "global options (anywhere on the line):\n"
    "  --api-host URL      the Core (env FL_API_HOST; default " DEFAULT_API_HOST ")\n"
    "  --api-token T       env FL_API_TOKEN\n"
    "  --admin-token T     for admin commands (env FL_ADMIN_TOKEN)\n"
    "  -o table|json       output (json: the reply's data, for scripts)\n"
    "  -q                  bare names only\n"
    "settings not given by a flag or the environment come from ~/.fl/config (fl cfg set).\n"
    "\n"
    "exit codes:\n"
    "  0 success             1 the function failed (its error, a trap, its time limit)\n"
    "  2 usage or bad file   3 not found          4 conflict (the name is taken)\n"
    "  5 unavailable (no Worker, busy)            6 network (the Core cannot be reached)\n"
    "  7 unauthorized        8 refused by the Core (invalid input)\n"
    "  9 other failure (the Core, or a local build)\n";

int fl_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (usage)
        fprintf(stderr, "usage: %s\n", usage);
    return FLX_USAGE;
}

static void copy_setting(char *dst, size_t len, const char *value)
{
    snprintf(dst, len, "%s", value);
}

bool fl_global_option(struct fl_ctx *ctx, int opt, const char *arg, const char *usage)
{
    switch (opt) {
    case 'o':
        if (strcmp(arg, "json") == 0)
            ctx->output = FL_OUT_JSON;
        else if (strcmp(arg, "table") == 0)
            ctx->output = FL_OUT_TABLE;
        else {
            fl_usage_error(NULL, "-o takes table or json, not '%s'", arg);
            return false;
        }
        return true;
    case 'q':
        ctx->output = FL_OUT_QUIET;
        return true;
    case 'h':
        if (usage)
            printf("usage: %s\n(fl --help: global options and exit codes)\n", usage);
        else
            fputs(usage_text, stdout);
        exit(FLX_OK);
    case 'H': /* FunLess's -H/--host */
    case FL_OPT_HOST:
        copy_setting(ctx->api_host, sizeof(ctx->api_host), arg);
        return true;
    case FL_OPT_TOKEN:
        copy_setting(ctx->api_token, sizeof(ctx->api_token), arg);
        return true;
    case FL_OPT_ADMIN_TOKEN:
        copy_setting(ctx->admin_token, sizeof(ctx->admin_token), arg);
        return true;
    default:
        fl_usage_error(usage, "unknown option");
        return false;
    }
}

/* Environment over the config file over the default; flags come later and win. */
static void load_settings(struct fl_ctx *ctx)
{
    char path[4096];
    bool have_file = fl_config_path(path, sizeof(path));
    struct {
        const char *env, *key;
        char *dst;
        size_t len;
        const char *fallback;
    } settings[] = {
        {"FL_API_HOST", "api_host", ctx->api_host, sizeof(ctx->api_host), DEFAULT_API_HOST},
        {"FL_API_TOKEN", "api_token", ctx->api_token, sizeof(ctx->api_token), ""},
        {"FL_ADMIN_TOKEN", "admin_token", ctx->admin_token, sizeof(ctx->admin_token), ""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        const char *env = getenv(settings[i].env);
        if (env && env[0])
            copy_setting(settings[i].dst, settings[i].len, env);
        else if (!have_file ||
                 !fl_config_get(path, settings[i].key, settings[i].dst, settings[i].len))
            copy_setting(settings[i].dst, settings[i].len, settings[i].fallback);
    }
}

struct group {
    const char *name;
    int (*run)(struct fl_ctx *ctx, int argc, char **argv);
};

static const struct group groups[] = {
    {"fn", fl_cmd_fn},
    {"mod", fl_cmd_mod},
    {"app", fl_cmd_app},
    {"admin", fl_cmd_admin},
    {"cfg", fl_cmd_cfg},
    {"activation", fl_cmd_activation},
    {"template", fl_cmd_template},
};

int main(int argc, char **argv)
{
    struct fl_ctx ctx = {.output = FL_OUT_TABLE};
    load_settings(&ctx);
    argv = fl_aliases_apply(argc, argv); /* FunLess's fl command lines too */
    /* global options before the command */
    static const struct option longopts[] = {FL_GLOBAL_LONG, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "+" FL_GLOBAL_SHORT, longopts, NULL)) != -1)
        if (!fl_global_option(&ctx, opt, optarg, NULL))
            return FLX_USAGE;
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return FLX_USAGE;
    }
    const char *command = argv[optind];
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        printf("fl %s\n", FUNLESS_VERSION);
        return FLX_OK;
    }
    if (strcmp(command, "help") == 0) {
        fputs(usage_text, stdout);
        return FLX_OK;
    }
    for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
        if (strcmp(command, groups[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* each command parses its own options (0: getopt starts afresh) */
            return groups[i].run(&ctx, sub_argc, sub_argv);
        }
    return fl_usage_error(NULL, "unknown command '%s' (fl --help lists them)", command);
}
