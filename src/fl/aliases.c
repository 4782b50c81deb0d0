/*
 * aliases — FunLess's fl v0.4 command lines, read as ours (docs/fl.md): its short command
 * names (`fl fn i`, `fl mod ls`, `fl c set`, ...) and its flags that we spell otherwise
 * (`--namespace` for -m, `-H/--host` for --api-host, `--args` for -a, `-v` for version).
 * Only the words in command position and flags are rewritten; values pass untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fl/fl.h"

struct alias {
    const char *group; /* the command group it is a verb of; NULL: a group itself */
    const char *alias, *name;
};

static const struct alias aliases[] = {
    {NULL, "a", "admin"},     {NULL, "c", "cfg"},      {NULL, "config", "cfg"},
    {"fn", "i", "invoke"},    {"fn", "c", "create"},   {"fn", "d", "delete"},
    {"fn", "b", "build"},     {"fn", "up", "upload"},  {"fn", "n", "new"},
    {"mod", "g", "get"},      {"mod", "d", "delete"},  {"mod", "rm", "delete"},
    {"mod", "u", "update"},   {"mod", "up", "update"}, {"mod", "c", "create"},
    {"mod", "l", "list"},     {"mod", "ls", "list"},   {"admin", "u", "user"},
    {"admin", "d", "deploy"}, {"user", "c", "create"}, {"user", "l", "list"},
    {"cfg", "s", "set"},      {"cfg", "g", "get"},
};

static const char *alias_of(const char *group, const char *word)
{
    for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
        if ((group ? aliases[i].group && strcmp(aliases[i].group, group) == 0
                   : !aliases[i].group) &&
            strcmp(aliases[i].alias, word) == 0)
            return aliases[i].name;
    return word;
}

/* A flag FunLess spells otherwise (NULL: not one); `joined` for "--flag=value". */
static const char *flag_of(const char *word, const char **joined)
{
    static const struct {
        const char *funless, *ours;
    } flags[] = {
        {"--namespace", "--module"},
        {"--host", "--api-host"},
        {"-H", "--api-host"},
        {"--args", "--arg"},
    };
    *joined = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        size_t n = strlen(flags[i].funless);
        if (strncmp(word, flags[i].funless, n) != 0)
            continue;
        if (word[n] == '\0')
            return flags[i].ours;
        if (word[n] == '=' && flags[i].funless[1] == '-') {
            *joined = word + n;
            return flags[i].ours;
        }
    }
    return NULL;
}

/* Whether `word` is a flag whose value is the next word (ours and FunLess's). */
static bool takes_value(const char *word)
{
    static const char *const flags[] = {
        "-o",         "--output",   "--api-host",   "--api-token", "--admin-token",
        "-H",         "--host",     "-m",           "--module",    "--namespace",
        "-l",         "--language", "--lang",       "-a",          "--arg",
        "--args",     "-j",         "--json",       "--memory-mb", "--timeout-ms",
        "--tag",      "--script",   "-d",           "-t",          "-f",
        "--function", "--status",   "--limit",      "--before",    "-n",
        "--rights",   "--grace",    "--expires-in", NULL};
    for (const char *const *f = flags; *f; f++)
        if (strcmp(word, *f) == 0)
            return true;
    return false;
}

/* The rewritten argv lives as long as the process, as the real one does. */
static char **fl_aliased_argv;

char **fl_aliases_apply(int argc, char **argv)
{
    char **out = fl_aliased_argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!out)
        return argv;
    /* command words: the group, its verb, and after "admin user" the user verb; `group` says
     * whose aliases the next one may be (NULL: the groups') */
    const char *group = NULL;
    bool command_next = true, value_next = false;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i], *joined;
        const char *flag = i > 0 ? flag_of(word, &joined) : NULL;
        if (i == 0 || value_next) {
            value_next = false;
        } else if (flag && joined) {
            char *both = malloc(strlen(flag) + strlen(joined) + 1); /* lives as argv's do */
            if (both) {
                strcpy(both, flag);
                strcat(both, joined);
                word = both;
            }
        } else if (flag) {
            word = flag;
            value_next = true;
        } else if (word[0] == '-') {
            if (i == 1 && strcmp(word, "-v") == 0)
                word = "version"; /* FunLess's fl -v */
            value_next = takes_value(word);
        } else if (command_next) {
            word = alias_of(group, word);
            command_next = !group || (strcmp(group, "admin") == 0 && strcmp(word, "user") == 0);
            group = command_next ? word : NULL;
        }
        out[i] = (char *)word;
    }
    return out;
}
