/*
 * engine — modules, tiers and the background optimizer (see engine.h).
 *
 * Threading: one background thread builds tier 1, one module at a time,
 * from a FIFO queue (each queued module holds a reference). A module's best
 * code is an atomic pointer: invocations read it without a lock; tier 0
 * stays loaded until the module is freed, so an invocation that started on
 * it may finish on it after tier 1 is swapped in.
 */
#include "engine/engine.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "engine/compile.h"
#include "engine/engine_internal.h"
#include "engine/http_out.h"
#include "engine/rt.h"

enum tier1_state { TIER1_PENDING, TIER1_READY, TIER1_FAILED };

struct engine_module {
    atomic_int refs;
    char hash[FL_HASH_HEX_BYTES];
    char dir[PATH_MAX];
    /* The module's bytes: tier-0 code reads data segments from them, tier 1 translates them. */
    uint8_t *wasm;
    size_t wasm_len;
    struct wasm_desc desc;
    struct engine_module_info info;
    rt_host_fn *import_funcs;
    void **import_ptrs;
    struct compiled *tier0;
    struct compiled *tier1;
    _Atomic(struct compiled *) best;
    atomic_uint fast_streak; /* engine_module_fast_streak */
    pthread_mutex_t lock;
    pthread_cond_t tier1_changed;
    enum tier1_state tier1_state;
    struct engine_module *queue_next;
};

static struct {
    struct engine_config config;
    char *toolchain_id;
    char cache_dir[PATH_MAX];
    bool private_cache; /* a temporary dir removed at deinit */
    pthread_t tier1_thread;
    bool tier1_running;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_changed;
    struct engine_module *queue_head, *queue_tail;
    bool stopping;
} engine = {.queue_lock = PTHREAD_MUTEX_INITIALIZER, .queue_changed = PTHREAD_COND_INITIALIZER};

static struct {
    pthread_mutex_t lock;
    struct engine_stats stats;
} engine_counters = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void engine_count(enum engine_tier tier, bool ok, double seconds)
{
    pthread_mutex_lock(&engine_counters.lock);
    struct engine_stats *st = &engine_counters.stats;
    if (tier == ENGINE_TIER0) {
        st->tier0_compiles++;
        st->tier0_seconds += seconds;
    } else {
        st->tier1_compiles += ok;
        st->tier1_failures += !ok;
        st->tier1_seconds += seconds;
    }
    pthread_mutex_unlock(&engine_counters.lock);
}

void engine_stats(struct engine_stats *out)
{
    pthread_mutex_lock(&engine_counters.lock);
    *out = engine_counters.stats;
    pthread_mutex_unlock(&engine_counters.lock);
}

void engine_config_defaults(struct engine_config *config)
{
    *config = (struct engine_config){
        .cache_dir = NULL,
        .tier1 = true,
        .tier1_timeout_s = 300,
        .tier1_memory_bytes = (uint64_t)2 << 30,
        .translate_split_min_bytes = 256 << 10,
        .http_max_bytes = 1 << 20,
    };
}

void engine_limits_defaults(struct engine_limits *limits)
{
    *limits = (struct engine_limits){
        .memory_bytes = (uint64_t)64 << 20,
        .timeout_ms = 60000,
        .max_output_bytes = 1 << 20,
        .max_log_bytes = 64 << 10,
    };
}

/* A compiler's or translator's reason can quote what a module holds: escaped for the log. */
static void engine_log_failure(const char *event, const char *hash, const char *detail)
{
    fl_log(FL_LOG_WARN, event, "hash=%.16s detail=%s", hash, detail);
}

/* ---- the background optimizer ---- */

static void tier1_finish(struct engine_module *m, struct compiled *code)
{
    pthread_mutex_lock(&m->lock);
    m->tier1 = code;
    if (code)
        atomic_store(&m->best, code);
    m->tier1_state = code ? TIER1_READY : TIER1_FAILED;
    pthread_cond_broadcast(&m->tier1_changed);
    pthread_mutex_unlock(&m->lock);
}

static void tier1_build(struct engine_module *m)
{
    char detail[256];
    struct compiled *code = NULL;
    double started = fl_now_s();
    if (compile_translate(m->dir, m->wasm, m->wasm_len, &m->desc,
                          engine.config.translate_split_min_bytes, detail,
                          sizeof(detail)) != FL_OK ||
        compile_tier1_build(m->dir, &engine.config, detail, sizeof(detail)) != FL_OK ||
        compile_tier1_load(m->dir, &code, detail, sizeof(detail)) != FL_OK) {
        engine_log_failure("tier1_failed", m->hash, detail);
        /* never trusted: whatever made it fail (a full disk, a crash) is not made permanent by
         * an artifact that a later load would take as translated */
        compile_remove_tree(m->dir);
    } else {
        compile_cache_trim(engine.cache_dir, engine.config.cache_max_bytes, m->dir);
    }
    engine_count(ENGINE_TIER1, code != NULL, fl_now_s() - started);
    tier1_finish(m, code);
}

