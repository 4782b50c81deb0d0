/*
 * path — file-name building that never truncates silently.
 */
#ifndef FL_COMMON_PATH_H
#define FL_COMMON_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* out = dir + "/" + name; false (and out = "") if it does not fit in out_len. */
bool fl_path_join(char *out, size_t out_len, const char *dir, const char *name);

#endif
