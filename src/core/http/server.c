/*
 * server — libmicrohttpd glue (see server.h).
 *
 * Threading: MHD runs on the event loop's thread (external epoll mode: the
 * loop watches MHD's epoll descriptor and calls MHD_run), which calls
 * server_access for every request.
 * The per-request state (`struct http_exchange`) lives in the connection's
 * `con_cls` slot from the first call to the completion callback, which frees
 * it. A handler that cannot answer at once gets the connection suspended:
 * a detached thread runs it again (HTTP_RUN_BLOCKING), or someone calls
 * http_resume (HTTP_RUN_LATER); either resumes the connection, and MHD calls
 * server_access again, which sends the answer or runs the handler again.
 */
#include "core/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/net.h"
#include "common/secret.h"
#include "common/util.h"
#include "core/metrics.h"

/* Handlers parse JSON (cJSON nests at most 1000 deep) and call SQLite: half a MiB is ample,
 * and only the pages a thread touches count in RSS. */
enum { THREAD_STACK_BYTES = 512 * 1024 };

/* Where a connection is, for the deadlines that bytes do not reset (server_sweep). */
enum conn_phase { CONN_HEADERS, CONN_BODY, CONN_HANDLING };

struct conn_track {
    int fd;
    enum conn_phase phase;
    double since;      /* the phase began */
    size_t body_bytes; /* received in CONN_BODY */
    bool cut;          /* shut down by the sweep */
    struct conn_track *prev, *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct conn_track *tracks; /* every open connection (the loop's thread only) */
    double last_sweep;
    struct http_config config;
    unsigned port;
    struct evloop_source source; /* MHD's epoll descriptor */
    /* A connection was resumed: MHD must run this round (MHD_resume_connection alone does not
     * wake a loop that MHD does not own). */
    atomic_bool run_pending;
    double last_run; /* MHD also runs once a second, for idle connections' timeouts */
    bool hooked;
    atomic_uint suspended; /* connections waiting for a blocking run or http_resume */
    /* Suspended requests whose client is not watched yet, oldest first (server_watch_due) */
    struct http_exchange *unwatched, *unwatched_last;
};

/* A suspended request's client is watched once the request has waited this long: most calls
 * answer sooner, and watching costs two epoll_ctl calls a request (6% of the loop's time for a
 * fast call). A client that leaves sooner is noticed when the watch begins (its end of
 * file is still there). */
enum { WATCH_AFTER_MS = 2 };

/* Where a request waiting for http_resume is (see http_resume). */
enum resume_state { RESUME_RUNNING, RESUME_SUSPENDED, RESUME_REQUESTED };

struct http_exchange {
    struct http_server *server;
    struct MHD_Connection *conn;
    struct fl_buf body;
    bool too_large;
    double started;
    struct http_request req;
    atomic_bool answered; /* `res` holds the answer (a blocking run's, or http_resume's) */
    struct http_response res;
    void *state;
    void (*state_free)(void *state);
    void (*on_gone)(void *state);
    struct evloop_source client; /* watched while suspended: has the client gone? */
    bool watching;
    bool waiting_for_watch; /* in server->unwatched */
    double suspended_at;    /* fl_now_s() when it was put there */
    struct http_exchange *unwatched_prev, *unwatched_next;
    atomic_int resume;
};

static void server_add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (value)
        MHD_add_response_header(r, name, value);
}

