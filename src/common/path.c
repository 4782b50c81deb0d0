#include "common/path.h"

#include <stdio.h>

bool fl_path_join(char *out, size_t out_len, const char *dir, const char *name)
{
    int n = snprintf(out, out_len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= out_len) {
        if (out_len)
            out[0] = '\0';
        return false;
    }
    return true;
}
