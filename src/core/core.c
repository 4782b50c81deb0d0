#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/evloop.h"
#include "common/funless_env.h"
#include "common/log.h"
#include "common/options.h"
#include "common/secret.h"
#include "core/activations.h"
#include "core/async.h"
#include "core/sinks/sinks.h"
#include "core/triggers/triggers.h"
#include "common/util.h"
#include "core/api/api.h"
#include "core/auth.h"
#include "core/catalogue.h"
#include "core/cluster/cluster.h"
#include "core/cluster/prometheus.h"
#include "core/discovery/discovery.h"
#include "core/db/db.h"
#include "core/http/server.h"
#include "proto/proto.h"

/* The largest upload and the largest arguments must fit in one INVOKE frame together (a Worker
 * without the code gets both at once), with room for the names. */
enum { MAX_UPLOAD_MB = 64, MAX_JSON_KB = 16384, FRAME_ROOM_FOR_NAMES = 64 << 10 };
enum { SINK_QUEUE_MAX = 10000 }; /* results waiting to be sent to sinks, at most */
_Static_assert(((uint64_t)MAX_UPLOAD_MB << 20) + ((uint64_t)MAX_JSON_KB << 10) +
                       FRAME_ROOM_FOR_NAMES <=
                   PROTO_MAX_PAYLOAD,
               "the largest code and arguments fit in one frame to a Worker");

struct core_options {
    const char *listen;
    const char *db_url;
    const char *data_dir;
    const char *workers;
    const char *secret_file;
    const char *discover, *discover_interface, *dns_server, *prometheus_url;
    uint64_t max_connections, max_connections_per_ip, header_timeout_s, min_body_rate_kb;
    uint64_t busy_poll_us;
    uint64_t max_upload_mb;
    uint64_t max_json_kb;
    uint64_t max_capacity_mb;
    bool metrics;
    const char *log_format, *log_level;
    const char *activations;
    uint64_t activation_keep_hours, activation_max, activation_result_kb, activation_log_kb;
    uint64_t async_retries, async_queue_max, async_concurrency;
    const char *secret_key_file;
    bool push_on_create;
    uint64_t quota_functions, quota_code_mb, quota_rate, quota_concurrent, quota_keep_hours;
};

/* The activation records' settings from the options; false for an unknown --activations. */
static bool core_activations_config(const struct core_options *opt,
                                    struct activations_config *config)
{
    *config = (struct activations_config){
        .keep_hours = opt->activation_keep_hours,
        .max_records = opt->activation_max,
        .result_max_bytes = opt->activation_result_kb << 10,
        .log_max_bytes = opt->activation_log_kb << 10,
        .log_max_lines = 1000,
        .buffer_max_bytes = (size_t)64 << 20,
    };
    if (strcmp(opt->activations, "all") == 0)
        config->keep = ACTIVATIONS_ALL;
    else if (strcmp(opt->activations, "errors") == 0)
        config->keep = ACTIVATIONS_ERRORS;
    else if (strcmp(opt->activations, "off") == 0)
        config->keep = ACTIVATIONS_OFF;
    else
        return false;
    return true;
}

static int core_usage(const struct fl_option *options, size_t count, bool help)
{
    fl_options_print_help(
        help ? stdout : stderr,
        "usage: funless core [OPTIONS]\n\n"
        "Runs the Core: the REST API (docs/api.md), the function store and the tokens.",
        options, count);
    return help ? 0 : 64;
}

static bool core_make_dir(const char *dir)
{
    return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

/* Blocks until SIGTERM or SIGINT (blocked in every thread since start-up). */
static void core_wait_for_signal(const sigset_t *signals)
{
    int sig = 0;
    while (sigwait(signals, &sig) != 0)
        ;
    fl_log(FL_LOG_INFO, "shutdown", "signal=%d", sig);
}

static bool core_dial_workers(struct cluster *cluster, const char *list)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", list ? list : "");
    for (char *save = NULL, *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save))
        if (cluster_add_worker(cluster, w) != FL_OK) {
            fl_log(FL_LOG_ERROR, "start_failed", "detail=%s address=%s",
                   "invalid worker address (use host:port)", w);
            return false;
        }
    return true;
}

/* The loop polls before it sleeps (--busy-poll-us) unless an asynchronous accept waits for
 * the store: the commit it waits for needs the CPU more than the loop does. */
static bool core_may_poll(void *activations)
{
    return !activations_awaited(activations);
}

static void core_gate_polling(void *arg)
{
    struct api *api = arg;
    evloop_set_poll_gate(api->loop, core_may_poll, api->activations);
}