static enum MHD_Result server_send(struct MHD_Connection *conn, struct http_response *res,
                                   const char *request_id)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        res->body.len, res->body.data ? res->body.data : "", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    server_add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                      res->content_type ? res->content_type : "application/json");
    server_add_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    server_add_header(r, MHD_HTTP_HEADER_LOCATION, res->location[0] ? res->location : NULL);
    server_add_header(r, "X-Funless-Worker", res->worker[0] ? res->worker : NULL);
    server_add_header(r, "X-Request-Id", request_id);
    server_add_header(r, "X-Funless-Activation", res->activation[0] ? res->activation : NULL);
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
                                    struct http_exchange *st, const char *method,
                                    struct http_response *res)
{
    enum MHD_Result ok = server_send(conn, res, st->req.id);
    metrics_observe_request(res->route ? res->route : "unknown", method, res->status,
                            fl_now_s() - st->started);
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

static void server_suspend(struct http_exchange *x)
{
    atomic_fetch_add(&x->server->suspended, 1);
    MHD_suspend_connection(x->conn);
}

/* `x` may be gone as soon as the connection is resumed: nothing of it is touched after. */
static void server_resume(struct http_exchange *x)
{
    struct http_server *s = x->server;
    MHD_resume_connection(x->conn);
    atomic_store(&s->run_pending, true);
    atomic_fetch_sub(&s->suspended, 1);
    if (!evloop_on_thread(s->config.loop))
        evloop_wake(s->config.loop); /* its round end runs MHD */
}

static void server_unlist(struct http_exchange *x)
{
    struct http_server *s = x->server;
    *(x->unwatched_prev ? &x->unwatched_prev->unwatched_next : &s->unwatched) = x->unwatched_next;
    *(x->unwatched_next ? &x->unwatched_next->unwatched_prev : &s->unwatched_last) =
        x->unwatched_prev;
    x->unwatched_prev = x->unwatched_next = NULL;
    x->waiting_for_watch = false;
}

static void server_unwatch(struct http_exchange *x)
{
    if (x->waiting_for_watch)
        server_unlist(x);
    if (x->watching)
        evloop_remove(x->server->config.loop, &x->client);
    x->watching = false;
}

/* On the loop's thread: the suspended request's socket is readable or hung up. End of file
 * (or an error) means the client is gone; anything else (a pipelined request) ends the
 * watch. */
static void server_client_ready(struct evloop_source *source)
{
    struct http_exchange *x = container_of(source, struct http_exchange, client);
    char byte;
    ssize_t n = recv(source->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    server_unwatch(x);
    if (n <= 0 && x->on_gone) {
        void (*gone)(void *) = x->on_gone;
        x->on_gone = NULL;
        gone(x->state);
    }
}

/* The suspended request's client is watched from now on: its going away is noticed at once. */
static void server_watch(struct http_exchange *x)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!x->on_gone || x->watching || !info)
        return;
    x->client = (struct evloop_source){info->connect_fd, server_client_ready};
    x->watching = evloop_add(x->server->config.loop, &x->client);
}

/* While a request waits for http_resume, its client will be watched WATCH_AFTER_MS from now. */
static void server_watch_later(struct http_exchange *x)
{
    struct http_server *s = x->server;
    if (!x->on_gone || x->watching || x->waiting_for_watch)
        return;
    x->suspended_at = fl_now_s();
    x->waiting_for_watch = true;
    x->unwatched_prev = s->unwatched_last;
    x->unwatched_next = NULL;
    *(s->unwatched_last ? &s->unwatched_last->unwatched_next : &s->unwatched) = x;
    s->unwatched_last = x;
    evloop_round_within(s->config.loop, WATCH_AFTER_MS);
}

/* Each round: the requests that have waited WATCH_AFTER_MS get their watch; the loop comes back
 * for the next one in time. */
static void server_watch_due(struct http_server *s, double now)
{
    while (s->unwatched && now - s->unwatched->suspended_at >= WATCH_AFTER_MS / 1000.0) {
        struct http_exchange *x = s->unwatched;
        server_unlist(x);
        server_watch(x);
    }
    if (s->unwatched) {
        double left_ms = WATCH_AFTER_MS - (now - s->unwatched->suspended_at) * 1000.0;
        evloop_round_within(s->config.loop, (int)left_ms + 1);
    }
}

/*
 * The handler said HTTP_RUN_LATER: suspend, unless http_resume came already (it may run on
 * another thread before the handler has even returned) — then resume at once.
 */
static void server_wait_for_resume(struct http_exchange *x)
{
    server_watch_later(x);
    server_suspend(x);
    if (atomic_exchange(&x->resume, RESUME_SUSPENDED) == RESUME_REQUESTED) {
        atomic_store(&x->resume, RESUME_RUNNING);
        server_resume(x);
    }
}

const char *http_query(const struct http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->exchange->conn, MHD_GET_ARGUMENT_KIND, key);
}

void http_resume(struct http_exchange *x)
{
    atomic_store(&x->answered, true);
    if (atomic_exchange(&x->resume, RESUME_REQUESTED) == RESUME_SUSPENDED) {
        atomic_store(&x->resume, RESUME_RUNNING);
        server_resume(x);
    }
}

