#include "engine/compile.h"
#include "engine/translate.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libtcc.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/path.h"
#include "common/proc.h"
#include "engine/anonymize.h"
#include "engine/c_gate.h"
#include "engine/engine_internal.h"
#include "engine/glue.h"
#include "engine/rt.h"
#include "engine/wasm_to_c.h"

#ifndef FL_TCC_LIB_DIR
#define FL_TCC_LIB_DIR "/usr/lib/x86_64-linux-gnu/tcc"
#endif

enum {
    TOOL_OUTPUT_MAX = 8192,
    /* tier 1 at -O3 up to this much of wasm2c's C (sha256 at tier 1: 1.27-1.28x native at -O3,
     * 1.32-1.35x at -O1), -O1 past it (bench/README.md) */
    TIER1_O3_MAX_C_BYTES = 4 << 20,
};

/* libtcc keeps global state while compiling: one compile at a time. */
static pthread_mutex_t compile_tcc_lock = PTHREAD_MUTEX_INITIALIZER;

/* What every C file must pass before a compiler sees it (c_gate.h); read-only once built. */
static struct c_gate *compile_gate;

static enum fl_err compile_tool_version(const char *const argv[], struct fl_buf *id)
{
    struct fl_buf out;
    fl_buf_init(&out, 512);
    int status = -1;
    struct proc_limits limits = {.timeout_ms = 10000};
    enum fl_err err = proc_run(argv, -1, &limits, &out, &status);
    if (err == FL_OK && status == 0 && out.data)
        fl_buf_printf(id, "%s=%s;", argv[0], out.data);
    else
        err = FL_ERR_IO;
    fl_buf_deinit(&out);
    return err;
}

enum fl_err compile_toolchain_id(char **out, char *detail, size_t detail_len)
{
    return compile_toolchain_id_for(FL_GLUE_VERSION, out, detail, detail_len);
}

enum fl_err compile_toolchain_id_for(const char *glue_version, char **out, char *detail,
                                     size_t detail_len)
{
    static const char *const wasm2c[] = {"wasm2c", "--version", NULL};
    static const char *const gcc[] = {"gcc", "-dumpfullversion", NULL};
    struct fl_buf id;
    fl_buf_init(&id, 4096);
    fl_buf_printf(&id, "%s;tcc=" FL_TCC_LIB_DIR ";", glue_version);
    if (compile_tool_version(wasm2c, &id) != FL_OK) {
        fl_buf_deinit(&id);
        return fl_fail(FL_ERR_IO, detail, detail_len,
                       "wasm2c (Debian package wabt) is not installed");
    }
    if (compile_tool_version(gcc, &id) != FL_OK)
        fl_buf_printf(&id, "gcc=none;");
    *out = fl_buf_steal(&id, NULL);
    return *out ? FL_OK : FL_ERR_NOMEM;
}

void compile_cache_key(const uint8_t *wasm, size_t len, const char *toolchain_id,
                       char key[FL_HASH_HEX_BYTES])
{
    const void *parts[] = {wasm, toolchain_id};
    size_t lens[] = {len, strlen(toolchain_id)};
    fl_hash_hex(parts, lens, 2, key);
}

/* An artifact directory's name, or one being written beside it ("KEY.tmp.PID.TID"). */
static bool compile_is_artifact_name(const char *name)
{
    size_t n = strspn(name, "0123456789abcdef");
    return n == FL_HASH_HEX_BYTES - 1 && (name[n] == '\0' || strncmp(name + n, ".tmp.", 5) == 0);
}