static struct engine_module *tier1_next(void)
{
    pthread_mutex_lock(&engine.queue_lock);
    while (!engine.queue_head && !engine.stopping)
        pthread_cond_wait(&engine.queue_changed, &engine.queue_lock);
    struct engine_module *m = engine.stopping ? NULL : engine.queue_head;
    if (m) {
        engine.queue_head = m->queue_next;
        if (!engine.queue_head)
            engine.queue_tail = NULL;
    }
    pthread_mutex_unlock(&engine.queue_lock);
    return m;
}

static void *tier1_main(void *arg)
{
    (void)arg;
    struct engine_module *m;
    while ((m = tier1_next()) != NULL) {
        tier1_build(m);
        engine_module_release(m);
    }
    return NULL;
}

static void tier1_enqueue(struct engine_module *m)
{
    pthread_mutex_lock(&engine.queue_lock);
    engine_module_ref(m);
    m->queue_next = NULL;
    if (engine.queue_tail)
        engine.queue_tail->queue_next = m;
    else
        engine.queue_head = m;
    engine.queue_tail = m;
    pthread_cond_signal(&engine.queue_changed);
    pthread_mutex_unlock(&engine.queue_lock);
}

/* ---- init ---- */

static enum fl_err engine_prepare_cache_dir(const char *dir, char *detail, size_t detail_len)
{
    char path[PATH_MAX];
    if (!dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof(path), "%s/funless-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(path))
            return fl_fail(FL_ERR_IO, detail, detail_len, "cannot create a temporary cache: %s",
                           strerror(errno));
        engine.private_cache = true;
    } else {
        snprintf(path, sizeof(path), "%s", dir);
        for (char *p = path + 1; *p; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return fl_fail(FL_ERR_IO, detail, detail_len, "cannot create cache dir %s: %s", path,
                           strerror(errno));
    }
    snprintf(engine.cache_dir, sizeof(engine.cache_dir), "%s", path);
    return FL_OK;
}

enum fl_err engine_init(const struct engine_config *config, char *detail, size_t detail_len)
{
    engine.config = *config;
    engine.stopping = false;
    rt_global_init();
    enum fl_err err =
        http_out_configure(config->http_allow, config->http_max_bytes, detail, detail_len);
    if (err == FL_OK)
        err = compile_toolchain_id(&engine.toolchain_id, detail, detail_len);
    if (err == FL_OK)
        err = engine_prepare_cache_dir(config->cache_dir, detail, detail_len);
    if (err == FL_OK && !engine.private_cache)
        compile_prune_old_formats(engine.cache_dir);
    if (err == FL_OK)
        err = compile_gate_init(engine.cache_dir, detail, detail_len);
    if (err == FL_OK && config->tier1) {
        engine.tier1_running = pthread_create(&engine.tier1_thread, NULL, tier1_main, NULL) == 0;
        if (!engine.tier1_running)
            err = fl_fail(FL_ERR_IO, detail, detail_len, "cannot start the optimizer thread");
    }
    if (err != FL_OK)
        engine_deinit();
    return err;
}

void engine_deinit(void)
{
    pthread_mutex_lock(&engine.queue_lock);
    engine.stopping = true;
    struct engine_module *queued = engine.queue_head;
    engine.queue_head = engine.queue_tail = NULL;
    pthread_cond_broadcast(&engine.queue_changed);
    pthread_mutex_unlock(&engine.queue_lock);
    if (engine.tier1_running)
        pthread_join(engine.tier1_thread, NULL);
    engine.tier1_running = false;
    while (queued) {
        struct engine_module *next = queued->queue_next;
        tier1_finish(queued, NULL);
        engine_module_release(queued);
        queued = next;
    }
    if (engine.private_cache)
        compile_remove_tree(engine.cache_dir);
    engine.private_cache = false;
    free(engine.toolchain_id);
    engine.toolchain_id = NULL;
    compile_gate_deinit();
    rt_thread_release();
}

/* ---- modules ---- */

static enum fl_err module_resolve_imports(struct engine_module *m, engine_import_resolver resolver,
                                          void *user, char *detail, size_t detail_len)
{
    uint32_t n = m->desc.import_count;
    m->import_funcs = calloc(n + 1, sizeof(rt_host_fn));
    m->import_ptrs = calloc(n + 1, sizeof(void *));
    if (!m->import_funcs || !m->import_ptrs)
        return FL_ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const struct wasm_import *imp = &m->desc.imports[i];
        const char *sig = imp->kind == WASM_EXTERN_FUNC ? m->desc.type_sigs[imp->type_index] : "";
        enum fl_err err =
            resolver(user, imp, sig, &m->import_funcs[i], &m->import_ptrs[i], detail, detail_len);
        if (err != FL_OK)
            return err;
    }
    return FL_OK;
}

