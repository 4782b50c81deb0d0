/* Test helper: reads the .wasm fixtures that the build made from source. */
#ifndef FL_TEST_FIXTURE_H
#define FL_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fixture {
    uint8_t *bytes;
    size_t len;
};

/* Reads $FIXTURES_DIR/NAME; aborts the test program if it is missing. */
struct fixture fixture_read(const char *name);
void fixture_free(struct fixture *f);
bool fixture_have_rust(void);

#endif
