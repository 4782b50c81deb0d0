#include "scratch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char scratch_dir[256];

int scratch_make(void **state)
{
    (void)state;
    snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/funless-%s-XXXXXX",
             program_invocation_short_name);
    return mkdtemp(scratch_dir) ? 0 : -1;
}

int scratch_remove(void **state)
{
    (void)state;
    char cmd[sizeof(scratch_dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch_dir); /* our own name: no quoting needed */
    return system(cmd) == 0 ? 0 : -1;
}
