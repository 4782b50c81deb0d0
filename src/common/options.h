/*
 * options — one table per command: flag, environment variable, default,
 * bounds and help text. Parsing applies defaults, then the environment,
 * then the command line (CLI > env > default); --help is generated.
 */
#ifndef FL_COMMON_OPTIONS_H
#define FL_COMMON_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fl_option_type { FL_OPT_STRING, FL_OPT_UINT, FL_OPT_FLAG };

struct fl_option {
    const char *flag; /* "--memory-mb" */
    const char *env;  /* "FUNLESS_MEMORY_MB", or NULL */
    enum fl_option_type type;
    void *target;              /* const char **, uint64_t *, or bool * */
    const char *default_value; /* as text; NULL: unset (strings) / false (flags) */
    uint64_t min, max;         /* FL_OPT_UINT bounds */
    const char *help;
};

/*
 * Parses argv[1..]; positional arguments are collected in order into
 * `positional` (at most `max_positional`). Returns false with a message in
 * `err` on a bad flag or value; sets *help when --help/-h was given.
 */
bool fl_options_parse(const struct fl_option *opts, size_t count, int argc, char **argv,
                      char **positional, size_t max_positional, size_t *positional_count,
                      bool *help, char *err, size_t err_len);

void fl_options_print_help(FILE *out, const char *usage, const struct fl_option *opts,
                           size_t count);

#endif