static void *server_blocking_main(void *arg)
{
    struct http_exchange *x = arg;
    x->req.may_block = true;
    x->server->config.handler(x->server->config.handler_arg, &x->req, &x->res);
    if (x->res.status < 0) /* a thread of its own is the last resort: no more "later" */
        http_error(&x->res, FL_ERR_INVALID_ARG, "the handler did not answer");
    atomic_store(&x->answered, true);
    server_resume(x);
    return NULL;
}

/* The handler said HTTP_RUN_BLOCKING: suspended, it runs again on a thread of its own. */
static bool server_run_blocking(struct http_exchange *x)
{
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
    x->res.status = 200;
    server_suspend(x);
    bool ok = pthread_create(&thread, &attr, server_blocking_main, x) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        server_resume(x);
        atomic_store(&x->answered, true);
        http_error(&x->res, FL_ERR_UNAVAILABLE, "cannot start a thread for the request");
    }
    return ok;
}

static struct http_exchange *server_exchange_new(struct http_server *s, struct MHD_Connection *conn)
{
    struct http_exchange *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->server = s;
    x->conn = conn;
    fl_buf_init(&x->body, s->config.max_body_bytes);
    fl_buf_init(&x->res.body, (size_t)64 << 20);
    x->started = fl_now_s();
    x->too_large = server_body_too_large(s, conn);
    atomic_init(&x->resume, RESUME_RUNNING);
    return x;
}

/* A client's X-Request-Id is kept when it is a plain token (it reaches logs and a header). */
static bool server_request_id_valid(const char *id)
{
    size_t len = strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    return len >= 1 && len <= HTTP_REQUEST_ID_MAX && id[len] == '\0';
}

static uint64_t request_id_seed;

static void server_seed_request_ids(void)
{
    uint8_t bytes[8];
    if (fl_random_bytes(bytes, sizeof(bytes)))
        request_id_seed = fl_get_le64(bytes);
    else
        request_id_seed = fl_now_ns();
}

/* The request's id: the client's, or 16 hex digits unique in this process (a counter through
 * a bijective mix seeded at random: ids do not reveal how many requests came before). */
static void server_request_id(struct http_exchange *x)
{
    static atomic_uint_fast64_t counter;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const char *given = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given && server_request_id_valid(given)) {
        snprintf(x->req.id, sizeof(x->req.id), "%s", given);
        return;
    }
    pthread_once(&once, server_seed_request_ids);
    uint64_t z = (request_id_seed + atomic_fetch_add(&counter, 1)) * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u; /* splitmix64's finalizer: a bijection */
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    snprintf(x->req.id, sizeof(x->req.id), "%016llx", (unsigned long long)(z ^ (z >> 31)));
}

/* The request as handlers see it (header values live as long as the connection); its body is
 * set once it has all arrived. */
static void server_request_init(struct http_exchange *x, const char *method, const char *url)
{
    x->req = (struct http_request){
        .state = &x->state,
        .state_free = &x->state_free,
        .on_gone = &x->on_gone,
        .exchange = x,
        .method = method,
        .url = url,
        .content_type =
            MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .authorization =
            MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
    };
    server_request_id(x);
}

/* MHD tells us of each connection opened and closed (on the loop's thread). */
static void server_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                     enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct conn_track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t = calloc(1, sizeof(*t));
        if (!t || !info) {
            free(t);
            return;
        }
        *t = (struct conn_track){
            .fd = info->connect_fd, .phase = CONN_HEADERS, .since = fl_now_s(), .next = s->tracks};
        if (s->tracks)
            s->tracks->prev = t;
        s->tracks = t;
        *socket_context = t;
    } else if (t) {
        if (t->prev)
            t->prev->next = t->next;
        else
            s->tracks = t->next;
        if (t->next)
            t->next->prev = t->prev;
        free(t);
        *socket_context = NULL;
    }
}

