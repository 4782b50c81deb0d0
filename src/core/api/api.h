/*
 * api — the FunLess-compatible REST API of docs/api.md, over the store, the
 * catalogue and the subjects. One entry point for the HTTP server; routes,
 * authentication and the handlers live behind it.
 */
#ifndef FL_CORE_API_API_H
#define FL_CORE_API_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/activations.h"
#include "core/async.h"
#include "core/app/scripts.h"
#include "core/auth.h"
#include "core/catalogue.h"
#include "core/cluster/cluster.h"
#include "core/db/db.h"
#include "core/http/server.h"
#include "core/quota.h"
#include "core/secrets.h"

struct api {
    struct db *db;
    struct catalogue *catalogue;
    struct app_scripts *scripts; /* parsed APP scripts, in step with the store */
    struct auth *auth;
    struct cluster *cluster;
    struct activations *activations;      /* the records' writer */
    struct async_queue *async;            /* asynchronous calls (NULL: none) */
    struct triggers *triggers;            /* functions' events (NULL: none, e.g. before start) */
    struct sinks *sinks;                  /* where functions' results go (NULL: none) */
    struct evloop *loop;                  /* the Core's event loop (the HTTP server's) */
    struct quotas *quotas;                /* subjects' limits and counts (docs/tenants.md) */
    const struct secrets_key *secret_key; /* seals functions' secrets (NULL: secrets refused) */
    pthread_mutex_t config_lock;          /* one configuration change at a time */
    size_t max_upload_bytes;              /* multipart uploads */
    size_t max_json_bytes;                /* JSON bodies, invocation arguments included */
    uint32_t max_capacity_mb;             /* the most memory a function may declare */
    bool metrics_enabled;
    bool push_on_create; /* code goes to the Workers at upload (else at their first call) */
};

/* http_handler for the server: `arg` is a struct api. */
void api_handle(void *arg, const struct http_request *req, struct http_response *res);
/* The server's admit step (http_admit): the route, the method and the token, from the headers
 * alone; an unknown route, a wrong method or token is answered before any body is read. What it
 * resolves is the handler's (req->routed): nothing is routed or checked twice. */
bool api_admit(void *arg, struct http_request *req, struct http_response *res);

/* activations_retention_fn: the modules of subjects whose keep_hours quota is shorter than
 * the Core's retention (docs/tenants.md). */
struct activation_retention *api_retention(void *arg, size_t *count);

/* cluster_code_fn over api->db: a function's code, for a Worker that lacks it. */
enum fl_err api_code_from_store(void *arg, const struct fn_def *def, struct fl_buf *code);

/* Fills the catalogue and the APP scripts from the store and makes sure the default module
 * `_` exists. */
enum fl_err api_load(struct api *api, char *detail, size_t detail_len);
/* Once `triggers` is set: every function's stored events start (core/triggers). */
enum fl_err api_load_triggers(struct api *api, char *detail, size_t detail_len);

#endif
