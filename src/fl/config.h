/*
 * config — `fl`'s settings file, FunLess's `~/.fl/config`: one `key=value`
 * per line (api_host, api_token, admin_token), created with mode 0600
 * because it holds tokens. Shared by `fl` (reads, `fl cfg set`) and
 * `funless dev` (writes the tokens of the platform it starts).
 */
#ifndef FL_FL_CONFIG_H
#define FL_FL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* The settings `fl` knows. */
extern const char *const fl_config_keys[];
bool fl_config_key_valid(const char *key);

/* $HOME/.fl/config (false when HOME is unset or the path is too long). */
bool fl_config_path(char *out, size_t len);

/* The value of `key` in the file at `path`, or false when absent. */
bool fl_config_get(const char *path, const char *key, char *value, size_t value_len);

/*
 * Sets `key` (value NULL: removes it), keeping the other lines, and writes
 * the file atomically with mode 0600, creating its directory (0700).
 * false with errno set on failure.
 */
bool fl_config_set(const char *path, const char *key, const char *value);

#endif