/* wabt's validator, on a thread beside the tier-0 compile. */
struct validation {
    const struct engine_module *module;
    pthread_t thread;
    enum fl_err err;
    char detail[256];
};

static void *validation_main(void *arg)
{
    struct validation *v = arg;
    v->err =
        accept_validate_full(v->module->wasm, v->module->wasm_len, v->detail, sizeof(v->detail));
    return NULL;
}

/* Tier 0 through wasm2c: the fallback, and what the translator's own tests compare with. */
static enum fl_err module_tier0_via_wasm2c(struct engine_module *m, char *detail, size_t detail_len)
{
    enum fl_err err =
        compile_translate(m->dir, m->wasm, m->wasm_len, &m->desc,
                          engine.config.translate_split_min_bytes, detail, detail_len);
    return err == FL_OK ? compile_tier0(m->dir, &m->tier0, detail, detail_len) : err;
}

/*
 * Tier 0 from our translator, with wabt's validator running at the same time
 * (the translator does not type-check; nothing runs before wabt has said yes).
 * A module wasm2c has translated before was validated then. Whatever the
 * translator does not handle goes through wasm2c.
 */
static enum fl_err module_tier0(struct engine_module *m, char *detail, size_t detail_len)
{
    if (engine.config.tier0_via_wasm2c)
        return module_tier0_via_wasm2c(m, detail, detail_len);
    struct validation v = {.module = m, .err = FL_OK};
    bool validating = !compile_translated(m->dir);
    if (validating && pthread_create(&v.thread, NULL, validation_main, &v) != 0)
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot start the validator thread");
    char own_detail[256] = "";
    enum fl_err err = compile_tier0_own(m->wasm, m->wasm_len, &m->desc, &m->tier0, own_detail,
                                        sizeof(own_detail));
    if (validating)
        pthread_join(v.thread, NULL);
    if (v.err != FL_OK) {
        compiled_free(m->tier0);
        m->tier0 = NULL;
        return fl_fail(v.err, detail, detail_len, "%s", v.detail);
    }
    if (err == FL_OK)
        return FL_OK;
    pthread_mutex_lock(&engine_counters.lock);
    engine_counters.stats.tier0_fallbacks++;
    pthread_mutex_unlock(&engine_counters.lock);
    engine_log_failure("tier0_fallback", m->hash, own_detail);
    return module_tier0_via_wasm2c(m, detail, detail_len);
}

/* Tier 1 from the cache if a previous run built it, else tier 0 now and tier 1 later. */
static enum fl_err module_compile(struct engine_module *m, char *detail, size_t detail_len)
{
    struct compiled *code = NULL;
    if (compile_tier1_load(m->dir, &code, detail, detail_len) == FL_OK) {
        m->tier1 = code;
        m->tier1_state = TIER1_READY;
        atomic_store(&m->best, code);
        free(m->wasm); /* nothing will read the bytes: no tier 0, no tier-1 build */
        m->wasm = NULL;
        return FL_OK;
    }
    double started = fl_now_s();
    enum fl_err err = module_tier0(m, detail, detail_len);
    if (err != FL_OK)
        return err;
    engine_count(ENGINE_TIER0, true, fl_now_s() - started);
    atomic_store(&m->best, m->tier0);
    if (engine.tier1_running)
        tier1_enqueue(m);
    else
        m->tier1_state = TIER1_FAILED;
    return FL_OK;
}

static struct engine_module *module_new(const uint8_t *wasm, size_t len)
{
    struct engine_module *m = calloc(1, sizeof(*m));
    if (m)
        m->wasm = malloc(len ? len : 1);
    if (!m || !m->wasm) {
        free(m);
        return NULL;
    }
    memcpy(m->wasm, wasm, len);
    m->wasm_len = len;
    atomic_init(&m->refs, 1);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->tier1_changed, NULL);
    const void *parts[] = {wasm};
    size_t lens[] = {len};
    fl_hash_hex(parts, lens, 1, m->hash);
    char key[FL_HASH_HEX_BYTES];
    compile_cache_key(wasm, len, engine.toolchain_id, key);
    fl_path_join(m->dir, sizeof(m->dir), engine.cache_dir, key);
    return m;
}

