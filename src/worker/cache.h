/*
 * cache — the Worker's code: raw .wasm on disk by content hash (survives
 * restarts), compiled modules in memory (the engine keeps compiled artifacts
 * on disk), and which hash each (module, function) runs now.
 *
 * Threading: one lock inside; modules handed out carry a reference
 * (engine_module_release when done).
 */
#ifndef FL_WORKER_CACHE_H
#define FL_WORKER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/engine.h"

struct cache;

enum fl_err cache_open(const char *dir, uint64_t max_bytes, struct cache **out, char *detail,
                       size_t detail_len);
void cache_free(struct cache *cache);

/* Stores the code (checked against `hash`), compiles it, and maps (module, name) to it
 * (module "": only stores and compiles — a Core's prefetch). */
enum fl_err cache_put(struct cache *cache, const char *module, const char *name, const char *hash,
                      const uint8_t *code, size_t len, char *detail, size_t detail_len);
/* Forgets (module, name); the code stays until evicted (another function may share it). */
void cache_drop(struct cache *cache, const char *module, const char *name);
/*
 * The compiled module for `hash`: from memory, or compiled from the raw store.
 * FL_ERR_NOT_FOUND when the Worker has never seen the code.
 */
enum fl_err cache_get(struct cache *cache, const char *hash, struct engine_module **out,
                      char *detail, size_t detail_len);
/* The module for `hash` only if it is in memory now (never reads or compiles): false if not. */
bool cache_get_loaded(struct cache *cache, const char *hash, struct engine_module **out);

struct cache_stats {
    unsigned long hits, misses, functions, modules;
};
void cache_stats(struct cache *cache, struct cache_stats *out);

#endif
