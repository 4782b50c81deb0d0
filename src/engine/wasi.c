/*
 * wasi — WASI preview1 for functions (docs/abi.md): stdio in memory, clocks,
 * randomness, sleep; no file system and no sockets. Every other preview1
 * function exists and answers ENOSYS so that modules linking them load.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/util.h"
#include "engine/host.h"

enum {
    WASI_ESUCCESS = 0,
    WASI_EBADF = 8,
    WASI_EINVAL = 28,
    WASI_ENOSYS = 52,
    WASI_ESPIPE = 70,
    WASI_FILETYPE_CHARACTER_DEVICE = 2,
    WASI_FDFLAG_APPEND = 1,
    WASI_MAX_IOVS = 1024,
    WASI_MAX_SUBSCRIPTIONS = 64,
};

static const char wasi_arg0[] = "function";

#define CALL(ctx) ((struct engine_call *)(ctx))

static void put_u16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wasi_args_sizes_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                                const uint64_t *a, uint64_t *r)
{
    put_u32(call_guest_ptr(CALL(ctx), (uint32_t)a[0], 4), 1);
    put_u32(call_guest_ptr(CALL(ctx), (uint32_t)a[1], 4), sizeof(wasi_arg0));
    r[0] = WASI_ESUCCESS;
}

static void wasi_args_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                          uint64_t *r)
{
    put_u32(call_guest_ptr(CALL(ctx), (uint32_t)a[0], 4), (uint32_t)a[1]);
    memcpy(call_guest_ptr(CALL(ctx), (uint32_t)a[1], sizeof(wasi_arg0)), wasi_arg0,
           sizeof(wasi_arg0));
    r[0] = WASI_ESUCCESS;
}

/* The environment: the function's configuration and secrets (engine_limits.env), entries
 * "KEY=VALUE\0" laid out as WASI wants them (a pointer array, then the strings). */
static uint32_t wasi_env_count(const struct engine_call *call)
{
    uint32_t count = 0;
    for (size_t i = 0; i < call->env_len; i++)
        count += call->env[i] == '\0';
    return count;
}

static void wasi_environ_sizes_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                                   const uint64_t *a, uint64_t *r)
{
    struct engine_call *call = CALL(ctx);
    put_u32(call_guest_ptr(call, (uint32_t)a[0], 4), wasi_env_count(call));
    put_u32(call_guest_ptr(call, (uint32_t)a[1], 4), (uint32_t)call->env_len);
    r[0] = WASI_ESUCCESS;
}

static void wasi_environ_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                             uint64_t *r)
{
    struct engine_call *call = CALL(ctx);
    uint32_t count = wasi_env_count(call), pointers = (uint32_t)a[0], strings = (uint32_t)a[1];
    uint8_t *table = call_guest_ptr(call, pointers, (uint64_t)count * 4);
    uint8_t *bytes = call_guest_ptr(call, strings, call->env_len);
    memcpy(bytes, call->env, call->env_len);
    uint32_t k = 0;
    for (size_t start = 0, i = 0; i < call->env_len; i++)
        if (call->env[i] == '\0') {
            put_u32(table + 4 * k++, strings + (uint32_t)start);
            start = i + 1;
        }
    r[0] = WASI_ESUCCESS;
}

static bool wasi_clock_id(uint32_t id, clockid_t *out)
{
    static const clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                    CLOCK_THREAD_CPUTIME_ID};
    if (id >= 4)
        return false;
    *out = ids[id];
    return true;
}