static enum fl_err module_load(const uint8_t *wasm, size_t len, bool require_entry,
                               engine_import_resolver resolver, void *user,
                               struct engine_module **out, char *detail, size_t detail_len)
{
    *out = NULL;
    if (!engine.toolchain_id)
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len, "engine_init was not called");
    struct engine_module *m = module_new(wasm, len);
    if (!m)
        return FL_ERR_NOMEM;
    enum engine_abi abi;
    enum fl_err err = accept_module(wasm, len, 0, false, require_entry, resolver, user, &m->desc,
                                    &abi, detail, detail_len);
    if (err == FL_OK) {
        m->info = (struct engine_module_info){
            .abi = abi,
            .initial_pages = m->desc.has_memory ? m->desc.memory_min_pages : 0,
            .max_pages = m->desc.has_memory ? m->desc.memory_max_pages : 0,
            .import_count = m->desc.import_count,
            .export_count = m->desc.export_count,
        };
        err = module_resolve_imports(m, resolver, user, detail, detail_len);
    }
    if (err == FL_OK)
        err = module_compile(m, detail, detail_len);
    if (err != FL_OK) {
        engine_module_release(m);
        return err;
    }
    *out = m;
    return FL_OK;
}

enum fl_err engine_module_load(const uint8_t *wasm, size_t len, struct engine_module **out,
                               char *detail, size_t detail_len)
{
    return module_load(wasm, len, true, engine_resolve_host, NULL, out, detail, detail_len);
}

enum fl_err engine_module_load_custom(const uint8_t *wasm, size_t len,
                                      engine_import_resolver resolver, void *user,
                                      struct engine_module **out, char *detail, size_t detail_len)
{
    return module_load(wasm, len, false, resolver, user, out, detail, detail_len);
}

struct engine_module *engine_module_ref(struct engine_module *module)
{
    atomic_fetch_add(&module->refs, 1);
    return module;
}

void engine_module_release(struct engine_module *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    compiled_free(m->tier0);
    compiled_free(m->tier1);
    free(m->wasm);
    wasm_desc_deinit(&m->desc);
    free(m->import_funcs);
    free(m->import_ptrs);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->tier1_changed);
    free(m);
}

enum engine_tier engine_module_tier(struct engine_module *module)
{
    return atomic_load(&module->best)->tier;
}

bool engine_module_wait_tier1(struct engine_module *m, uint32_t timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (m->tier1_state == TIER1_PENDING &&
           pthread_cond_timedwait(&m->tier1_changed, &m->lock, &deadline) == 0)
        ;
    bool ready = m->tier1_state == TIER1_READY;
    pthread_mutex_unlock(&m->lock);
    return ready;
}

const char *engine_module_hash(const struct engine_module *module)
{
    return module->hash;
}

const struct engine_module_info *engine_module_info(const struct engine_module *module)
{
    return &module->info;
}

unsigned engine_module_fast_streak(const struct engine_module *module)
{
    return atomic_load_explicit(&module->fast_streak, memory_order_relaxed);
}

enum { FAST_STREAK_MAX = 64 };

void engine_module_note_call(struct engine_module *module, uint64_t duration_ns)
{
    /* stored only when it changes: a steady function's calls on many threads write nothing */
    unsigned streak = atomic_load_explicit(&module->fast_streak, memory_order_relaxed);
    unsigned next = duration_ns > ENGINE_FAST_CALL_NS ? 0
                    : streak < FAST_STREAK_MAX        ? streak + 1
                                                      : streak;
    if (next != streak)
        atomic_store_explicit(&module->fast_streak, next, memory_order_relaxed);
}

const struct fl_glue *engine_module_glue(struct engine_module *module)
{
    return &atomic_load(&module->best)->glue;
}

const struct wasm_desc *engine_module_desc(const struct engine_module *module)
{
    return &module->desc;
}

void engine_module_init_ctx(const struct engine_module *module, struct rt_ctx *ctx)
{
    ctx->self = ctx;
    ctx->funcs = module->import_funcs;
    ctx->ptrs = module->import_ptrs;
}

int engine_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)8 << 20);
    pthread_attr_setguardsize(&attr, (size_t)1 << 20);
    int rc = pthread_create(thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}