static struct conn_track *server_track(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void server_track_phase(struct MHD_Connection *conn, enum conn_phase phase)
{
    struct conn_track *t = server_track(conn);
    if (t) {
        t->phase = phase;
        t->since = fl_now_s();
        t->body_bytes = 0;
    }
}

/*
 * Closes the connections past a deadline that their bytes do not reset: headers not complete
 * within header_timeout_s (slowloris), or a body arriving slower than min_body_bytes_per_s
 * after that long. Shutting the socket down makes MHD see its end and close it.
 */
static void server_sweep(struct http_server *s)
{
    double now = fl_now_s();
    double timeout = s->config.header_timeout_s ? s->config.header_timeout_s : 10;
    double rate = s->config.min_body_bytes_per_s ? s->config.min_body_bytes_per_s : 16 << 10;
    s->last_sweep = now;
    for (struct conn_track *t = s->tracks; t; t = t->next) {
        double age = now - t->since;
        bool late = (t->phase == CONN_HEADERS && age > timeout) ||
                    (t->phase == CONN_BODY && age > timeout && t->body_bytes < rate * age);
        if (late && !t->cut) {
            t->cut = true;
            shutdown(t->fd, SHUT_RDWR);
        }
    }
}

static enum MHD_Result server_count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind, (void)value;
    unsigned *counts = cls;
    counts[0] += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
    counts[1] += strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0;
    return MHD_YES;
}

static int server_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* MHD's percent-decoding, but %00 stays as it is: decoded, it would cut the URL short
 * ("/v1/fn/_%00x" would read "/v1/fn/_"). */
static size_t server_unescape(void *cls, struct MHD_Connection *conn, char *uri)
{
    (void)cls, (void)conn;
    char *out = uri;
    for (const char *in = uri; *in; in++) {
        int hi = in[0] == '%' ? server_hex(in[1]) : -1, lo = hi >= 0 ? server_hex(in[2]) : -1;
        if (lo >= 0 && (hi || lo)) {
            *out++ = (char)(hi * 16 + lo);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t)(out - uri);
}

/* Headers only: false with the answer in x->res when the request is refused before its body. */
static bool server_admit(struct http_server *s, struct http_exchange *x)
{
    unsigned counts[2] = {0, 0}; /* Content-Length, Transfer-Encoding */
    MHD_get_connection_values(x->conn, MHD_HEADER_KIND, server_count_header, counts);
    if (counts[0] > 1 || (counts[0] && counts[1])) {
        x->res.route = "bad_framing";
        http_error(&x->res, FL_ERR_BAD_REQUEST,
                   "ambiguous framing: more than one Content-Length, or one with "
                   "Transfer-Encoding");
        return false;
    }
    if (x->too_large) {
        x->res.route = "too_large";
        http_error(&x->res, FL_ERR_TOO_LARGE, "request body larger than %zu bytes",
                   s->config.max_body_bytes);
        return false;
    }
    x->res.status = 200;
    if (s->config.admit && !s->config.admit(s->config.handler_arg, &x->req, &x->res))
        return false;
    x->req.admitted = s->config.admit != NULL;
    return true;
}

static enum MHD_Result server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct http_server *s = cls;
    struct http_exchange *x = *con_cls;
    (void)version;
    if (!x) {
        *con_cls = x = server_exchange_new(s, conn);
        if (!x)
            return MHD_NO;
        server_request_init(x, method, url);
        server_track_phase(conn, CONN_BODY);
        return server_admit(s, x) ? MHD_YES : server_reply(s, conn, x, method, &x->res);
    }
    if (*upload_data_size) {
        struct conn_track *t = server_track(conn);
        if (t)
            t->body_bytes += *upload_data_size;
        if (!x->too_large && !fl_buf_append(&x->body, upload_data, *upload_data_size))
            x->too_large = true;
        *upload_data_size = 0; /* consumed (or dropped, past the bound) */
        return MHD_YES;
    }
    if (atomic_load(&x->answered)) {
        server_unwatch(x);
        return server_reply(s, conn, x, method, &x->res);
    }
    if (x->too_large) { /* a body longer than it said, or chunked */
        x->res.route = "too_large";
        http_error(&x->res, FL_ERR_TOO_LARGE, "request body larger than %zu bytes",
                   s->config.max_body_bytes);
        return server_reply(s, conn, x, method, &x->res);
    }
    server_unwatch(x); /* resumed: the answer is on its way */
    if (!x->req.body)  /* the body is all here: no deadline while the request is handled */
        server_track_phase(conn, CONN_HANDLING);
    x->req.body = (const uint8_t *)(x->body.data ? x->body.data : "");
    x->req.body_len = x->body.len;
    x->req.may_block = false;
    x->res.status = 200;
    s->config.handler(s->config.handler_arg, &x->req, &x->res);
    if (x->res.status == HTTP_RUN_LATER) {
        server_wait_for_resume(x);
        return MHD_YES;
    }
    if (x->res.status == HTTP_RUN_BLOCKING && server_run_blocking(x))
        return MHD_YES;
    return server_reply(s, conn, x, method, &x->res);
}