static void wasi_clock_res_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                               const uint64_t *a, uint64_t *r)
{
    clockid_t id;
    struct timespec ts;
    if (!wasi_clock_id((uint32_t)a[0], &id) || clock_getres(id, &ts) != 0) {
        r[0] = WASI_EINVAL;
        return;
    }
    put_u64(call_guest_ptr(CALL(ctx), (uint32_t)a[1], 8),
            (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    r[0] = WASI_ESUCCESS;
}

static void wasi_clock_time_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                                const uint64_t *a, uint64_t *r)
{
    clockid_t id;
    struct timespec ts;
    if (!wasi_clock_id((uint32_t)a[0], &id) || clock_gettime(id, &ts) != 0) {
        r[0] = WASI_EINVAL;
        return;
    }
    put_u64(call_guest_ptr(CALL(ctx), (uint32_t)a[2], 8),
            (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    r[0] = WASI_ESUCCESS;
}

static void wasi_random_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                            uint64_t *r)
{
    uint8_t *buf = call_guest_ptr(CALL(ctx), (uint32_t)a[0], (uint32_t)a[1]);
    size_t len = (uint32_t)a[1], done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0 && errno != EINTR) {
            r[0] = WASI_EINVAL;
            return;
        }
        done += n > 0 ? (size_t)n : 0;
    }
    r[0] = WASI_ESUCCESS;
}

/* stdout is the result in ABI v0 and a log stream in ABI v1; stderr is always logs. */
static struct fl_buf *wasi_out_stream(struct engine_call *call, uint32_t fd, const char **what)
{
    if (fd == 1 && call->abi == ENGINE_ABI_V0) {
        *what = "output";
        return &call->response;
    }
    *what = "logs";
    return fd == 1 || fd == 2 ? &call->logs : NULL;
}

static void wasi_fd_write(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                          uint64_t *r)
{
    struct engine_call *call = CALL(ctx);
    const char *what;
    struct fl_buf *out = wasi_out_stream(call, (uint32_t)a[0], &what);
    uint32_t iovs = (uint32_t)a[1], count = (uint32_t)a[2];
    if (!out || count > WASI_MAX_IOVS) {
        r[0] = out ? WASI_EINVAL : WASI_EBADF;
        return;
    }
    const uint8_t *iov = call_guest_ptr(call, iovs, (uint64_t)count * 8);
    uint64_t written = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t ptr = get_u32(iov + i * 8), len = get_u32(iov + i * 8 + 4);
        call_append(call, out, call_guest_ptr(call, ptr, len), len, what);
        written += len;
    }
    put_u32(call_guest_ptr(call, (uint32_t)a[3], 4), (uint32_t)written);
    r[0] = WASI_ESUCCESS;
}

static void wasi_fd_read(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                         uint64_t *r)
{
    struct engine_call *call = CALL(ctx);
    uint32_t iovs = (uint32_t)a[1], count = (uint32_t)a[2];
    if ((uint32_t)a[0] != 0 || count > WASI_MAX_IOVS) {
        r[0] = (uint32_t)a[0] != 0 ? WASI_EBADF : WASI_EINVAL;
        return;
    }
    /* ABI v0 reads the input on stdin; ABI v1 gets its input from __get_input_data. */
    size_t available = call->abi == ENGINE_ABI_V0 ? call->input_len - call->stdin_pos : 0;
    const uint8_t *iov = call_guest_ptr(call, iovs, (uint64_t)count * 8);
    uint32_t total = 0;
    for (uint32_t i = 0; i < count && available; i++) {
        uint32_t ptr = get_u32(iov + i * 8), len = get_u32(iov + i * 8 + 4);
        uint32_t n = len < available ? len : (uint32_t)available;
        memcpy(call_guest_ptr(call, ptr, len), call->input + call->stdin_pos, n);
        call->stdin_pos += n;
        available -= n;
        total += n;
    }
    put_u32(call_guest_ptr(call, (uint32_t)a[3], 4), total);
    r[0] = WASI_ESUCCESS;
}