static void core_ungate_polling(void *arg)
{
    struct api *api = arg;
    evloop_set_poll_gate(api->loop, NULL, NULL);
}

static int core_run(const struct core_options *opt, const sigset_t *signals)
{
    char detail[256], db_url[4200], tokens[4200], key_path[4200];
    struct secrets_key secret_key;
    struct db *db = NULL;
    struct auth *auth = NULL;
    struct http_server *server = NULL;
    struct discovery *discovery = NULL;
    struct prometheus_source *prometheus = NULL;
    struct catalogue *catalogue = catalogue_new();
    struct app_scripts *scripts = app_scripts_new();
    struct fl_secret secret;
    if (fl_secret_load(opt->secret_file, &secret, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
        catalogue_free(catalogue);
        app_scripts_free(scripts);
        return 1;
    }
    /* One thread serves HTTP, reads the Workers' links and runs the invocations (evloop.h). */
    struct evloop *loop = evloop_new();
    if (loop)
        evloop_set_busy_poll(loop, (unsigned)opt->busy_poll_us);
    struct quota_limits defaults = {.functions = (uint32_t)opt->quota_functions,
                                    .code_mb = (uint32_t)opt->quota_code_mb,
                                    .rate = (uint32_t)opt->quota_rate,
                                    .concurrent = (uint32_t)opt->quota_concurrent,
                                    .keep_hours = (uint32_t)opt->quota_keep_hours};
    struct api api = {.loop = loop,
                      .quotas = quotas_new(&defaults),
                      .catalogue = catalogue,
                      .scripts = scripts,
                      .max_upload_bytes = opt->max_upload_mb << 20,
                      .max_json_bytes = opt->max_json_kb << 10,
                      .max_capacity_mb = (uint32_t)opt->max_capacity_mb,
                      .push_on_create = opt->push_on_create,
                      .metrics_enabled = opt->metrics};
    struct cluster *cluster =
        loop && evloop_start(loop) ? cluster_new(&secret, loop, api_code_from_store, &api) : NULL;
    int rc = 1;
    snprintf(db_url, sizeof(db_url), "%s", opt->db_url ? opt->db_url : "");
    if (!opt->db_url)
        snprintf(db_url, sizeof(db_url), "sqlite:%s/funless.db", opt->data_dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens", opt->data_dir);
    snprintf(key_path, sizeof(key_path), "%s", opt->secret_key_file ? opt->secret_key_file : "");
    if (!opt->secret_key_file)
        snprintf(key_path, sizeof(key_path), "%s/secret.key", opt->data_dir);
    pthread_mutex_init(&api.config_lock, NULL);
    if (cluster)
        cluster_set_catalogue(cluster, catalogue);
    if (!cluster || !api.quotas) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", "out of memory or threads");
        goto out;
    }
    if (!core_make_dir(opt->data_dir)) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s path=%s error=%s",
               "cannot create the data directory", opt->data_dir, strerror(errno));
        goto out;
    }
    if (secrets_key_load(key_path, &secret_key, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
        goto out;
    }
    api.secret_key = &secret_key;
    if (!catalogue || !scripts || db_open(db_url, &db, detail, sizeof(detail)) != FL_OK ||
        auth_open(db, tokens, &auth, detail, sizeof(detail)) != FL_OK ||
        (api.db = db, api.auth = auth, api_load(&api, detail, sizeof(detail))) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s",
               catalogue && scripts ? detail : "out of memory");
        goto out;
    }
    api.cluster = cluster;
    struct activations_config records;
    if (!core_activations_config(opt, &records)) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", "--activations is all, errors or off");
        goto out;
    }
    records.retention = api_retention; /* subjects' shorter keep_hours */
    records.retention_arg = &api;
    /* the writer runs even with --activations off: asynchronous calls keep their records */
    if (!(api.activations = activations_start(db, &records))) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", "cannot start the activation writer");
        goto out;
    }
    evloop_call(loop, core_gate_polling, &api);
    struct async_config queue = {.concurrency = (unsigned)opt->async_concurrency,
                                 .retries = (unsigned)opt->async_retries,
                                 .queue_max = opt->async_queue_max};
    if (!(api.sinks = sinks_start(db, api.activations, SINK_QUEUE_MAX))) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", "cannot start the sinks' senders");
        goto out;
    }
    if (!(api.async = async_new(&queue, loop, cluster, catalogue, scripts, api.activations)) ||
        (async_set_sinks(api.async, api.sinks),
         async_load(api.async, db, detail, sizeof(detail))) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s",
               api.async ? detail : "cannot start the queue of asynchronous calls");
        goto out;
    }
    if (!(api.triggers =
              triggers_new(loop, api.async, catalogue, api.activations, api.max_json_bytes)) ||
        api_load_triggers(&api, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s",
               api.triggers ? detail : "cannot start the functions' triggers");
        goto out;
    }
    struct discovery_config found = {.methods = opt->discover,
                                     .interface = opt->discover_interface,
                                     .dns_server = opt->dns_server,
                                     .secret = &secret,
                                     .cluster = cluster};
    if (!core_dial_workers(cluster, opt->workers))
        goto out;
    if (discovery_start(&found, &discovery, detail, sizeof(detail)) != FL_OK ||
        prometheus_start(opt->prometheus_url, cluster, &prometheus, detail, sizeof(detail)) !=
            FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
        goto out;
    }
    struct http_config http = {
        .listen = opt->listen,
        .max_connections = (unsigned)opt->max_connections,
        .max_connections_per_ip = (unsigned)opt->max_connections_per_ip,
        .header_timeout_s = (unsigned)opt->header_timeout_s,
        .min_body_bytes_per_s = (unsigned)opt->min_body_rate_kb << 10,
        .max_body_bytes =
            api.max_upload_bytes > api.max_json_bytes ? api.max_upload_bytes : api.max_json_bytes,
        .handler = api_handle,
        .admit = api_admit,
        .handler_arg = &api,
        .loop = loop,
    };
    if (http_start(&http, &server, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
        goto out;
    }
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(opt->listen, ":"), opt->listen);
    printf("funless core: listening on http://%s:%u (store %s)\n", host, http_port(server),
           opt->db_url && strncmp(opt->db_url, "postgres", 8) == 0 ? "postgres" : db_url);
    fflush(stdout);
    core_wait_for_signal(signals);
    triggers_free(api.triggers); /* no fire after this */
    api.triggers = NULL;
    async_stop(api.async);       /* asynchronous calls out stay queued in the store */
    cluster_fail_calls(cluster); /* invocations out answer 502 now, so the server can stop */
    http_stop(server);
    rc = 0;
