/*
 * server — libmicrohttpd glue (see server.h).
 *
 * Threading: MHD's pool threads call server_access for every request; one
 * request's calls all happen on one thread. The per-request state lives in
 * the connection's `con_cls` slot from the first call to the completion
 * callback, which frees it.
 */
#include "core/http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/net.h"
#include "core/metrics.h"

/* Handlers parse JSON (cJSON nests at most 1000 deep) and call SQLite: half a MiB is ample,
 * and only the pages a thread touches count in RSS. */
enum { CONNECTION_STACK_BYTES = 512 * 1024 };

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_config config;
    unsigned port;
};

struct request_state {
    struct fl_buf body;
    bool too_large;
    double started;
};

static double server_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void server_add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (value)
        MHD_add_response_header(r, name, value);
}

static enum MHD_Result server_send(struct MHD_Connection *conn, struct http_response *res)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        res->body.len, res->body.data ? res->body.data : "", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    server_add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                      res->content_type ? res->content_type : "application/json");
    server_add_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    server_add_header(r, "X-Funless-Worker", res->worker[0] ? res->worker : NULL);
    if (res->retry_after_s) {
        char value[16];
        snprintf(value, sizeof(value), "%u", res->retry_after_s);
        server_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, value);
    }
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Answers now (413, or an early error) and records it. */
static enum MHD_Result server_reply(struct http_server *s, struct MHD_Connection *conn,
                                    struct request_state *st, const char *method,
                                    struct http_response *res)
{
    enum MHD_Result ok = server_send(conn, res);
    metrics_observe_request(res->route ? res->route : "unknown", method, res->status,
                            server_now() - st->started);
    (void)s;
    fl_buf_deinit(&res->body);
    return ok;
}

static bool server_body_too_large(struct http_server *s, struct MHD_Connection *conn)
{
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return length && strtoull(length, NULL, 10) > s->config.max_body_bytes;
}

static enum MHD_Result server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct http_server *s = cls;
    struct request_state *st = *con_cls;
    (void)version;
    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        fl_buf_init(&st->body, s->config.max_body_bytes);
        st->started = server_now();
        st->too_large = server_body_too_large(s, conn);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!st->too_large && !fl_buf_append(&st->body, upload_data, *upload_data_size))
            st->too_large = true;
        *upload_data_size = 0; /* consumed (or dropped, past the bound) */
        return MHD_YES;
    }
    struct http_response res = {.status = 200};
    fl_buf_init(&res.body, (size_t)64 << 20);
    if (st->too_large) {
        res.route = "too_large";
        http_error(&res, FL_ERR_TOO_LARGE, "request body larger than %zu bytes",
                   s->config.max_body_bytes);
        return server_reply(s, conn, st, method, &res);
    }
    struct http_request req = {
        .method = method,
        .url = url,
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .body = (const uint8_t *)st->body.data,
        .body_len = st->body.len,
    };
    s->config.handler(s->config.handler_arg, &req, &res);
    return server_reply(s, conn, st, method, &res);
}

static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct request_state *st = *con_cls;
    if (!st)
        return;
    fl_buf_deinit(&st->body);
    free(st);
    *con_cls = NULL;
}

enum fl_err http_start(const struct http_config *config, struct http_server **out, char *detail,
                       size_t detail_len)
{
    struct sockaddr_in addr;
    if (!fl_parse_listen(config->listen, &addr))
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                       "listen address must be IPv4ADDR:PORT, got '%s'", config->listen);
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return FL_ERR_NOMEM;
    s->config = *config;
    /* A thread per connection: handlers block (an invocation waits for its Worker), and a
     * shared pool let one long call hold up the connections its thread had accepted. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, server_access, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, config->max_connections ? config->max_connections : 1024,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)CONNECTION_STACK_BYTES, MHD_OPTION_NOTIFY_COMPLETED,
        server_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot listen on %s", config->listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : ntohs(addr.sin_port);
    *out = s;
    return FL_OK;
}

unsigned http_port(const struct http_server *server)
{
    return server->port;
}

void http_stop(struct http_server *server)
{
    if (!server)
        return;
    MHD_quiesce_daemon(server->daemon);
    MHD_stop_daemon(server->daemon);
    free(server);
}
