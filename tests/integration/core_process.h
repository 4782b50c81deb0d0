/*
 * Test helpers: a real `funless core` process on a free loopback port, and
 * a small libcurl client for its REST API.
 */
#ifndef FL_TEST_CORE_PROCESS_H
#define FL_TEST_CORE_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct core_process {
    pid_t pid;
    unsigned port;
    char url[64];
    char data_dir[256];
    char admin_token[64];
    char guest_token[64];
};

/* Starts `FUNLESS core` with --db DB_URL (NULL: SQLite in the data dir). */
bool core_start(struct core_process *core, const char *funless, const char *data_dir,
                const char *db_url);
/* The same with `--workers WORKERS` (NULL: none). */
bool core_start_with(struct core_process *core, const char *funless, const char *data_dir,
                     const char *db_url, const char *workers);

struct worker_process {
    pid_t pid;
    unsigned port, metrics_port;
    char name[32];
    char cache_dir[256];
};
/* Starts `FUNLESS worker` on 127.0.0.1:PORT (0: any free port). */
bool worker_start(struct worker_process *w, const char *funless, const char *name,
                  const char *cache_dir, unsigned port, unsigned threads, unsigned queue);
void worker_stop(struct worker_process *w, bool kill9);
/* GET http://127.0.0.1:METRICS_PORT/metrics (caller frees). */
char *worker_metrics(const struct worker_process *w);
/* SIGTERM and wait (graceful), or SIGKILL when `kill9`. Returns the exit status. */
int core_stop(struct core_process *core, bool kill9);

struct http_reply {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char worker[64]; /* X-Funless-Worker: where an invocation ran */
};

/* One request. `token` NULL: no Authorization header. `json` is a body (Content-Type JSON). */
struct http_reply http_call(const struct core_process *core, const char *method, const char *path,
                            const char *token, const char *json);

struct form_field {
    const char *name;
    const void *data; /* NULL: end of list */
    size_t len;
    bool is_file;
};
struct http_reply http_form(const struct core_process *core, const char *method, const char *path,
                            const char *token, const struct form_field *fields);
/* A raw body with a given content type. */
struct http_reply http_raw(const struct core_process *core, const char *method, const char *path,
                           const char *token, const char *content_type, const void *body,
                           size_t len);
void http_reply_free(struct http_reply *reply);
/* True when the reply has `status` and its body contains `needle` (if any); prints both
 * otherwise. Frees the reply. (cmocka assertions stay in the test files.) */
bool http_reply_is(struct http_reply reply, long status, const char *needle);

/* Bodies wait for "100 Continue" (as curl does by default): how a client learns of an early
 * refusal (413, 401) before it sends a large body. Off: the body goes at once. */
extern bool http_expect_continue;

#endif