out:
    discovery_stop(discovery); /* before the cluster they feed */
    prometheus_stop(prometheus);
    triggers_free(api.triggers);
    async_stop(api.async);
    cluster_free(cluster); /* the last calls' outcomes are recorded here */
    async_free(api.async);
    sinks_stop(api.sinks); /* sends not done are dropped */
    if (loop)
        evloop_call(loop, core_ungate_polling, &api); /* before the writer it asks is gone */
    activations_stop(api.activations);                /* what is buffered is written first */
    evloop_free(loop); /* after the cluster: its links end on the loop */
    auth_free(auth);
    db_close(db);
    catalogue_free(catalogue);
    app_scripts_free(scripts);
    quotas_free(api.quotas);
    pthread_mutex_destroy(&api.config_lock);
    explicit_bzero(&secret_key, sizeof(secret_key));
    return rc;
}

/* FunLess's environment (its Core's config/runtime.exs) as ours: docs/funless.md. */
static void core_funless_env(char *ignored, size_t ignored_len)
{
    static const struct fl_env_alias aliases[] = {
        {"PORT", "FUNLESS_LISTEN", "0.0.0.0:%s", "0123456789"},
        {"PROMETHEUS_HOST", "FUNLESS_PROMETHEUS_URL", "http://%s:9090",
         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"},
        {"STORE_ON_CREATE", "FUNLESS_PUSH_ON_CREATE", "%s", NULL},
        /* libpq reads PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE itself */
        {"PGHOST", "FUNLESS_DB", "postgresql://%.0s", NULL},
    };
    static const char *const meaningless[] = {
        "POOL_SIZE", "SECRET_KEY_BASE", "DEPLOY_ENV",     "LIBCLUSTER_PORT",
        "ECTO_IPV6", "NODE_IP",         "RELEASE_COOKIE", NULL};
    if (getenv("PGHOST") && !getenv("FUNLESS_DB")) { /* FunLess's defaults for the rest */
        setenv("PGUSER", "postgres", 0);
        setenv("PGPASSWORD", "postgres", 0);
        setenv("PGDATABASE", "funless", 0);
        setenv("PGPORT", "5432", 0);
    }
    fl_funless_env(aliases, ARRAY_SIZE(aliases), meaningless, ignored, ignored_len);
}

int core_main(int argc, char **argv)
{
    struct core_options opt;
    const struct fl_option options[] = {
        {"--listen", "FUNLESS_LISTEN", FL_OPT_STRING, &opt.listen, "0.0.0.0:4000", 0, 0,
         "address and port of the REST API"},
        {"--db", "FUNLESS_DB", FL_OPT_STRING, &opt.db_url, NULL, 0, 0,
         "store: sqlite:PATH or postgres://user:pass@host:port/db (default "
         "sqlite:DATA_DIR/funless.db)"},
        {"--data-dir", "FUNLESS_DATA_DIR", FL_OPT_STRING, &opt.data_dir, "./funless-data", 0, 0,
         "where the SQLite store and the tokens file live"},
        {"--workers", "FUNLESS_WORKERS", FL_OPT_STRING, &opt.workers, NULL, 0, 0,
         "Workers to dial: HOST:PORT,HOST:PORT,... (more join by POST /v1/admin/workers)"},
        {"--secret-file", "FUNLESS_SECRET_FILE", FL_OPT_STRING, &opt.secret_file, NULL, 0, 0,
         "the cluster secret the Workers must share"},
        {"--discover", "FUNLESS_DISCOVER", FL_OPT_STRING, &opt.discover, NULL, 0, 0,
         "find Workers: multicast[:GROUP:PORT], dns:NAME[:PORT] (comma-separated)"},
        {"--discover-interface", "FUNLESS_DISCOVER_INTERFACE", FL_OPT_STRING,
         &opt.discover_interface, NULL, 0, 0,
         "IPv4 address of the interface to hear announcements on"},
        {"--dns-server", "FUNLESS_DNS_SERVER", FL_OPT_STRING, &opt.dns_server, NULL, 0, 0,
         "IPV4:PORT of the DNS server for dns: discovery (default: the system's resolver)"},
        {"--prometheus-url", "FUNLESS_PROMETHEUS_URL", FL_OPT_STRING, &opt.prometheus_url, NULL, 0,
         0, "read Workers' memory and load from this Prometheus instead of their heartbeats"},
        {"--max-connections", "FUNLESS_MAX_CONNECTIONS", FL_OPT_UINT, &opt.max_connections, "1024",
         1, 65536, "HTTP connections open at once"},
        {"--max-connections-per-ip", "FUNLESS_MAX_CONNECTIONS_PER_IP", FL_OPT_UINT,
         &opt.max_connections_per_ip, "0", 0, 65536,
         "HTTP connections open at once from one address (0: half of --max-connections)"},
        {"--header-timeout-s", "FUNLESS_HEADER_TIMEOUT_S", FL_OPT_UINT, &opt.header_timeout_s, "10",
         1, 3600, "a request's headers must arrive within this (slow clients are closed)"},
        {"--min-body-rate-kb", "FUNLESS_MIN_BODY_RATE_KB", FL_OPT_UINT, &opt.min_body_rate_kb, "16",
         1, 1 << 20, "after --header-timeout-s, a body slower than this (KiB/s) is closed"},
        {"--busy-poll-us", "FUNLESS_BUSY_POLL_US", FL_OPT_UINT, &opt.busy_poll_us, "50", 0, 10000,
         "while requests flow, the event loop polls this long for the next before it sleeps "
         "(0: it sleeps at once; less CPU, more latency)"},
        {"--max-upload-mb", "FUNLESS_MAX_UPLOAD_MB", FL_OPT_UINT, &opt.max_upload_mb, "32", 1,
         MAX_UPLOAD_MB, "largest upload (413 above)"},
        {"--max-capacity-mb", "FUNLESS_MAX_CAPACITY_MB", FL_OPT_UINT, &opt.max_capacity_mb, "1024",
         1, 4096, "the most memory (metadata capacity) a function may declare (422 above)"},
        {"--max-json-kb", "FUNLESS_MAX_JSON_KB", FL_OPT_UINT, &opt.max_json_kb, "1024", 1,
         MAX_JSON_KB,
         "largest JSON body, invocations included (413 above; with the largest upload it fits in "
         "one frame to a Worker)"},
        {"--metrics", "FUNLESS_METRICS", FL_OPT_FLAG, &opt.metrics, "true", 0, 0, "serve /metrics"},
        {"--activations", "FUNLESS_ACTIVATIONS", FL_OPT_STRING, &opt.activations, "all", 0, 0,
         "which invocations leave a record: all, errors (failures only) or off"},
        {"--activation-keep-hours", "FUNLESS_ACTIVATION_KEEP_HOURS", FL_OPT_UINT,
         &opt.activation_keep_hours, "24", 1, 24 * 3650, "records older than this are deleted"},
        {"--activation-max", "FUNLESS_ACTIVATION_MAX", FL_OPT_UINT, &opt.activation_max, "1000000",
         1, (uint64_t)1 << 40, "records kept at most (the oldest go first)"},
        {"--activation-result-kb", "FUNLESS_ACTIVATION_RESULT_KB", FL_OPT_UINT,
         &opt.activation_result_kb, "64", 0, 65536,
         "a result up to this is kept in its record (a larger one: result_truncated)"},
        {"--activation-log-kb", "FUNLESS_ACTIVATION_LOG_KB", FL_OPT_UINT, &opt.activation_log_kb,
         "64", 0, 65536, "log bytes kept per record (and 1,000 lines at most)"},
        {"--async-retries", "FUNLESS_ASYNC_RETRIES", FL_OPT_UINT, &opt.async_retries, "3", 0, 100,
         "an asynchronous call that fails for the platform (no Worker, busy, lost) is retried "
         "this many times"},
        {"--async-queue-max", "FUNLESS_ASYNC_QUEUE_MAX", FL_OPT_UINT, &opt.async_queue_max,
         "100000", 1, 100000000, "asynchronous calls accepted and not ended at most (429 past it)"},
        {"--async-concurrency", "FUNLESS_ASYNC_CONCURRENCY", FL_OPT_UINT, &opt.async_concurrency,
         "8", 1, 4096, "asynchronous calls running at once (synchronous ones are not counted)"},
        {"--push-on-create", "FUNLESS_PUSH_ON_CREATE", FL_OPT_FLAG, &opt.push_on_create, "true", 0,
         0,
         "send a function's code to every Worker when it is created or updated (false: each "
         "Worker asks for it at its first call)"},
        {"--secret-key-file", "FUNLESS_SECRET_KEY_FILE", FL_OPT_STRING, &opt.secret_key_file, NULL,
         0, 0,
         "the key that seals functions' secrets in the store (default DATA_DIR/secret.key, made "
         "at first start)"},
        {"--quota-functions", "FUNLESS_QUOTA_FUNCTIONS", FL_OPT_UINT, &opt.quota_functions, "0", 0,
         1000000000, "functions a subject may create (0: no limit; the admin sets its own)"},
        {"--quota-code-mb", "FUNLESS_QUOTA_CODE_MB", FL_OPT_UINT, &opt.quota_code_mb, "0", 0,
         1000000000, "MiB of code a subject's functions may hold (0: no limit)"},
        {"--quota-rate", "FUNLESS_QUOTA_RATE", FL_OPT_UINT, &opt.quota_rate, "0", 0, 1000000000,
         "invocations per second a subject may make (0: no limit; 429 past it)"},
        {"--quota-concurrent", "FUNLESS_QUOTA_CONCURRENT", FL_OPT_UINT, &opt.quota_concurrent, "0",
         0, 1000000000, "invocations a subject may have running at once (0: no limit)"},
        {"--quota-keep-hours", "FUNLESS_QUOTA_KEEP_HOURS", FL_OPT_UINT, &opt.quota_keep_hours, "0",
         0, 24 * 3650,
         "hours the records of a subject's modules are kept, when shorter than "
         "--activation-keep-hours (0: as long)"},
        {"--log-format", "FUNLESS_LOG_FORMAT", FL_OPT_STRING, &opt.log_format, "kv", 0, 0,
         "log lines as key=value pairs (kv) or JSON objects (json)"},
        {"--log-level", "FUNLESS_LOG_LEVEL", FL_OPT_STRING, &opt.log_level, "info", 0, 0,
         "the least level logged: debug, info, warn or error"},
    };
    const size_t count = ARRAY_SIZE(options);
    char err[256], *positional[1], ignored[512];
    size_t npositional;
    bool help;
    core_funless_env(ignored, sizeof(ignored));
    if (!fl_options_parse(options, count, argc, argv, positional, 0, &npositional, &help, err,
                          sizeof(err))) {
        fprintf(stderr, "funless core: %s\n", err); /* a usage error: before the log is set up */
        return 64;
    }
    if (help)
        return core_usage(options, count, true);
    if (!fl_log_setup_from_options("funless core", "core", opt.log_format, opt.log_level))
        return 64;
    if (ignored[0])
        fl_log(FL_LOG_WARN, "funless_settings_ignored", "names=%s detail=%s", ignored,
               "FunLess settings that mean nothing to funless, or hold a value it cannot use "
               "(docs/funless.md)");
    /* Signals: handled by sigwait in the main thread; every thread started later inherits the mask.
     */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    return core_run(&opt, &signals);
}