static void wasi_fd_fdstat_get(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                               const uint64_t *a, uint64_t *r)
{
    uint32_t fd = (uint32_t)a[0];
    if (fd > 2) {
        r[0] = WASI_EBADF;
        return;
    }
    uint8_t *st = call_guest_ptr(CALL(ctx), (uint32_t)a[1], 24);
    memset(st, 0, 24);
    st[0] = WASI_FILETYPE_CHARACTER_DEVICE;
    put_u16(st + 2, fd == 0 ? 0 : WASI_FDFLAG_APPEND);
    put_u64(st + 8, fd == 0 ? 0x2 : 0x40); /* fd_read or fd_write rights */
    r[0] = WASI_ESUCCESS;
}

static void wasi_fd_close(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                          uint64_t *r)
{
    (void)ctx;
    r[0] = (uint32_t)a[0] <= 2 ? WASI_ESUCCESS : WASI_EBADF;
}

static void wasi_fd_seek(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                         uint64_t *r)
{
    (void)ctx;
    r[0] = (uint32_t)a[0] <= 2 ? WASI_ESPIPE : WASI_EBADF;
}

static void wasi_ebadf(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                       uint64_t *r)
{
    (void)ctx, (void)a;
    r[0] = WASI_EBADF;
}

static void wasi_enosys(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                        uint64_t *r)
{
    (void)ctx, (void)a;
    r[0] = WASI_ENOSYS;
}

static void wasi_sched_yield(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                             uint64_t *r)
{
    (void)ctx, (void)a;
    r[0] = WASI_ESUCCESS;
}

static void wasi_proc_exit(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                           uint64_t *r)
{
    (void)r;
    CALL(ctx)->exit_code = (int)(uint32_t)a[0];
    rt_trap(RT_TRAP_EXIT);
}

static uint64_t wasi_now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps (the time limit still applies: the timer interrupts nanosleep). */
static void wasi_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        rt_host_leave(); /* traps here if the time limit passed meanwhile */
        rt_host_enter();
    }
}

/* How long until a clock subscription fires, in ns (0: now). */
static uint64_t wasi_clock_wait_ns(const uint8_t *sub)
{
    clockid_t id;
    uint64_t timeout = get_u64(sub + 24);
    bool absolute = get_u32(sub + 40) & 1;
    if (!wasi_clock_id(get_u32(sub + 16), &id))
        return 0;
    if (!absolute)
        return timeout;
    uint64_t now = wasi_now_ns(id);
    return timeout > now ? timeout - now : 0;
}

/* Clocks sleep; stdio is always ready, so any fd subscription fires at once. */
static void wasi_poll_oneoff(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED, const uint64_t *a,
                             uint64_t *r)
{
    struct engine_call *call = CALL(ctx);
    uint32_t nsubs = (uint32_t)a[2];
    if (nsubs == 0 || nsubs > WASI_MAX_SUBSCRIPTIONS) {
        r[0] = WASI_EINVAL;
        return;
    }
    const uint8_t *subs = call_guest_ptr(call, (uint32_t)a[0], (uint64_t)nsubs * 48);
    uint8_t *events = call_guest_ptr(call, (uint32_t)a[1], (uint64_t)nsubs * 32);
    uint64_t wait = UINT64_MAX;
    for (uint32_t i = 0; i < nsubs; i++) {
        uint64_t w = subs[i * 48 + 8] == 0 ? wasi_clock_wait_ns(subs + i * 48) : 0;
        wait = w < wait ? w : wait;
    }
    if (wait)
        wasi_sleep_ns(wait);
    uint32_t fired = 0;
    for (uint32_t i = 0; i < nsubs; i++) {
        const uint8_t *sub = subs + i * 48;
        if (sub[8] == 0 && wasi_clock_wait_ns(sub) > 0)
            continue;
        uint8_t *ev = events + fired++ * 32;
        memset(ev, 0, 32);
        put_u64(ev, get_u64(sub));
        ev[10] = sub[8];
        if (sub[8] != 0)
            put_u16(ev + 8, get_u32(sub + 16) <= 2 ? 0 : WASI_EBADF);
    }
    put_u32(call_guest_ptr(call, (uint32_t)a[3], 4), fired);
    r[0] = WASI_ESUCCESS;
}

