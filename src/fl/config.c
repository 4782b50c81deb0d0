#include "fl/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const fl_config_keys[] = {"api_host", "api_token", "admin_token", NULL};

enum { LINE_MAX_BYTES = 4096 };

bool fl_config_key_valid(const char *key)
{
    for (size_t i = 0; fl_config_keys[i]; i++)
        if (strcmp(fl_config_keys[i], key) == 0)
            return true;
    return false;
}

bool fl_config_path(char *out, size_t len)
{
    const char *home = getenv("HOME");
    return home && home[0] && (size_t)snprintf(out, len, "%s/.fl/config", home) < len;
}

/* The value part of "key=value\n" (or FunLess's "key = value") if the line sets `key`, else
 * NULL. */
static const char *line_value(char *line, const char *key)
{
    size_t n = strlen(key);
    const char *rest = line + n;
    if (strncmp(line, key, n) != 0)
        return NULL;
    rest += strspn(rest, " \t");
    if (*rest != '=')
        return NULL;
    rest++;
    rest += strspn(rest, " \t");
    line[strcspn(line, "\r\n")] = '\0';
    size_t len = strlen(rest);
    while (len && (rest[len - 1] == ' ' || rest[len - 1] == '\t'))
        line[(rest - line) + --len] = '\0';
    return rest;
}

bool fl_config_get(const char *path, const char *key, char *value, size_t value_len)
{
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_BYTES];
    bool found = false;
    while (f && fgets(line, sizeof(line), f)) {
        const char *v = line_value(line, key);
        if (v && (size_t)snprintf(value, value_len, "%s", v) < value_len)
            found = true; /* the last setting wins, as in a shell's env file */
    }
    if (f)
        fclose(f);
    return found;
}

static bool make_parent_dir(const char *path)
{
    char dir[LINE_MAX_BYTES];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return true;
    *slash = '\0';
    return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

bool fl_config_set(const char *path, const char *key, const char *value)
{
    if (strchr(key, '=') || strchr(key, '\n') || (value && strchr(value, '\n'))) {
        errno = EINVAL;
        return false;
    }
    char tmp[LINE_MAX_BYTES], line[LINE_MAX_BYTES];
    if (!make_parent_dir(path) || (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    FILE *in = fopen(path, "r");
    while (in && fgets(line, sizeof(line), in)) {
        char copy[LINE_MAX_BYTES];
        snprintf(copy, sizeof(copy), "%s", line);
        if (!line_value(copy, key) && line[0] != '\n') {
            fputs(line, out);
            if (!strchr(line, '\n')) /* a last line without its newline */
                fputc('\n', out);
        }
    }
    if (in)
        fclose(in);
    if (value)
        fprintf(out, "%s=%s\n", key, value);
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = fclose(out) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        return true;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return false;
}
