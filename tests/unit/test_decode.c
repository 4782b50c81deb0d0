/*
 * Decoder tests: hand-made binaries for each refused feature and each
 * malformed shape; every one must be an error value, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "engine/wasm_decode.h"

#define HEADER 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

static enum fl_err decode(const uint8_t *bytes, size_t len, char *detail)
{
    struct wasm_desc desc;
    enum fl_err err = wasm_decode(bytes, len, &desc, detail, 200);
    wasm_desc_deinit(&desc);
    return err;
}

static void expect(const uint8_t *bytes, size_t len, enum fl_err want, const char *in_detail)
{
    char detail[200] = "";
    assert_int_equal(decode(bytes, len, detail), want);
    assert_non_null(strstr(detail, in_detail));
}

static void test_empty_module(void **state)
{
    (void)state;
    static const uint8_t m[] = {HEADER};
    expect(m, sizeof(m), FL_OK, "");
}

static void test_bad_magic_and_version(void **state)
{
    (void)state;
    static const uint8_t text[] = "not wasm!";
    static const uint8_t v2[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
    expect(text, 9, FL_ERR_NOT_WASM, "magic");
    expect(v2, sizeof(v2), FL_ERR_INVALID_WASM, "version");
    expect(v2, 6, FL_ERR_INVALID_WASM, "version");
}

static void test_type_section(void **state)
{
    (void)state;
    /* one type (i32, i64) -> f32 */
    static const uint8_t ok[] = {HEADER, 1, 7, 1, 0x60, 2, 0x7f, 0x7e, 1, 0x7d};
    struct wasm_desc desc;
    char detail[200];
    assert_int_equal(wasm_decode(ok, sizeof(ok), &desc, detail, sizeof(detail)), FL_OK);
    assert_int_equal(desc.type_count, 1);
    assert_string_equal(desc.type_sigs[0], "iI:f");
    wasm_desc_deinit(&desc);
    static const uint8_t v128[] = {HEADER, 1, 5, 1, 0x60, 1, 0x7b, 0};
    expect(v128, sizeof(v128), FL_ERR_UNSUPPORTED, "SIMD");
    static const uint8_t huge_count[] = {HEADER, 1, 6, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x60};
    expect(huge_count, sizeof(huge_count), FL_ERR_INVALID_WASM, "count");
    static const uint8_t short_section[] = {HEADER, 1, 20, 1, 0x60, 0, 0};
    expect(short_section, sizeof(short_section), FL_ERR_INVALID_WASM, "");
}

static void test_refused_memories(void **state)
{
    (void)state;
    static const uint8_t shared[] = {HEADER, 5, 4, 1, 0x03, 1, 2};
    static const uint8_t mem64[] = {HEADER, 5, 3, 1, 0x04, 1};
    static const uint8_t too_big[] = {HEADER, 5, 5, 1, 0x00, 0x81, 0x80, 0x04};
    static const uint8_t two[] = {HEADER, 5, 5, 2, 0, 1, 0, 1};
    expect(shared, sizeof(shared), FL_ERR_UNSUPPORTED, "shared memory");
    expect(mem64, sizeof(mem64), FL_ERR_UNSUPPORTED, "memory64");
    expect(too_big, sizeof(too_big), FL_ERR_INVALID_WASM, "65536 pages");
    expect(two, sizeof(two), FL_ERR_UNSUPPORTED, "multiple memories");
}

/* A module with one () -> () function whose body is `body` (without the final end). */
static enum fl_err decode_body(const uint8_t *body, size_t body_len, char *detail)
{
    uint8_t m[256] = {HEADER, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0};
    size_t at = 18;
    m[at++] = 10;                      /* code section */
    m[at++] = (uint8_t)(body_len + 4); /* section size */
    m[at++] = 1;                       /* one body */
    m[at++] = (uint8_t)(body_len + 2); /* body size */
    m[at++] = 0;                       /* no locals */
    memcpy(m + at, body, body_len);
    at += body_len;
    m[at++] = 0x0b;
    return decode(m, at, detail);
}

static void test_refused_instructions(void **state)
{
    (void)state;
    char detail[200];
    static const uint8_t simd[] = {0xfd, 0x0f, 0x1a};
    static const uint8_t atomic[] = {0xfe, 0x03, 0x00};
    static const uint8_t tail[] = {0x12, 0x00};
    static const uint8_t try_[] = {0x06, 0x40, 0x0b};
    static const uint8_t bad[] = {0xff};
    assert_int_equal(decode_body(simd, sizeof(simd), detail), FL_ERR_UNSUPPORTED);
    assert_non_null(strstr(detail, "SIMD"));
    assert_int_equal(decode_body(atomic, sizeof(atomic), detail), FL_ERR_UNSUPPORTED);
    assert_int_equal(decode_body(tail, sizeof(tail), detail), FL_ERR_UNSUPPORTED);
    assert_int_equal(decode_body(try_, sizeof(try_), detail), FL_ERR_UNSUPPORTED);
    assert_int_equal(decode_body(bad, sizeof(bad), detail), FL_ERR_INVALID_WASM);
    /* 0xfd inside an immediate is data, not SIMD: i32.const -3 is 0x41 0x7d; i64.const with 0xfd
     * bytes */
    static const uint8_t imm[] = {0x42, 0xfd, 0xfd, 0x03, 0x1a, 0x41, 0x7d, 0x1a};
    assert_int_equal(decode_body(imm, sizeof(imm), detail), FL_OK);
    static const uint8_t br_table[] = {0x02, 0x40, 0x41, 0x00, 0x0e, 0x02, 0x00, 0x00, 0x00, 0x0b};
    assert_int_equal(decode_body(br_table, sizeof(br_table), detail), FL_OK);
}

static void test_imports_exports(void **state)
{
    (void)state;
    /* type () -> (); import "a"."b" func 0; export "f" func 0 */
    static const uint8_t m[] = {HEADER, 1,   4, 1, 0x60, 0, 0, 2, 7,   1, 1, 'a',
                                1,      'b', 0, 0, 7,    5, 1, 1, 'f', 0, 0};
    struct wasm_desc desc;
    char detail[200];
    assert_int_equal(wasm_decode(m, sizeof(m), &desc, detail, sizeof(detail)), FL_OK);
    assert_int_equal(desc.import_count, 1);
    assert_string_equal(desc.imports[0].module, "a");
    assert_string_equal(desc.imports[0].name, "b");
    assert_non_null(wasm_desc_find_export(&desc, "f", WASM_EXTERN_FUNC));
    assert_string_equal(wasm_desc_func_sig(&desc, 0), ":");
    assert_null(wasm_desc_func_sig(&desc, 1));
    wasm_desc_deinit(&desc);
    static const uint8_t bad_type[] = {HEADER, 2, 7, 1, 1, 'a', 1, 'b', 0, 5};
    expect(bad_type, sizeof(bad_type), FL_ERR_INVALID_WASM, "unknown type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_module),         cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_type_section),         cmocka_unit_test(test_refused_memories),
        cmocka_unit_test(test_refused_instructions), cmocka_unit_test(test_imports_exports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
