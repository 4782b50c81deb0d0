#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture fixture_read(const char *name)
{
    const char *dir = getenv("FIXTURES_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fixture %s missing (is FIXTURES_DIR set?)\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    struct fixture fx = {malloc((size_t)n + 1), (size_t)n};
    if (fread(fx.bytes, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    return fx;
}

void fixture_free(struct fixture *f)
{
    free(f->bytes);
    f->bytes = NULL;
}

bool fixture_have_rust(void)
{
    const char *v = getenv("FL_HAVE_RUST");
    return v && strcmp(v, "1") == 0;
}