void compile_prune_old_formats(const char *cache_dir)
{
    char stamp_path[PATH_MAX], stamp[64] = "";
    fl_path_join(stamp_path, sizeof(stamp_path), cache_dir, "FORMAT");
    FILE *f = fopen(stamp_path, "r");
    if (f) {
        if (!fgets(stamp, sizeof(stamp), f))
            stamp[0] = '\0';
        fclose(f);
    }
    if (strcmp(stamp, FL_GLUE_VERSION "\n") == 0)
        return;
    DIR *dir = opendir(cache_dir);
    struct dirent *entry;
    unsigned removed = 0;
    while (dir && (entry = readdir(dir)) != NULL) {
        char path[PATH_MAX];
        if (!compile_is_artifact_name(entry->d_name))
            continue;
        fl_path_join(path, sizeof(path), cache_dir, entry->d_name);
        compile_remove_tree(path);
        removed++;
    }
    if (dir)
        closedir(dir);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.%d", stamp_path, (int)getpid());
    if (fl_write_file(tmp, FL_GLUE_VERSION "\n", strlen(FL_GLUE_VERSION "\n")))
        rename(tmp, stamp_path);
    if (removed)
        fl_log(FL_LOG_INFO, "cache_pruned", "dir_entries=%u format=%s", removed, FL_GLUE_VERSION);
}

void compile_touch(const char *dir)
{
    utimensat(AT_FDCWD, dir, NULL, 0);
}

struct compile_entry {
    char name[FL_HASH_HEX_BYTES];
    struct timespec used;
    uint64_t bytes;
};

static _Thread_local uint64_t compile_tree_bytes;

static int compile_add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    compile_tree_bytes += (uint64_t)st->st_blocks * 512;
    return 0;
}

static int compile_entry_older(const void *a, const void *b)
{
    const struct compile_entry *x = a, *y = b;
    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

void compile_cache_trim(const char *cache_dir, uint64_t max_bytes, const char *keep)
{
    DIR *dir = max_bytes ? opendir(cache_dir) : NULL;
    if (!dir)
        return;
    struct compile_entry *entries = NULL;
    size_t count = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        size_t n = strspn(e->d_name, "0123456789abcdef");
        if (n != FL_HASH_HEX_BYTES - 1 || e->d_name[n] != '\0' ||
            !fl_path_join(path, sizeof(path), cache_dir, e->d_name) || stat(path, &st) != 0)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            struct compile_entry *grown = realloc(entries, cap * sizeof(*entries));
            if (!grown)
                break;
            entries = grown;
        }
        compile_tree_bytes = 0;
        nftw(path, compile_add_size, 8, FTW_PHYS);
        entries[count] = (struct compile_entry){.used = st.st_mtim, .bytes = compile_tree_bytes};
        memcpy(entries[count].name, e->d_name, FL_HASH_HEX_BYTES);
        total += entries[count++].bytes;
    }
    closedir(dir);
    qsort(entries, count, sizeof(*entries), compile_entry_older);
    unsigned removed = 0;
    for (size_t i = 0; i < count && total > max_bytes; i++) {
        char path[PATH_MAX];
        fl_path_join(path, sizeof(path), cache_dir, entries[i].name);
        if (keep && strcmp(path, keep) == 0)
            continue;
        compile_remove_tree(path);
        total -= entries[i].bytes;
        removed++;
    }
    if (removed)
        fl_log(FL_LOG_INFO, "cache_trimmed", "removed=%u kept_bytes=%llu", removed,
               (unsigned long long)total);
    free(entries);
}

