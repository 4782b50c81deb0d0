/*
 * cmd_build — `fl fn build` and `fl fn new`: a function from C (clang +
 * Debian's wasi-libc) or Rust (Debian's rustc, not rustup's) to a `.wasm`
 * with the FunLess ABI, and starter functions that build and run as they are.
 * The ABI header and the starters are the repository's examples, embedded at
 * build time (scripts/embed.py).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/proc.h"
#include "fl/fl.h"

extern const char fl_embedded_header[];     /* examples/c/fl.h */
extern const char fl_embedded_c_starter[];  /* examples/c/hello.c */
extern const char fl_embedded_rs_starter[]; /* examples/rust/hello.rs */

enum { BUILD_TIMEOUT_MS = 300000, OUTPUT_MAX = 64 << 10 };

static const char *tool(const char *env, const char *preferred, const char *fallback)
{
    const char *set = getenv(env);
    if (set && set[0])
        return set;
    return access(preferred, X_OK) == 0 ? preferred : fallback;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* SRC itself, or the one .c / .rs file in the folder SRC. */
static int find_source(const char *src, char *out, size_t len)
{
    struct stat st;
    if (stat(src, &st) != 0)
        return fl_usage_error(NULL, "cannot read %s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        snprintf(out, len, "%s", src);
        return FLX_OK;
    }
    DIR *dir = opendir(src);
    int found = 0;
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;)
        if (ends_with(e->d_name, ".c") || ends_with(e->d_name, ".rs")) {
            if (found++ == 0)
                snprintf(out, len, "%s/%s", src, e->d_name);
        }
    if (dir)
        closedir(dir);
    if (found != 1)
        return fl_usage_error(NULL, "%s must hold exactly one .c or .rs file (it has %d)", src,
                              found);
    return FLX_OK;
}

static bool write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wx"); /* never overwrites */
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Runs the compiler; its messages go to stderr when it fails (or warns). */
static int run_compiler(const char *const argv[], const char *source, bool quiet)
{
    if (!quiet && isatty(2))
        fprintf(stderr, "fl: building %s with %s...\n", source, argv[0]);
    struct fl_buf output;
    fl_buf_init(&output, OUTPUT_MAX);
    struct proc_limits limits = {.timeout_ms = BUILD_TIMEOUT_MS};
    int status = -1;
    enum fl_err err = proc_run(argv, -1, &limits, &output, &status);
    if (output.len)
        fputs(output.data, stderr);
    fl_buf_deinit(&output);
    if (err != FL_OK) {
        fprintf(stderr, "fl: cannot run %s (install it, or set FL_CC / FL_RUSTC)\n", argv[0]);
        return FLX_SERVER;
    }
    if (status != 0) {
        fprintf(stderr, "fl: building %s failed\n", source);
        return FLX_SERVER;
    }
    return FLX_OK;
}

static int build_c(const char *source, const char *out_path, bool quiet)
{
    char dir[] = "/tmp/fl-abi-XXXXXX", header[64], include[64];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fl: cannot make a temporary folder: %s\n", strerror(errno));
        return FLX_SERVER;
    }
    snprintf(header, sizeof(header), "%s/fl.h", dir);
    snprintf(include, sizeof(include), "-I%s", dir);
    int rc = FLX_SERVER;
    if (write_text(header, fl_embedded_header)) {
        /* a function's own fl.h, next to it, wins: "fl.h" is looked up there first */
        const char *argv[] = {tool("FL_CC", "/usr/bin/clang", "clang"),
                              "--target=wasm32-wasi",
                              "--sysroot=/usr",
                              "-O2",
                              "-mexec-model=reactor",
                              "-Wl,--strip-all",
                              include,
                              "-o",
                              out_path,
                              source,
                              NULL};
        rc = run_compiler(argv, source, quiet);
    }
    unlink(header);
    rmdir(dir);
    return rc;
}

static int build_rust(const char *source, const char *out_path, bool quiet)
{
    const char *argv[] = {tool("FL_RUSTC", "/usr/bin/rustc", "rustc"),
                          "--target",
                          "wasm32-wasi",
                          "-O",
                          "--crate-type",
                          "cdylib",
                          "-C",
                          "strip=symbols",
                          "-o",
                          out_path,
                          source,
                          NULL};
    return run_compiler(argv, source, quiet);
}

int fl_build(const char *name, const char *source, const char *language, const char *out_path,
             bool quiet)
{
    (void)name;
    char file[4096];
    int rc = find_source(source, file, sizeof(file));
    if (rc != FLX_OK)
        return rc;
    if (!language)
        language = ends_with(file, ".rs") ? "rust" : ends_with(file, ".c") ? "c" : NULL;
    if (!language)
        return fl_usage_error(NULL, "say which language %s is in with -l c or -l rust", file);
    if (strcmp(language, "c") == 0)
        return build_c(file, out_path, quiet);
    if (strcmp(language, "rust") == 0)
        return build_rust(file, out_path, quiet);
    return fl_usage_error(NULL, "-l takes c or rust, not '%s'", language);
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= 160 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

int fl_new(const char *name, const char *language, const char *out_dir)
{
    if (!name_ok(name))
        return fl_usage_error(NULL, "a function name is letters, digits and _ (at most 160)");
    bool c = strcmp(language, "c") == 0;
    if (!c && strcmp(language, "rust") != 0)
        return fl_usage_error(NULL, "-l takes c or rust, not '%s'", language);
    char dir[4400];
    if (out_dir && *out_dir) /* FunLess's -o DIR */
        snprintf(dir, sizeof(dir), "%s/%s", out_dir, name);
    else
        snprintf(dir, sizeof(dir), "%s", name);
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "fl: cannot make %s: %s\n", dir, strerror(errno));
        return errno == EEXIST ? FLX_CONFLICT : FLX_USAGE;
    }
    char path[4800];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, c ? "c" : "rs");
    bool ok = write_text(path, c ? fl_embedded_c_starter : fl_embedded_rs_starter);
    if (ok && c) {
        char header[4800];
        snprintf(header, sizeof(header), "%s/fl.h", dir);
        ok = write_text(header, fl_embedded_header);
    }
    if (!ok) {
        fprintf(stderr, "fl: cannot write %s: %s\n", path, strerror(errno));
        return FLX_SERVER;
    }
    printf("wrote %s: {\"name\":\"X\"} -> {\"payload\":\"Hello X!\"}\n"
           "next: fl fn create %s %s && fl fn invoke %s -a name=Ada\n",
           path, name, dir, name);
    return FLX_OK;
}
