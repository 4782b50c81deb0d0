/*
 * server — the Core's HTTP front: libmicrohttpd driven by an event loop
 * (common/evloop.h) that the Core shares with its Worker links.
 *
 * Before a request's body is read, its framing is checked (one Content-Length,
 * not with Transfer-Encoding: else 400), a Content-Length past `max_body_bytes`
 * is answered 413, and `admit` may refuse it (its token): each at once. Then it
 * collects the body (bounded: past `max_body_bytes` the request is answered 413
 * without being read further), hands the request to one handler, sends the
 * handler's response and records metrics. Handlers must be thread-safe. A URL
 * holding %00 keeps it undecoded (no route or name takes '%').
 *
 * The loop's one thread serves every connection, so a handler running there
 * (`may_block` false) must not wait. It answers at once, or says how it
 * will answer with `res->status`:
 *   HTTP_RUN_BLOCKING  run me again on a thread of my own (`may_block`
 *                      true), where I may wait (the store, a push);
 *   HTTP_RUN_LATER     I started something that fills `res` and then calls
 *                      http_resume(req->exchange) once, from any thread; the
 *                      answer is sent as it is then (I am not run again).
 * The connection is suspended meanwhile. `*req->state` is the handler's
 * (NULL at first; `state_free` frees it with the request).
 *
 * Every request has an id (`req->id`): the client's X-Request-Id when it is
 * a plain token of at most 64 characters, else one made here; it goes back in
 * the X-Request-Id header, and every log line about the request carries it.
 */
#ifndef FL_CORE_HTTP_SERVER_H
#define FL_CORE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct evloop;
struct http_exchange;

enum { HTTP_REQUEST_ID_MAX = 64 };

struct http_request {
    char id[HTTP_REQUEST_ID_MAX + 1];
    bool may_block;
    void **state;
    void (**state_free)(void *state);
    /* Set by a handler that answers HTTP_RUN_LATER: called on the loop's thread (at most once)
     * if the client goes away while the request waits — to stop the work; http_resume must
     * still come. */
    void (**on_gone)(void *state);
    struct http_exchange *exchange;
    const char *method;
    const char *url; /* path, percent-decoded, no query */
    const char *content_type;
    const char *authorization;
    const uint8_t *body;
    size_t body_len;
    bool admitted; /* the config's `admit` said yes (its token is checked) */
    /* What `admit` resolved for the handler (the route and its parameters): freed with the
     * request (free()). */
    void *routed;
};

struct http_response {
    int status;
    const char *content_type; /* default application/json */
    struct fl_buf body;
    const char *route; /* the route pattern, for metrics ("unknown" if none) */
    unsigned retry_after_s;
    const char *allow;   /* Allow header on 405 */
    char location[64];   /* Location header ("" for none) */
    char worker[128];    /* X-Funless-Worker: where an invocation ran ("" for other replies) */
    char activation[33]; /* X-Funless-Activation: the invocation's record ("" for others) */
};

enum { HTTP_RUN_BLOCKING = -1, HTTP_RUN_LATER = -2 };

typedef void (*http_handler)(void *arg, const struct http_request *req, struct http_response *res);

/*
 * Runs on the event loop when a request's headers have arrived, before a byte of its body is
 * read (`req->body` is NULL): false, with the answer in `res`, refuses it at once (no
 * `100 Continue`, no body buffered, the connection closed after the answer). So nothing is
 * spent on a client before its token is checked.
 */
typedef bool (*http_admit)(void *arg, struct http_request *req, struct http_response *res);

/* The value of `key` in the request's query string (decoded), or NULL. */
const char *http_query(const struct http_request *req, const char *key);

/* After HTTP_RUN_LATER, from any thread, once, with the answer in the handler's `res`: it is
 * sent. */
void http_resume(struct http_exchange *exchange);

struct http_config {
    const char *listen;              /* "ADDR:PORT"; port 0 picks a free one */
    unsigned max_connections;        /* open at once; 0: 1024 */
    unsigned max_connections_per_ip; /* 0: half of max_connections */
    /* A request's headers must all arrive within this (bytes do not reset it; a kept-alive
     * connection's next request too), and its body at this rate after that long: else the
     * connection is closed. 0: 10 s, 16 KiB/s. */
    unsigned header_timeout_s;
    unsigned min_body_bytes_per_s;
    struct evloop *loop;   /* runs the server (started by the caller) */
    size_t max_body_bytes; /* largest body read at all */
    http_handler handler;
    http_admit admit; /* optional; called with handler_arg */
    void *handler_arg;
};

struct http_server;

enum fl_err http_start(const struct http_config *config, struct http_server **out, char *detail,
                       size_t detail_len);
/* The port actually bound. */
unsigned http_port(const struct http_server *server);
/* Stops accepting, finishes the requests in flight, frees the server (a request waiting for
 * http_resume must get it: fail such work first). The loop must still be running. */
void http_stop(struct http_server *server);

/* The status for an error code: the one table of the API. */
int http_status_of(enum fl_err err);
/* {"errors":{"detail":<FunLess's phrase for the status>,"reason":<the sentence>}} with the
 * table's status for `err` (docs/api.md, "Errors"). */
void http_error(struct http_response *res, enum fl_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with FunLess's own `detail` where it has one (e.g. "No worker available"). */
void http_error_detail(struct http_response *res, enum fl_err err, const char *detail,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* An Ecto changeset's shape: {"errors":{<field>:[<message>],"reason":<the sentence>}}. */
void http_error_field(struct http_response *res, enum fl_err err, const char *field,
                      const char *message, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
