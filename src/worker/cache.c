#include "worker/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/path.h"

enum { MAX_LOADED = 4096 };

struct loaded {
    char hash[FL_HASH_HEX_BYTES];
    struct engine_module *module;
    size_t bytes;
    uint64_t last_used;
};

struct mapping {
    char *module, *name;
    char hash[FL_HASH_HEX_BYTES];
};

struct cache {
    pthread_mutex_t lock;
    pthread_cond_t loaded_changed;
    char loading[16][FL_HASH_HEX_BYTES]; /* hashes being compiled now: others wait for them */
    char dir[PATH_MAX];
    uint64_t max_bytes, used_bytes, clock;
    struct loaded *loaded;
    size_t loaded_count;
    struct mapping *map;
    size_t map_count;
    unsigned long hits, misses;
};

static bool cache_hash_valid(const char *hash)
{
    size_t n = strspn(hash, "0123456789abcdef");
    return n == FL_HASH_HEX_BYTES - 1 && hash[n] == '\0';
}

static void cache_code_path(const struct cache *cache, const char *hash, char *out, size_t len)
{
    snprintf(out, len, "%s/code/%s.wasm", cache->dir, hash);
}

enum fl_err cache_open(const char *dir, uint64_t max_bytes, struct cache **out, char *detail,
                       size_t detail_len)
{
    struct cache *cache = calloc(1, sizeof(*cache));
    if (!cache)
        return FL_ERR_NOMEM;
    snprintf(cache->dir, sizeof(cache->dir), "%s", dir);
    char code_dir[PATH_MAX + 8];
    snprintf(code_dir, sizeof(code_dir), "%s/code", dir);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(code_dir, 0700) != 0 && errno != EEXIST)) {
        free(cache);
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot create %s: %s", code_dir,
                       strerror(errno));
    }
    pthread_mutex_init(&cache->lock, NULL);
    pthread_cond_init(&cache->loaded_changed, NULL);
    cache->max_bytes = max_bytes;
    cache->loaded = calloc(MAX_LOADED, sizeof(*cache->loaded));
    *out = cache;
    return FL_OK;
}

void cache_free(struct cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->loaded_count; i++)
        engine_module_release(cache->loaded[i].module);
    for (size_t i = 0; i < cache->map_count; i++) {
        free(cache->map[i].module);
        free(cache->map[i].name);
    }
    free(cache->map);
    free(cache->loaded);
    pthread_cond_destroy(&cache->loaded_changed);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

/* Under the lock: drops least recently used modules until `bytes` more fit. */
static void cache_evict(struct cache *cache, size_t bytes)
{
    while (cache->loaded_count &&
           (cache->used_bytes + bytes > cache->max_bytes || cache->loaded_count == MAX_LOADED)) {
        size_t oldest = 0;
        for (size_t i = 1; i < cache->loaded_count; i++)
            if (cache->loaded[i].last_used < cache->loaded[oldest].last_used)
                oldest = i;
        cache->used_bytes -= cache->loaded[oldest].bytes;
        engine_module_release(cache->loaded[oldest].module);
        cache->loaded[oldest] = cache->loaded[--cache->loaded_count];
    }
}

static struct loaded *cache_find_loaded(struct cache *cache, const char *hash)
{
    for (size_t i = 0; i < cache->loaded_count; i++)
        if (strcmp(cache->loaded[i].hash, hash) == 0)
            return &cache->loaded[i];
    return NULL;
}