static int compile_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void compile_remove_tree(const char *dir)
{
    nftw(dir, compile_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool compile_translated(const char *dir)
{
    char path[PATH_MAX];
    fl_path_join(path, sizeof(path), dir, "glue.c");
    return access(path, R_OK) == 0;
}

/* wasm2c on the anonymized module (anonymize.h) into `tmp`. A module wasm2c refuses is checked
 * again by wabt's validator on the user's own bytes, so that an offset in the reason is theirs. */
static enum fl_err compile_run_wasm2c(const char *tmp, const uint8_t *wasm, size_t len,
                                      const struct wasm_desc *desc, uint64_t split_min_bytes,
                                      char *detail, size_t detail_len)
{
    struct fl_buf anonymous;
    fl_buf_init(&anonymous, len + (size_t)16 * (desc->import_count + desc->export_count) + 64);
    struct wasm_desc anonymous_desc;
    memset(&anonymous_desc, 0, sizeof(anonymous_desc));
    enum fl_err err = anonymize_module(wasm, len, desc, &anonymous, detail, detail_len);
    if (err == FL_OK)
        err = wasm_decode((const uint8_t *)anonymous.data, anonymous.len, &anonymous_desc, detail,
                          detail_len);
    if (err == FL_OK)
        err = translate_module(tmp, (const uint8_t *)anonymous.data, anonymous.len, &anonymous_desc,
                               split_min_bytes, detail, detail_len);
    if (err == FL_ERR_INVALID_WASM)
        accept_validate_full(wasm, len, detail, detail_len);
    wasm_desc_deinit(&anonymous_desc);
    fl_buf_deinit(&anonymous);
    return err;
}

/* The file's data reaches the disk before anything names it (then a rename commits it). */
static bool compile_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* wasm2c can exit 0 with a file it could not finish (a full disk): each must be there, not
 * empty, end with a newline, and be on disk. */
static enum fl_err compile_check_outputs(const char *dir, char *detail, size_t detail_len)
{
    static const char *const outputs[] = {"m.c", "m.h", "glue.c"};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX], last = '\0';
        fl_path_join(path, sizeof(path), dir, outputs[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
        bool ok = size > 0 && pread(fd, &last, 1, size - 1) == 1 && last == '\n' && fsync(fd) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok)
            return fl_fail(FL_ERR_IO, detail, detail_len,
                           "%s was not written whole (is the disk full?)", outputs[i]);
    }
    return compile_sync(dir) ? FL_OK
                             : fl_fail(FL_ERR_IO, detail, detail_len, "cannot sync %s", dir);
}

/* Runs wasm2c and writes the glue into `tmp`. */
static enum fl_err compile_translate_into(const char *tmp, const uint8_t *wasm, size_t len,
                                          const struct wasm_desc *desc, uint64_t split_min_bytes,
                                          char *detail, size_t detail_len)
{
    char glue_path[PATH_MAX];
    fl_path_join(glue_path, sizeof(glue_path), tmp, "glue.c");
    enum fl_err err = compile_run_wasm2c(tmp, wasm, len, desc, split_min_bytes, detail, detail_len);
    if (err != FL_OK)
        return err;
    struct fl_buf glue;
    fl_buf_init(&glue, (size_t)64 << 20);
    if (!glue_generate(desc, &glue) || !fl_write_file(glue_path, glue.data, glue.len))
        err = fl_fail(FL_ERR_IO, detail, detail_len, "cannot write the glue file");
    fl_buf_deinit(&glue);
    return err == FL_OK ? compile_check_outputs(tmp, detail, detail_len) : err;
}

enum fl_err compile_translate(const char *dir, const uint8_t *wasm, size_t len,
                              const struct wasm_desc *desc, uint64_t split_min_bytes, char *detail,
                              size_t detail_len)
{
    if (compile_translated(dir))
        return FL_OK;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%d", dir, (int)getpid(), (int)gettid());
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot create %s: %s", tmp, strerror(errno));
    enum fl_err err =
        compile_translate_into(tmp, wasm, len, desc, split_min_bytes, detail, detail_len);
    /* Another thread or process may have won the race: theirs is as good as ours. */
    if (err == FL_OK && rename(tmp, dir) != 0 && !compile_translated(dir))
        err = fl_fail(FL_ERR_IO, detail, detail_len, "cannot rename %s: %s", tmp, strerror(errno));
    compile_remove_tree(tmp);
    if (err == FL_OK) { /* the rename itself, on disk */
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = '\0';
        compile_sync(slash ? parent : ".");
    }
    return err;
}

/*
 * tcc compiles wasm2c's float negation `-(x)` as a subtraction, which quiets
 * NaNs and loses their sign; WebAssembly's neg only flips the sign bit. So the
 * tier-0 source gets bitwise negations instead (gcc's tier 1 needs nothing).
 */
static const char compile_tcc_prelude[] =
    "#include <stdint.h>\n#include <string.h>\n"
    "static float fl_negf(float x) { uint32_t b; memcpy(&b, &x, 4); b ^= 0x80000000u; "
    "memcpy(&x, &b, 4); return x; }\n"
    "static double fl_neg(double x) { uint64_t b; memcpy(&b, &x, 8); b ^= 0x8000000000000000ull; "
    "memcpy(&x, &b, 8); return x; }\n"
    "#line 1 \"m.c\"\n";

/* ---- the gate in front of the compilers ---- */

/* The generators' preprocessor lines, learned from their output for an empty module of ours:
 * wasm2c's m.c and m.h (written in `work_dir`), our glue, our translator and the tcc prelude. */
static enum fl_err compile_gate_learn(struct c_gate *gate, const char *work_dir, char *detail,
                                      size_t detail_len)
{
    static const uint8_t empty[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    struct wasm_desc desc;
    struct fl_buf text;
    fl_buf_init(&text, (size_t)64 << 20);
    enum fl_err err = wasm_decode(empty, sizeof(empty), &desc, detail, detail_len);
    if (err == FL_OK)
        err = translate_module(work_dir, empty, sizeof(empty), &desc, 0, detail, detail_len);
    static const char *const wasm2c_files[] = {"m.c", "m.h"};
    for (int i = 0; i < 2 && err == FL_OK; i++) {
        char path[PATH_MAX];
        fl_path_join(path, sizeof(path), work_dir, wasm2c_files[i]);
        fl_buf_reset(&text);
        if (!fl_buf_read_file(&text, path) || !c_gate_learn(gate, text.data, text.len))
            err = fl_fail(FL_ERR_IO, detail, detail_len, "cannot read %s", path);
        unlink(path);
    }
    fl_buf_reset(&text);
    if (err == FL_OK && (!glue_generate(&desc, &text) || !c_gate_learn(gate, text.data, text.len) ||
                         !c_gate_learn(gate, compile_tcc_prelude, strlen(compile_tcc_prelude))))
        err = FL_ERR_NOMEM;
    fl_buf_reset(&text);
    if (err == FL_OK)
        err = wasm_to_c(empty, sizeof(empty), &desc, &text, detail, detail_len);
    if (err == FL_OK && !c_gate_learn(gate, text.data, text.len))
        err = FL_ERR_NOMEM;
    fl_buf_deinit(&text);
    wasm_desc_deinit(&desc);
    return err;
}

enum fl_err compile_gate_init(const char *work_dir, char *detail, size_t detail_len)
{
    if (compile_gate)
        return FL_OK;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/gate.%d", work_dir, (int)getpid());
    struct c_gate *gate = c_gate_new();
    if (!gate)
        return FL_ERR_NOMEM;
    enum fl_err err =
        mkdir(dir, 0700) == 0 || errno == EEXIST
            ? compile_gate_learn(gate, dir, detail, detail_len)
            : fl_fail(FL_ERR_IO, detail, detail_len, "cannot create %s: %s", dir, strerror(errno));
    compile_remove_tree(dir);
    if (err != FL_OK) {
        c_gate_free(gate);
        return err;
    }
    compile_gate = gate;
    return FL_OK;
}

void compile_gate_deinit(void)
{
    c_gate_free(compile_gate);
    compile_gate = NULL;
}

enum fl_err compile_gate_text(const char *what, const char *text, size_t len, char *detail,
                              size_t detail_len)
{
    if (!compile_gate) /* fail closed */
        return fl_fail(FL_ERR_COMPILE, detail, detail_len, "the C gate is not initialized");
    return c_gate_check(compile_gate, what, text, len, detail, detail_len);
}

/* Checks dir/NAME for each name (NULL-terminated). */
static enum fl_err compile_gate_files(const char *dir, const char *const names[], char *detail,
                                      size_t detail_len)
{
    enum fl_err err = FL_OK;
    for (size_t i = 0; names[i] && err == FL_OK; i++) {
        char path[PATH_MAX];
        fl_path_join(path, sizeof(path), dir, names[i]);
        struct fl_buf text;
        fl_buf_init(&text, (size_t)1 << 30);
        err = fl_buf_read_file(&text, path)
                  ? compile_gate_text(names[i], text.data ? text.data : "", text.len, detail,
                                      detail_len)
                  : fl_fail(FL_ERR_IO, detail, detail_len, "cannot read %s", path);
        fl_buf_deinit(&text);
    }
    return err;
}

/* Looks up the glue's symbols; false if any is missing. */
static bool compile_bind_glue(struct compiled *code, void *(*lookup)(void *, const char *),
                              void *handle)
{
    struct fl_glue *g = &code->glue;
    *(void **)&g->bind = lookup(handle, "fl_glue_bind");
    *(void **)&g->init_module = lookup(handle, "fl_glue_init_module");
    *(void **)&g->instantiate = lookup(handle, "fl_glue_instantiate");
    *(void **)&g->free = lookup(handle, "fl_glue_free");
    g->instance_size = lookup(handle, "fl_glue_instance_size");
    g->exports = lookup(handle, "fl_glue_exports");
    g->export_count = lookup(handle, "fl_glue_export_count");
    if (!g->bind || !g->init_module || !g->instantiate || !g->free || !g->instance_size ||
        !g->exports || !g->export_count)
        return false;
    g->bind(&rt_api);
    g->init_module();
    return true;
}

/* wasm2c output calls gcc bit builtins that tcc lacks: tcc links them to these. */
static int compile_clz32(unsigned int x)
{
    return __builtin_clz(x);
}
static int compile_clz64(unsigned long long x)
{
    return __builtin_clzll(x);
}
static int compile_ctz32(unsigned int x)
{
    return __builtin_ctz(x);
}
static int compile_ctz64(unsigned long long x)
{
    return __builtin_ctzll(x);
}
static int compile_popcount32(unsigned int x)
{
    return __builtin_popcount(x);
}
static int compile_popcount64(unsigned long long x)
{
    return __builtin_popcountll(x);
}

static void compile_tcc_add_builtins(TCCState *s)
{
    tcc_add_symbol(s, "__builtin_clz", compile_clz32);
    tcc_add_symbol(s, "__builtin_clzll", compile_clz64);
    tcc_add_symbol(s, "__builtin_ctz", compile_ctz32);
    tcc_add_symbol(s, "__builtin_ctzll", compile_ctz64);
    tcc_add_symbol(s, "__builtin_popcount", compile_popcount32);
    tcc_add_symbol(s, "__builtin_popcountll", compile_popcount64);
}

/* The tier-0 source: the prelude, then m.c with float negations rewritten. */
static bool compile_tcc_source(const char *c_path, struct fl_buf *out)
{
    struct fl_buf src;
    fl_buf_init(&src, out->max);
    /* a NUL would end the text for tcc and the gate alike; wasm2c never writes one (it sees
     * no name, anonymize.h): fail closed */
    bool ok = fl_buf_read_file(&src, c_path) && (!src.len || !memchr(src.data, '\0', src.len)) &&
              fl_buf_append(out, compile_tcc_prelude, sizeof(compile_tcc_prelude) - 1);
    const char *p = src.data ? src.data : "", *neg;
    while (ok && (neg = strstr(p, "-(w2c_")) != NULL) {
        char type = neg[6]; /* wasm2c names f32 locals w2c_f*, f64 locals w2c_d* */
        ok = fl_buf_append(out, p, (size_t)(neg - p)) && fl_buf_printf(out, "%s(",
                                                                       type == 'f'   ? "fl_negf"
                                                                       : type == 'd' ? "fl_neg"
                                                                                     : "-");
        p = neg + 2;
    }
    ok = ok && fl_buf_append(out, p, strlen(p));
    fl_buf_deinit(&src);
    return ok;
}

static void compile_tcc_error(void *opaque, const char *msg)
{
    struct fl_buf *errors = opaque;
    if (errors->len == 0)
        fl_buf_printf(errors, "%s", msg);
}

static void *compile_tcc_lookup(void *handle, const char *name)
{
    return tcc_get_symbol(handle, name);
}

static void *compile_dl_lookup(void *handle, const char *name)
{
    return dlsym(handle, name);
}

/*
 * libtcc compiles `source` (and `glue_path` when given) in memory. `dir`
 * is an include path; `module_bytes`, when given, is what the code knows as
 * WASM_TO_C_BYTES_SYMBOL.
 */
static enum fl_err compile_tcc(const char *source, const char *dir, const char *glue_path,
                               const uint8_t *module_bytes, struct compiled **out, char *detail,
                               size_t detail_len)
{
    struct compiled *code = calloc(1, sizeof(*code));
    if (!code)
        return FL_ERR_NOMEM;
    static const char *const included[] = {"m.h", "glue.c", NULL};
    enum fl_err err = compile_gate_text(glue_path ? "m.c" : "tier-0 C", source, strlen(source),
                                        detail, detail_len);
    if (err == FL_OK && glue_path)
        err = compile_gate_files(dir, included, detail, detail_len);
    if (err != FL_OK) {
        free(code);
        *out = NULL;
        return err;
    }
    struct fl_buf errors;
    fl_buf_init(&errors, 1024);
    pthread_mutex_lock(&compile_tcc_lock);
    TCCState *s = tcc_new();
    bool ok = s != NULL;
    if (ok) {
        tcc_set_error_func(s, &errors, compile_tcc_error);
        tcc_set_lib_path(s, FL_TCC_LIB_DIR);
        tcc_set_options(s, "-w");
        tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
        if (dir)
            tcc_add_include_path(s, dir);
        compile_tcc_add_builtins(s);
        if (module_bytes)
            tcc_add_symbol(s, WASM_TO_C_BYTES_SYMBOL, module_bytes);
        ok = tcc_compile_string(s, source) == 0 &&
             (!glue_path || tcc_add_file(s, glue_path) == 0) &&
             tcc_relocate(s, TCC_RELOCATE_AUTO) >= 0;
    }
    pthread_mutex_unlock(&compile_tcc_lock);
    code->tier = ENGINE_TIER0;
    code->tcc_state = s;
    if (!ok || !compile_bind_glue(code, compile_tcc_lookup, s)) {
        err = fl_fail(FL_ERR_COMPILE, detail, detail_len, "tier-0 compile failed: %.200s",
                      errors.data ? errors.data : "missing glue symbols");
        compiled_free(code);
        code = NULL;
    }
    fl_buf_deinit(&errors);
    *out = code;
    return err;
}

enum fl_err compile_tier0(const char *dir, struct compiled **out, char *detail, size_t detail_len)
{
    char c_path[PATH_MAX], glue_path[PATH_MAX];
    fl_path_join(c_path, sizeof(c_path), dir, "m.c");
    fl_path_join(glue_path, sizeof(glue_path), dir, "glue.c");
    struct fl_buf source;
    fl_buf_init(&source, (size_t)1 << 30);
    enum fl_err err = compile_tcc_source(c_path, &source)
                          ? compile_tcc(source.data, dir, glue_path, NULL, out, detail, detail_len)
                          : fl_fail(FL_ERR_IO, detail, detail_len, "cannot read %s", c_path);
    fl_buf_deinit(&source);
    return err;
}

enum fl_err compile_tier0_own(const uint8_t *wasm, size_t len, const struct wasm_desc *desc,
                              struct compiled **out, char *detail, size_t detail_len)
{
    *out = NULL;
    struct fl_buf source;
    fl_buf_init(&source, (size_t)1 << 30);
    enum fl_err err = wasm_to_c(wasm, len, desc, &source, detail, detail_len);
    if (err == FL_OK)
        err = compile_tcc(source.data, NULL, NULL, wasm, out, detail, detail_len);
    if (getenv("FL_TIER0_DUMP") && source.data) /* debugging the translator: its output */
        fl_write_file(getenv("FL_TIER0_DUMP"), source.data, source.len);
    fl_buf_deinit(&source);
    return err;
}

enum fl_err compile_tier1_build(const char *dir, const struct engine_config *config, char *detail,
                                size_t detail_len)
{
    char so_path[PATH_MAX], tmp_path[PATH_MAX], c_path[PATH_MAX], glue_path[PATH_MAX];
    fl_path_join(so_path, sizeof(so_path), dir, "tier1.so");
    if (access(so_path, R_OK) == 0)
        return FL_OK;
    snprintf(tmp_path, sizeof(tmp_path), "%s/tier1.so.%d.%d", dir, (int)getpid(), (int)gettid());
    fl_path_join(c_path, sizeof(c_path), dir, "m.c");
    fl_path_join(glue_path, sizeof(glue_path), dir, "glue.c");
    struct stat c_stat;
    const char *opt = stat(c_path, &c_stat) == 0 && c_stat.st_size <= TIER1_O3_MAX_C_BYTES
                          ? "-O3"  /* small: hot kernels, and a second or two of gcc */
                          : "-O1"; /* large: -O3 took 30 s for 12 MB of C, -O1 17 s */
    /* no sibling calls: gcc would turn recursion into loops (f(x) = f(x + 1) + 1 among them),
     * and a guest's unbounded recursion must still exhaust the stack and trap */
    const char *argv[] = {"gcc",
                          opt,
                          "-fno-optimize-sibling-calls",
                          "-fno-plt",
                          "-fPIC",
                          "-shared",
                          "-fstack-clash-protection",
                          "-w",
                          "-I",
                          dir,
                          "-o",
                          tmp_path,
                          c_path,
                          glue_path,
                          "-lm",
                          NULL};
    static const char *const sources[] = {"m.c", "m.h", "glue.c", NULL};
    enum fl_err err = compile_gate_files(dir, sources, detail, detail_len);
    if (err != FL_OK)
        return err;
    struct proc_limits limits = {.memory_bytes = config->tier1_memory_bytes,
                                 .cpu_s = config->tier1_timeout_s,
                                 .timeout_ms = config->tier1_timeout_s * 1000};
    struct fl_buf out;
    fl_buf_init(&out, TOOL_OUTPUT_MAX);
    int status = -1;
    err = proc_run(argv, -1, &limits, &out, &status);
    if (err == FL_OK && status != 0)
        err =
            fl_fail(FL_ERR_COMPILE, detail, detail_len, "tier-1 compile failed (status %d): %.200s",
                    status, out.data ? out.data : "killed");
    if (err == FL_OK && !compile_sync(tmp_path))
        err = fl_fail(FL_ERR_IO, detail, detail_len, "cannot sync %s", tmp_path);
    if (err == FL_OK && (rename(tmp_path, so_path) != 0 || !compile_sync(dir)))
        err = fl_fail(FL_ERR_IO, detail, detail_len, "cannot commit %s", so_path);
    unlink(tmp_path);
    fl_buf_deinit(&out);
    return err;
}

enum fl_err compile_tier1_load(const char *dir, struct compiled **out, char *detail,
                               size_t detail_len)
{
    char so_path[PATH_MAX];
    fl_path_join(so_path, sizeof(so_path), dir, "tier1.so");
    *out = NULL;
    if (access(so_path, R_OK) != 0)
        return FL_ERR_IO;
    struct compiled *code = calloc(1, sizeof(*code));
    if (!code)
        return FL_ERR_NOMEM;
    code->tier = ENGINE_TIER1;
    code->dl_handle = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!code->dl_handle || !compile_bind_glue(code, compile_dl_lookup, code->dl_handle)) {
        fl_fail(FL_ERR_COMPILE, detail, detail_len, "cannot load %s: %s", so_path,
                code->dl_handle ? "missing glue symbols" : dlerror());
        compiled_free(code);
        unlink(so_path); /* never trusted again: the next build makes a new one */
        return FL_ERR_COMPILE;
    }
    compile_touch(dir);
    *out = code;
    return FL_OK;
}

void compiled_free(struct compiled *code)
{
    if (!code)
        return;
    if (code->tcc_state)
        tcc_delete(code->tcc_state);
    if (code->dl_handle)
        dlclose(code->dl_handle);
    free(code);
}
