/*
 * Tests of src/engine/http_out: the allow-list's syntax (every error path) and which URLs it
 * lets a function name, as tables; nothing here leaves the machine (every request that is not
 * refused goes to a closed port on loopback, listed by address).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/http_out.h"

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        bool ok;
    } rows[] = {
        {"", true},
        {"api.example.com", true},
        {"API.Example.com:8443", true},
        {"*.example.com", true},
        {"203.0.113.7, [2001:db8::1] ,10.0.0.0/8,fd00::/8", true},
        {"a b", false},
        {"host:0", false},
        {"host:65536", false},
        {"host:", false},
        {"*.", false},
        {"10.0.0.0/33", false},
        {"fd00::/129", false},
        {"10.0.0.0/", false},
        {"[10.0.0.1]", false},
        {"exa_mple.com", false},
        {"http://example.com", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct http_allow *allow = NULL;
        char detail[256] = "";
        enum fl_err err = http_allow_parse(rows[i].list, &allow, detail, sizeof(detail));
        if ((err == FL_OK) != rows[i].ok)
            fail_msg("'%s': %s", rows[i].list, err == FL_OK ? "taken" : detail);
        if (!rows[i].ok && !strstr(detail, "is not a host"))
            fail_msg("'%s': '%s' does not say why", rows[i].list, detail);
        http_allow_free(allow);
    }
}

/* The reason a request was refused, or "" when it went out (and failed to connect). */
static void why(const char *list, const char *url, char *out, size_t out_len)
{
    struct http_allow *allow;
    char detail[256];
    assert_int_equal(http_allow_parse(list, &allow, detail, sizeof(detail)), FL_OK);
    struct http_out_request q = {
        .method = HTTP_OUT_GET, .url = url, .url_len = strlen(url), .headers = "", .body = ""};
    struct http_out_response r;
    http_out_perform(allow, NULL, 1024, &q, &r);
    assert_int_equal(r.status, 0);
    snprintf(out, out_len, "%s", strncmp(r.why, "refused", 7) == 0 ? r.why : "");
    free(r.body);
    http_allow_free(allow);
}

static void test_which_urls(void **state)
{
    (void)state;
    static const struct {
        const char *list, *url, *refusal; /* refusal "": it went out */
    } rows[] = {
        {"", "http://127.0.0.1:1/", "outbound HTTP is off"},
        {"127.0.0.1", "http://127.0.0.1:1/", ""},
        {"127.0.0.0/8", "http://127.0.0.2:1/", ""},
        {"127.0.0.1", "http://127.0.0.2:1/", "127.0.0.2 is not in"},
        {"127.0.0.1", "ftp://127.0.0.1:1/", "only http:// and https://"},
        {"127.0.0.1", "http://user:pw@127.0.0.1:1/", ""},
        {"example.com", "http://127.0.0.1:1/", "127.0.0.1 is not in"},
        {"example.com", "http://www.example.com/", "www.example.com is not in"},
        {"*.example.com", "http://example.com/", "example.com is not in"},
        {"*.example.com", "http://a.bexample.com/", "a.bexample.com is not in"},
        {"example.com:8080", "http://example.com/", "example.com is not in"},
        {"localhost", "http://localhost:1/", "a private, loopback or own address"},
        {"[::1]", "http://[::1]:1/", ""},
        {"localhost,127.0.0.1", "http://[::ffff:127.0.0.1]:1/", "is not in"},
        {"::ffff:0:0/96", "http://[::ffff:127.0.0.1]:1/", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char got[256];
        why(rows[i].list, rows[i].url, got, sizeof(got));
        if (rows[i].refusal[0] ? !strstr(got, rows[i].refusal) : got[0] != '\0')
            fail_msg("%s under '%s': '%s', not '%s'", rows[i].url, rows[i].list, got,
                     rows[i].refusal);
    }
}

static void test_request_checks(void **state)
{
    (void)state;
    struct http_allow *allow;
    char detail[256];
    assert_int_equal(http_allow_parse("127.0.0.1", &allow, detail, sizeof(detail)), FL_OK);
    static const char big[2048] = {0};
    struct http_out_request q = {.method = HTTP_OUT_POST,
                                 .url = "http://127.0.0.1:1/",
                                 .url_len = 19,
                                 .headers = "",
                                 .body = big,
                                 .body_len = 2048};
    struct http_out_response r;
    http_out_perform(allow, NULL, 1024, &q, &r);
    assert_non_null(strstr(r.why, "request body is larger"));
    q.body_len = 0;
    q.headers = "X-A:1\nbroken line";
    q.headers_len = strlen(q.headers);
    http_out_perform(allow, NULL, 1024, &q, &r);
    assert_non_null(strstr(r.why, "a header is not"));
    q.headers = "";
    q.headers_len = 0;
    q.url = "http://127.0.0.1:1/\0hidden";
    q.url_len = 26;
    http_out_perform(allow, NULL, 1024, &q, &r);
    assert_non_null(strstr(r.why, "the URL is not text"));
    http_allow_free(allow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_which_urls),
        cmocka_unit_test(test_request_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