static bool cache_write_code(const char *path, const uint8_t *code, size_t len)
{
    char tmp[PATH_MAX + 160];
    snprintf(tmp, sizeof(tmp), "%s.%d.%d", path, (int)getpid(), (int)gettid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t n = write(fd, code + done, len - done);
        ok = n > 0;
        done += ok ? (size_t)n : 0;
    }
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

/* Under the lock: a slot in `loading` for `hash`, or -1 if it is being loaded (or no slot). */
static int cache_claim_loading(struct cache *cache, const char *hash, bool *busy)
{
    int free_slot = -1;
    *busy = false;
    for (int i = 0; i < 16; i++) {
        if (strcmp(cache->loading[i], hash) == 0)
            *busy = true;
        else if (!cache->loading[i][0] && free_slot < 0)
            free_slot = i;
    }
    if (!*busy && free_slot >= 0)
        snprintf(cache->loading[free_slot], FL_HASH_HEX_BYTES, "%s", hash);
    return *busy ? -1 : free_slot;
}

/* Compiles `code` (outside the lock: it may take a while) and adds it. */
static enum fl_err cache_load(struct cache *cache, const char *hash, const uint8_t *code,
                              size_t len, struct engine_module **out, char *detail,
                              size_t detail_len)
{
    struct engine_module *module = NULL;
    bool busy;
    pthread_mutex_lock(&cache->lock);
    int slot = cache_claim_loading(cache, hash, &busy);
    while (busy) { /* the same code is being compiled by another thread: wait for it */
        pthread_cond_wait(&cache->loaded_changed, &cache->lock);
        struct loaded *l = cache_find_loaded(cache, hash);
        if (l) {
            l->last_used = ++cache->clock;
            if (out)
                *out = engine_module_ref(l->module);
            pthread_mutex_unlock(&cache->lock);
            return FL_OK;
        }
        slot = cache_claim_loading(cache, hash, &busy);
    }
    pthread_mutex_unlock(&cache->lock);
    enum fl_err err = engine_module_load(code, len, &module, detail, detail_len);
    if (err != FL_OK) {
        pthread_mutex_lock(&cache->lock);
        if (slot >= 0)
            cache->loading[slot][0] = '\0';
        pthread_cond_broadcast(&cache->loaded_changed);
        pthread_mutex_unlock(&cache->lock);
        return err;
    }
    pthread_mutex_lock(&cache->lock);
    struct loaded *l = cache_find_loaded(cache, hash);
    if (l) { /* another thread won the race: use theirs */
        engine_module_release(module);
        module = l->module;
    } else {
        cache_evict(cache, len);
        cache->loaded[cache->loaded_count++] = (struct loaded){.module = module, .bytes = len};
        l = &cache->loaded[cache->loaded_count - 1];
        snprintf(l->hash, sizeof(l->hash), "%s", hash);
        cache->used_bytes += len;
    }
    l->last_used = ++cache->clock;
    if (out)
        *out = engine_module_ref(module);
    if (slot >= 0)
        cache->loading[slot][0] = '\0';
    pthread_cond_broadcast(&cache->loaded_changed);
    pthread_mutex_unlock(&cache->lock);
    return FL_OK;
}

static void cache_map(struct cache *cache, const char *module, const char *name, const char *hash)
{
    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < cache->map_count; i++)
        if (strcmp(cache->map[i].module, module) == 0 && strcmp(cache->map[i].name, name) == 0) {
            snprintf(cache->map[i].hash, sizeof(cache->map[i].hash), "%s", hash);
            pthread_mutex_unlock(&cache->lock);
            return;
        }
    struct mapping *grown = realloc(cache->map, (cache->map_count + 1) * sizeof(*grown));
    if (grown) {
        cache->map = grown;
        struct mapping *m = &cache->map[cache->map_count++];
        m->module = strdup(module);
        m->name = strdup(name);
        snprintf(m->hash, sizeof(m->hash), "%s", hash);
    }
    pthread_mutex_unlock(&cache->lock);
}

enum fl_err cache_put(struct cache *cache, const char *module, const char *name, const char *hash,
                      const uint8_t *code, size_t len, char *detail, size_t detail_len)
{
    char actual[FL_HASH_HEX_BYTES], path[PATH_MAX + 80];
    const void *parts[] = {code};
    size_t lens[] = {len};
    fl_hash_hex(parts, lens, 1, actual);
    if (!cache_hash_valid(hash) || strcmp(actual, hash) != 0)
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "code does not match its hash");
    cache_code_path(cache, hash, path, sizeof(path));
    if (access(path, R_OK) != 0 && !cache_write_code(path, code, len))
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot store code: %s", strerror(errno));
    enum fl_err err = cache_load(cache, hash, code, len, NULL, detail, detail_len);
    if (err == FL_OK && module[0]) /* no module: compiled ahead, bound to nothing yet */
        cache_map(cache, module, name, hash);
    return err;
}

void cache_drop(struct cache *cache, const char *module, const char *name)
{
    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < cache->map_count; i++)
        if (strcmp(cache->map[i].module, module) == 0 && strcmp(cache->map[i].name, name) == 0) {
            free(cache->map[i].module);
            free(cache->map[i].name);
            cache->map[i] = cache->map[--cache->map_count];
            break;
        }
    pthread_mutex_unlock(&cache->lock);
}

bool cache_get_loaded(struct cache *cache, const char *hash, struct engine_module **out)
{
    pthread_mutex_lock(&cache->lock);
    struct loaded *l = cache_find_loaded(cache, hash);
    if (l) {
        l->last_used = ++cache->clock;
        *out = engine_module_ref(l->module);
        cache->hits++;
    }
    pthread_mutex_unlock(&cache->lock);
    return l != NULL;
}

enum fl_err cache_get(struct cache *cache, const char *hash, struct engine_module **out,
                      char *detail, size_t detail_len)
{
    if (!cache_hash_valid(hash))
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len, "malformed hash");
    if (cache_get_loaded(cache, hash, out))
        return FL_OK;
    pthread_mutex_lock(&cache->lock);
    cache->misses++;
    pthread_mutex_unlock(&cache->lock);
    char path[PATH_MAX + 80];
    cache_code_path(cache, hash, path, sizeof(path));
    struct fl_buf code;
    fl_buf_init(&code, (size_t)256 << 20);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fl_fail(FL_ERR_NOT_FOUND, detail, detail_len, "no code for %s", hash);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fl_buf_append(&code, chunk, n);
    fclose(f);
    enum fl_err err =
        cache_load(cache, hash, (const uint8_t *)code.data, code.len, out, detail, detail_len);
    fl_buf_deinit(&code);
    return err;
}

void cache_stats(struct cache *cache, struct cache_stats *out)
{
    pthread_mutex_lock(&cache->lock);
    *out = (struct cache_stats){cache->hits, cache->misses, cache->map_count, cache->loaded_count};
    pthread_mutex_unlock(&cache->lock);
}
