/*
 * compile — from a .wasm to loaded machine code (engine-internal).
 *
 * An artifact directory (one per content hash + tool versions, in the cache
 * dir) holds wasm2c's m.c/m.h, our glue.c and, once built, tier1.so. Every
 * file appears atomically (written aside, then renamed), so concurrent
 * processes sharing a cache dir never see a torn artifact.
 */
#ifndef FL_ENGINE_COMPILE_H
#define FL_ENGINE_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "engine/rt_api.h"
#include "engine/wasm_decode.h"

struct compiled {
    enum engine_tier tier;
    void *tcc_state; /* tier 0: the TCCState owning the code */
    void *dl_handle; /* tier 1: the dlopen handle */
    struct fl_glue glue;
};

/* A string naming every tool that shapes the artifacts (part of the cache key). */
enum fl_err compile_toolchain_id(char **out, char *detail, size_t detail_len);
/* The same for the artifact format `glue_version` (an older FL_GLUE_VERSION, in tests). */
enum fl_err compile_toolchain_id_for(const char *glue_version, char **out, char *detail,
                                     size_t detail_len);
/* The name of a module's artifact directory in the cache: a hash of its bytes and the
 * toolchain id (never a byte of the module itself). */
void compile_cache_key(const uint8_t *wasm, size_t len, const char *toolchain_id,
                       char key[FL_HASH_HEX_BYTES]);
/* Removes from `cache_dir` the artifacts of every other artifact format than this version's,
 * once per format change (a stamp file records the format). Only entries named as a cache
 * key are touched: the directory may be shared with other files. */
void compile_prune_old_formats(const char *cache_dir);

/* Builds the gate every C file passes before a compiler sees it (c_gate.h), learning the
 * generators' fixed text from their output for an empty module (wasm2c writes in a directory
 * made under `work_dir`). Until it is built, every compile is refused. */
enum fl_err compile_gate_init(const char *work_dir, char *detail, size_t detail_len);
void compile_gate_deinit(void);
/* The gate's verdict on `text` (the file `what`); FL_ERR_COMPILE with the reason. */
enum fl_err compile_gate_text(const char *what, const char *text, size_t len, char *detail,
                              size_t detail_len);

/* Makes sure `dir` holds m.c, m.h and glue.c for `wasm`: wasm2c's translation of the module
 * with its names replaced (anonymize.h), and the glue. */
enum fl_err compile_translate(const char *dir, const uint8_t *wasm, size_t len,
                              const struct wasm_desc *desc, uint64_t split_min_bytes, char *detail,
                              size_t detail_len);

/* True when `dir` holds wasm2c's translation (which also means wabt accepted the module). */
bool compile_translated(const char *dir);

/* Tier 0 from wasm2c's translation: libtcc compiles the artifact's C in memory. */
enum fl_err compile_tier0(const char *dir, struct compiled **out, char *detail, size_t detail_len);

/* Tier 0 from our own translator (wasm_to_c.h), in memory. `wasm` must outlive the code:
 * the code reads data segments from it. FL_ERR_UNSUPPORTED for what it does not translate. */
enum fl_err compile_tier0_own(const uint8_t *wasm, size_t len, const struct wasm_desc *desc,
                              struct compiled **out, char *detail, size_t detail_len);

/* Tier 1: gcc builds dir/tier1.so in a limited child process (blocking). */
enum fl_err compile_tier1_build(const char *dir, const struct engine_config *config, char *detail,
                                size_t detail_len);
/* Loads dir/tier1.so if it is there; FL_ERR_IO when it is not. */
enum fl_err compile_tier1_load(const char *dir, struct compiled **out, char *detail,
                               size_t detail_len);

void compiled_free(struct compiled *code);

/* Removes a directory tree (the private cache at shutdown, a broken artifact). */
void compile_remove_tree(const char *dir);

/* Marks the artifact `dir` as used now (the cache's LRU order is the directories' mtimes). */
void compile_touch(const char *dir);
/* Removes the least recently used artifacts of `cache_dir` until the rest take at most
 * `max_bytes` (never `keep`, the one just built). */
void compile_cache_trim(const char *cache_dir, uint64_t max_bytes, const char *keep);

#endif
