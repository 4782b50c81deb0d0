#include "common/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool option_set(const struct fl_option *opt, const char *value, const char *source,
                       char *err, size_t err_len)
{
    if (opt->type == FL_OPT_STRING) {
        *(const char **)opt->target = value;
        return true;
    }
    if (opt->type == FL_OPT_FLAG) {
        bool on =
            strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0;
        bool off =
            strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || strcmp(value, "no") == 0;
        if (!on && !off) {
            snprintf(err, err_len, "%s: expected true or false, got '%s'", source, value);
            return false;
        }
        *(bool *)opt->target = on;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || end == value || *end || value[0] == '-' || v < opt->min || v > opt->max) {
        snprintf(err, err_len, "%s: expected a whole number from %llu to %llu, got '%s'", source,
                 (unsigned long long)opt->min, (unsigned long long)opt->max, value);
        return false;
    }
    *(uint64_t *)opt->target = v;
    return true;
}

static const struct fl_option *option_find(const struct fl_option *opts, size_t count,
                                           const char *flag, size_t flag_len)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(opts[i].flag) == flag_len && strncmp(opts[i].flag, flag, flag_len) == 0)
            return &opts[i];
    return NULL;
}

static bool options_defaults_and_env(const struct fl_option *opts, size_t count, char *err,
                                     size_t err_len)
{
    for (size_t i = 0; i < count; i++) {
        const struct fl_option *opt = &opts[i];
        if (opt->type == FL_OPT_FLAG) /* unset until a default, the environment or a flag says */
            *(bool *)opt->target = false;
        else if (opt->type == FL_OPT_STRING)
            *(const char **)opt->target = NULL;
        else
            *(uint64_t *)opt->target = 0;
        if (opt->default_value && !option_set(opt, opt->default_value, opt->flag, err, err_len))
            return false;
        const char *env = opt->env ? getenv(opt->env) : NULL;
        if (env && !option_set(opt, env, opt->env, err, err_len))
            return false;
    }
    return true;
}

bool fl_options_parse(const struct fl_option *opts, size_t count, int argc, char **argv,
                      char **positional, size_t max_positional, size_t *positional_count,
                      bool *help, char *err, size_t err_len)
{
    *positional_count = 0;
    *help = false;
    if (!options_defaults_and_env(opts, count, err, err_len))
        return false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = true;
            return true;
        }
        if (strncmp(arg, "--", 2) != 0 || strlen(arg) == 2) {
            if (*positional_count >= max_positional) {
                snprintf(err, err_len, "unexpected argument '%s'", arg);
                return false;
            }
            positional[(*positional_count)++] = argv[i];
            continue;
        }
        const char *eq = strchr(arg, '=');
        const struct fl_option *opt =
            option_find(opts, count, arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (!opt) {
            snprintf(err, err_len, "unknown option '%s'", arg);
            return false;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && opt->type == FL_OPT_FLAG)
            value = "true";
        if (!value && i + 1 >= argc) {
            snprintf(err, err_len, "option %s needs a value", opt->flag);
            return false;
        }
        if (!value)
            value = argv[++i];
        if (!option_set(opt, value, opt->flag, err, err_len))
            return false;
    }
    return true;
}

void fl_options_print_help(FILE *out, const char *usage, const struct fl_option *opts, size_t count)
{
    fprintf(out, "%s\n\noptions:\n", usage);
    for (size_t i = 0; i < count; i++) {
        const struct fl_option *opt = &opts[i];
        const char *arg = opt->type == FL_OPT_UINT     ? " N"
                          : opt->type == FL_OPT_STRING ? " VALUE"
                                                       : "";
        fprintf(out, "  %s%s\n      %s", opt->flag, arg, opt->help);
        if (opt->default_value)
            fprintf(out, " (default: %s)", opt->default_value);
        if (opt->env)
            fprintf(out, " [env %s]", opt->env);
        fprintf(out, "\n");
    }
}
