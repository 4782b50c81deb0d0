/*
 * http_out — functions' outbound HTTP (`__http_request`, docs/abi.md "Outbound HTTP"), behind
 * the operator's allow-list (the Worker's --http-allow):
 *   host            that name, any port          *.example.com  any name under example.com
 *   host:port       that name and port           203.0.113.7    that address (or [v6])
 *   10.0.0.0/8      the addresses of that network (IPv4 or IPv6)
 * A URL's host must be listed; then every address the request connects to (a listed name's,
 * at connect time: no DNS rebinding) must not be loopback, private, link-local, unspecified,
 * multicast or the Worker's own unless an address or network entry lists it. Redirects are
 * followed only to listed hosts (at most 5); the request and the response bodies are capped;
 * the time it takes counts against the call's time limit and is cut at it.
 *
 * Pure of the engine's state but the policy set once at engine_init.
 */
#ifndef FL_ENGINE_HTTP_OUT_H
#define FL_ENGINE_HTTP_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct http_allow;

/* Parses a comma-separated allow-list ("" or NULL: nothing allowed). */
enum fl_err http_allow_parse(const char *list, struct http_allow **out, char *detail,
                             size_t detail_len);
void http_allow_free(struct http_allow *allow);

enum http_out_method { HTTP_OUT_GET, HTTP_OUT_POST, HTTP_OUT_PUT, HTTP_OUT_DELETE };

struct http_out_request {
    enum http_out_method method;
    const char *url;
    size_t url_len;
    const char *headers; /* "K:V\nK2:V2" */
    size_t headers_len;
    const char *body;
    size_t body_len;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
};

struct http_out_response {
    uint16_t status; /* 0: refused or a transport error (`why` says which) */
    char *body;      /* malloc'd, NULL when empty */
    size_t body_len;
    char why[200];
};

/* The Worker's policy, set once by engine_init before any call (NULL list: nothing allowed). */
enum fl_err http_out_configure(const char *allow_list, size_t max_bytes, char *detail,
                               size_t detail_len);
void http_out_policy(const struct http_allow **allow, size_t *max_bytes);

/* Makes the request under `allow` (and `narrow` too, when not NULL: a function's own list) with
 * bodies capped at `max_bytes`. */
void http_out_perform(const struct http_allow *allow, const struct http_allow *narrow,
                      size_t max_bytes, const struct http_out_request *request,
                      struct http_out_response *response);

#endif