#define WASI(name, sig, fn)                                                                        \
    {                                                                                              \
        "wasi_snapshot_preview1", name, sig, fn                                                    \
    }

static const struct host_import_def wasi_imports[] = {
    WASI("args_get", "ii:i", wasi_args_get),
    WASI("args_sizes_get", "ii:i", wasi_args_sizes_get),
    WASI("environ_get", "ii:i", wasi_environ_get),
    WASI("environ_sizes_get", "ii:i", wasi_environ_sizes_get),
    WASI("clock_res_get", "ii:i", wasi_clock_res_get),
    WASI("clock_time_get", "iIi:i", wasi_clock_time_get),
    WASI("fd_advise", "iIIi:i", wasi_ebadf),
    WASI("fd_allocate", "iII:i", wasi_ebadf),
    WASI("fd_close", "i:i", wasi_fd_close),
    WASI("fd_datasync", "i:i", wasi_ebadf),
    WASI("fd_fdstat_get", "ii:i", wasi_fd_fdstat_get),
    WASI("fd_fdstat_set_flags", "ii:i", wasi_enosys),
    WASI("fd_fdstat_set_rights", "iII:i", wasi_enosys),
    WASI("fd_filestat_get", "ii:i", wasi_enosys),
    WASI("fd_filestat_set_size", "iI:i", wasi_enosys),
    WASI("fd_filestat_set_times", "iIIi:i", wasi_enosys),
    WASI("fd_pread", "iiiIi:i", wasi_enosys),
    WASI("fd_prestat_get", "ii:i", wasi_ebadf),
    WASI("fd_prestat_dir_name", "iii:i", wasi_ebadf),
    WASI("fd_pwrite", "iiiIi:i", wasi_enosys),
    WASI("fd_read", "iiii:i", wasi_fd_read),
    WASI("fd_readdir", "iiiIi:i", wasi_enosys),
    WASI("fd_renumber", "ii:i", wasi_enosys),
    WASI("fd_seek", "iIii:i", wasi_fd_seek),
    WASI("fd_sync", "i:i", wasi_ebadf),
    WASI("fd_tell", "ii:i", wasi_fd_seek),
    WASI("fd_write", "iiii:i", wasi_fd_write),
    WASI("path_create_directory", "iii:i", wasi_enosys),
    WASI("path_filestat_get", "iiiii:i", wasi_enosys),
    WASI("path_filestat_set_times", "iiiiIIi:i", wasi_enosys),
    WASI("path_link", "iiiiiii:i", wasi_enosys),
    WASI("path_open", "iiiiiIIii:i", wasi_enosys),
    WASI("path_readlink", "iiiiii:i", wasi_enosys),
    WASI("path_remove_directory", "iii:i", wasi_enosys),
    WASI("path_rename", "iiiiii:i", wasi_enosys),
    WASI("path_symlink", "iiiii:i", wasi_enosys),
    WASI("path_unlink_file", "iii:i", wasi_enosys),
    WASI("poll_oneoff", "iiii:i", wasi_poll_oneoff),
    WASI("proc_exit", "i:", wasi_proc_exit),
    WASI("proc_raise", "i:i", wasi_enosys),
    WASI("sched_yield", ":i", wasi_sched_yield),
    WASI("random_get", "ii:i", wasi_random_get),
    WASI("sock_accept", "iii:i", wasi_enosys),
    WASI("sock_recv", "iiiiii:i", wasi_enosys),
    WASI("sock_send", "iiiii:i", wasi_enosys),
    WASI("sock_shutdown", "ii:i", wasi_enosys),
};

const struct host_import_def *wasi_import_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(wasi_imports); i++)
        if (strcmp(wasi_imports[i].name, name) == 0)
            return &wasi_imports[i];
    return NULL;
}
