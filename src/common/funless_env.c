#include "common/funless_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void funless_env_note(char *ignored, size_t len, const char *name)
{
    size_t used = strlen(ignored);
    snprintf(ignored + used, len - used, "%s%s", used ? "," : "", name);
}

void fl_funless_env(const struct fl_env_alias *aliases, size_t count,
                    const char *const *meaningless, char *ignored, size_t ignored_len)
{
    ignored[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const char *value = getenv(aliases[i].funless);
        if (!value || !*value || getenv(aliases[i].ours))
            continue;
        if (aliases[i].accept && strspn(value, aliases[i].accept) != strlen(value)) {
            funless_env_note(ignored, ignored_len, aliases[i].funless);
            continue;
        }
        char translated[512];
        snprintf(translated, sizeof(translated), aliases[i].format, value);
        setenv(aliases[i].ours, translated, 0);
    }
    for (const char *const *name = meaningless; name && *name; name++)
        if (getenv(*name))
            funless_env_note(ignored, ignored_len, *name);
}