static void server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)toe;
    server_track_phase(conn, CONN_HEADERS); /* kept alive: the next request's headers */
    struct http_exchange *x = *con_cls;
    if (!x)
        return;
    server_unwatch(x);
    if (x->state_free && x->state)
        x->state_free(x->state);
    free(x->req.routed);
    fl_buf_deinit(&x->body);
    fl_buf_deinit(&x->res.body);
    free(x);
    *con_cls = NULL;
}

/*
 * Runs MHD until it has nothing ready. It tracks readiness edge-triggered: a connection whose
 * data it has not all read (a large upload) is ready again without a new event on its
 * descriptor, which MHD says by a timeout of 0.
 */
static void server_run(struct http_server *s)
{
    s->last_run = fl_now_s();
    for (int i = 0; i < 16; i++) {
        MHD_run(s->daemon);
        MHD_UNSIGNED_LONG_LONG ms;
        if (MHD_get_timeout(s->daemon, &ms) != MHD_YES || ms != 0)
            return;
    }
    atomic_store(&s->run_pending, true); /* still more: the next round, after the links' */
    evloop_wake(s->config.loop);
}

/* The loop saw MHD's descriptor readable: a connection, a request, a resumption. */
static void server_ready(struct evloop_source *source)
{
    server_run(container_of(source, struct http_server, source));
}

/* The loop's round-end hook: the resumptions of this round (or from other threads) answer. */
static void server_round_end(void *arg)
{
    struct http_server *s = arg;
    if (atomic_exchange(&s->run_pending, false) || fl_now_s() - s->last_run >= 1.0)
        server_run(s);
    double now = fl_now_s(); /* after server_run: the requests it suspended count */
    server_watch_due(s, now);
    if (now - s->last_sweep >= 0.5)
        server_sweep(s);
}

static void server_hook(void *arg)
{
    struct http_server *s = arg;
    s->hooked = evloop_on_round_end(s->config.loop, EVLOOP_WORK, server_round_end, s);
}

/* On the loop's thread (MHD has no lock of its own in this mode). */
static void server_quiesce(void *arg)
{
    struct http_server *s = arg;
    MHD_quiesce_daemon(s->daemon);
}

static void server_unhook(void *arg)
{
    struct http_server *s = arg;
    evloop_off_round_end(s->config.loop, server_round_end, s);
}

static void server_close(void *arg)
{
    struct http_server *s = arg;
    evloop_remove(s->config.loop, &s->source);
    server_unhook(s);
    MHD_stop_daemon(s->daemon);
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
    /* No thread of MHD's own: the loop runs it, beside the Worker links (evloop.h). */
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    unsigned max_connections = config->max_connections ? config->max_connections : 1024;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, server_access, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        config->max_connections_per_ip ? config->max_connections_per_ip : max_connections / 2,
        MHD_OPTION_NOTIFY_CONNECTION, server_notify_connection, s, MHD_OPTION_NOTIFY_COMPLETED,
        server_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, server_unescape, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_LISTENING_ADDRESS_REUSE, 0,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *epoll_info =
        s->daemon ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    s->source = (struct evloop_source){epoll_info ? epoll_info->epoll_fd : -1, server_ready};
    if (s->daemon && epoll_info)
        evloop_call(config->loop, server_hook, s);
    if (!s->daemon || !epoll_info || !s->hooked || !evloop_add(config->loop, &s->source)) {
        if (s->hooked)
            evloop_call(config->loop, server_unhook, s);
        if (s->daemon)
            MHD_stop_daemon(s->daemon);
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
    evloop_call(server->config.loop, server_quiesce, server);
    /* MHD must not be stopped with connections suspended: let blocking runs and resumes end */
    for (int i = 0; i < 3000 && atomic_load(&server->suspended); i++)
        usleep(10000);
    evloop_call(server->config.loop, server_close, server);
    free(server);
}
