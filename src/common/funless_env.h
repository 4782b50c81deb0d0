/*
 * funless_env — FunLess's environment variables as aliases of ours (docs/funless.md), so that
 * a FunLess deployment's settings keep working when its binaries are replaced by funless.
 *
 * Before a command parses its options, each alias whose FunLess variable is set, and whose own
 * FUNLESS_* variable is not, sets that one (a FUNLESS_* variable or a flag always wins). The
 * FunLess variables that mean nothing here are named back so that the command logs them once.
 */
#ifndef FL_COMMON_FUNLESS_ENV_H
#define FL_COMMON_FUNLESS_ENV_H

#include <stddef.h>

struct fl_env_alias {
    const char *funless; /* FunLess's variable, e.g. "PORT" */
    const char *ours;    /* ours, e.g. "FUNLESS_LISTEN" */
    const char *format;  /* its value from FunLess's: one %s, e.g. "0.0.0.0:%s" */
    const char *accept;  /* the characters FunLess's value may hold (NULL: any); else ignored */
};

/* Applies `aliases`; writes into `ignored` (comma-separated, "" none) the variables of
 * `meaningless` that are set, and those of `aliases` whose value was refused. */
void fl_funless_env(const struct fl_env_alias *aliases, size_t count,
                    const char *const *meaningless, char *ignored, size_t ignored_len);

#endif
