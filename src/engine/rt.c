#include "engine/rt.h"

#include "engine/watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
    PAGE_BYTES = 65536,
    OS_PAGE_BYTES = 4096,
    ALT_STACK_BYTES = 64 * 1024,
    POOL_REGIONS = 4,        /* kept mapped per thread: a few memory sizes, none re-protected */
    MAX_EXTRA_REGIONS = 256, /* instances alive at once on a thread beyond the pooled ones */
    /* Reset: the pages a call touched (resident ones) are zeroed in place while they come to
     * at most this; past it, or for memories past RESET_SCAN_MAX_BYTES, madvise gives them
     * back (and the next call faults in what it touches) */
    RESET_MEMSET_MAX_BYTES = 2 << 20,
    RESET_SCAN_MAX_BYTES = 256 << 20,
    MAX_TABLE_ELEMS = 10000000,
};
/* 4 GiB of addresses + 4 GiB of offsets + slack: any i32 address plus offset faults inside. */
#define REGION_RESERVE_BYTES ((size_t)8 << 30) + ((size_t)64 << 10)
#define STACK_OVERFLOW_ZONE_BYTES ((uintptr_t)1 << 20)

/*
 * PAGEMAP_SCAN (Linux 6.7, ioctl on /proc/self/pagemap): the ranges of a region's pages that
 * are present, in one walk of the page tables that skips what was never touched — a third of
 * what mincore costs over a 16 MiB memory, whose answer is a byte per page. The kernel's
 * structures are spelled out here: Debian 12's headers (Linux 6.1) do not have them. A kernel
 * without it answers ENOTTY, and mincore serves.
 */
struct rt_page_region {
    uint64_t start, end, categories;
};
struct rt_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define RT_PAGEMAP_SCAN _IOWR('f', 16, struct rt_pm_scan_arg)
#define RT_PAGE_IS_PRESENT (1u << 3)
#define RT_PAGE_IS_PFNZERO (1u << 5) /* read, never written: the shared zero page */
enum { RT_SCAN_RANGES = 64 };        /* a memory touched in more places is given back (madvise) */
static int rt_pagemap_fd = -1;       /* -1: no PAGEMAP_SCAN here */
static atomic_bool rt_force_mincore; /* rt_reset_force_mincore */

struct rt_region {
    uint8_t *base;
    size_t rw_bytes; /* accessible prefix */
    bool in_use;
    /* pooled regions: the prefix locked in RAM (mlock2 MLOCK_ONFAULT), so that a page a call
     * wrote cannot be swapped out unseen by the reset; false `lockable`: RLIMIT_MEMLOCK said
     * no, and this region is reset by madvise alone */
    size_t locked_bytes;
    bool lockable;
    const void *owner; /* rt_limits.memory_owner of its last instance */
};

struct rt_thread {
    sigjmp_buf *jmp;
    volatile sig_atomic_t in_guest;
    volatile sig_atomic_t in_host;
    volatile sig_atomic_t timeout_pending;
    struct rt_limits limits;
    struct watchdog_slot watchdog;
    bool watchdog_registered;
    void *alt_stack;
    uintptr_t stack_lo;
    struct rt_region pool[POOL_REGIONS];
    struct rt_region extra[MAX_EXTRA_REGIONS];
    unsigned char *resident; /* mincore's answer for a reset, RESET_SCAN_MAX_BYTES' worth */
};

static __thread struct rt_thread *rt_self;
static pthread_key_t rt_thread_key;
static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static struct sigaction rt_prev_segv, rt_prev_bus;
static int rt_limit_signal;

/* ---- signals ---- */

static bool rt_addr_in_region(const struct rt_region *r, uintptr_t addr)
{
    return r->base && addr >= (uintptr_t)r->base &&
           addr < (uintptr_t)r->base + REGION_RESERVE_BYTES;
}

static bool rt_addr_is_guest_memory(const struct rt_thread *t, uintptr_t addr)
{
    for (int i = 0; i < POOL_REGIONS; i++)
        if (rt_addr_in_region(&t->pool[i], addr))
            return true;
    for (int i = 0; i < MAX_EXTRA_REGIONS; i++)
        if (rt_addr_in_region(&t->extra[i], addr))
            return true;
    return false;
}

static bool rt_addr_is_stack_overflow(const struct rt_thread *t, uintptr_t addr)
{
    return t->stack_lo && addr < t->stack_lo + 65536 &&
           addr + STACK_OVERFLOW_ZONE_BYTES >= t->stack_lo;
}

static void rt_chain(int sig, siginfo_t *info, void *uctx)
{
    const struct sigaction *prev = sig == SIGBUS ? &rt_prev_bus : &rt_prev_segv;
    if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        prev->sa_sigaction(sig, info, uctx);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* Not ours and nobody else's: die loudly on the re-executed fault. */
    signal(sig, SIG_DFL);
}

static void rt_on_fault(int sig, siginfo_t *info, void *uctx)
{
    struct rt_thread *t = rt_self;
    if (t && t->in_guest && !t->in_host) {
        uintptr_t addr = (uintptr_t)info->si_addr;
        if (rt_addr_is_guest_memory(t, addr))
            siglongjmp(*t->jmp, RT_TRAP_WASM_BASE + WASM_RT_TRAP_OOB);
        if (rt_addr_is_stack_overflow(t, addr))
            siglongjmp(*t->jmp, RT_TRAP_WASM_BASE + WASM_RT_TRAP_EXHAUSTION);
    }
    rt_chain(sig, info, uctx);
}

static void rt_on_time_limit(int sig, siginfo_t *info, void *uctx)
{
    (void)sig, (void)info, (void)uctx;
    struct rt_thread *t = rt_self;
    if (!t || !t->in_guest || !watchdog_fired_now(&t->watchdog))
        return; /* late: meant for a call that has ended */
    if (t->in_host)
        t->timeout_pending = 1;
    else
        siglongjmp(*t->jmp, RT_TRAP_TIMEOUT);
}

static void rt_thread_destroy(void *arg);

static void rt_install_fault_handlers(void)
{
    struct sigaction sa, prev_segv, prev_bus;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = rt_on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
    sigaction(SIGBUS, &sa, &prev_bus);
    /* Chaining to ourselves would loop: keep the older handler then. */
    if (prev_segv.sa_sigaction != rt_on_fault)
        rt_prev_segv = prev_segv;
    if (prev_bus.sa_sigaction != rt_on_fault)
        rt_prev_bus = prev_bus;
}

void rt_reclaim_signals(void)
{
    rt_global_init();
    rt_install_fault_handlers();
}

static void rt_install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    rt_install_fault_handlers();
    sigemptyset(&sa.sa_mask);
    rt_limit_signal = SIGRTMIN + 4;
    sa.sa_sigaction = rt_on_time_limit;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
    sigaction(rt_limit_signal, &sa, NULL);
    pthread_key_create(&rt_thread_key, rt_thread_destroy);
    rt_pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

void rt_global_init(void)
{
    pthread_once(&rt_once, rt_install_handlers);
}

/* ---- per-thread state ---- */

static void rt_thread_find_stack(struct rt_thread *t)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0)
        t->stack_lo = (uintptr_t)addr;
    pthread_attr_destroy(&attr);
}

static bool rt_thread_setup_signals(struct rt_thread *t)
{
    t->alt_stack =
        mmap(NULL, ALT_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t->alt_stack == MAP_FAILED) {
        t->alt_stack = NULL;
        return false;
    }
    stack_t ss = {.ss_sp = t->alt_stack, .ss_size = ALT_STACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return false;
    watchdog_register(&t->watchdog, rt_limit_signal);
    t->watchdog_registered = true;
    return true;
}

static struct rt_thread *rt_thread_get(void)
{
    if (rt_self)
        return rt_self;
    rt_global_init();
    struct rt_thread *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    rt_thread_find_stack(t);
    if (!rt_thread_setup_signals(t)) {
        rt_self = t;
        rt_thread_release();
        return NULL;
    }
    rt_self = t;
    pthread_setspecific(rt_thread_key, t);
    return t;
}

static void rt_region_unmap(struct rt_region *r)
{
    if (r->base)
        munmap(r->base, REGION_RESERVE_BYTES);
    *r = (struct rt_region){0};
}

static void rt_thread_destroy(void *arg)
{
    struct rt_thread *t = arg;
    if (!t)
        return;
    if (t->watchdog_registered)
        watchdog_unregister(&t->watchdog);
    if (t->alt_stack) {
        stack_t ss = {.ss_flags = SS_DISABLE};
        if (rt_self == t)
            sigaltstack(&ss, NULL);
        munmap(t->alt_stack, ALT_STACK_BYTES);
    }
    for (int i = 0; i < POOL_REGIONS; i++)
        rt_region_unmap(&t->pool[i]);
    for (int i = 0; i < MAX_EXTRA_REGIONS; i++)
        rt_region_unmap(&t->extra[i]);
    free(t->resident);
    free(t);
}

void rt_thread_release(void)
{
    struct rt_thread *t = rt_self;
    rt_self = NULL;
    if (t) {
        pthread_setspecific(rt_thread_key, NULL);
        rt_thread_destroy(t);
    }
}

/* ---- guarded calls and traps ---- */

int rt_guarded_call(const struct rt_limits *limits, void (*fn)(void *), void *arg)
{
    struct rt_thread *volatile t = rt_thread_get();
    if (!t)
        return RT_TRAP_HOST;
    if (t->in_guest) { /* nested: the outer call catches our traps */
        fn(arg);
        return RT_OK;
    }
    sigjmp_buf here;
    t->jmp = &here;
    t->limits = *limits;
    t->timeout_pending = 0;
    int code = sigsetjmp(here, 0);
    bool watched = limits->timeout_ms || limits->cancel;
    if (code == 0) {
        if (watched)
            watchdog_arm(&t->watchdog, limits->timeout_ms, limits->cancel);
        t->in_guest = 1;
        fn(arg);
    }
    t->in_guest = 0;
    t->in_host = 0;
    if (watched)
        watchdog_disarm(&t->watchdog);
    return code;
}

void rt_trap(int code)
{
    struct rt_thread *t = rt_self;
    if (!t || !t->in_guest) {
        fprintf(stderr, "funless: wasm trap %d outside a guarded call\n", code);
        abort();
    }
    siglongjmp(*t->jmp, code);
}

void rt_host_enter(void)
{
    rt_self->in_host++;
}

uint64_t rt_call_deadline_ns(void)
{
    return rt_self ? atomic_load(&rt_self->watchdog.deadline_ns) : 0;
}

void rt_host_leave(void)
{
    struct rt_thread *t = rt_self;
    t->in_host--;
    if (t->in_host == 0 && t->timeout_pending)
        rt_trap(RT_TRAP_TIMEOUT);
}

const char *rt_trap_message(int code)
{
    switch (code) {
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_OOB:
        return "out of bounds memory access";
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_INT_OVERFLOW:
        return "integer overflow";
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_DIV_BY_ZERO:
        return "integer divide by zero";
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_INVALID_CONVERSION:
        return "invalid conversion to integer";
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_UNREACHABLE:
        return "unreachable executed";
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_CALL_INDIRECT:
        return "indirect call type mismatch or undefined element";
    case RT_TRAP_WASM_BASE + WASM_RT_TRAP_EXHAUSTION:
        return "call stack exhausted";
    case RT_TRAP_TIMEOUT:
        return "time limit exceeded";
    case RT_TRAP_EXIT:
        return "exited";
    case RT_TRAP_MEMORY_CAP:
        return "initial memory exceeds the memory limit";
    default:
        return "host error";
    }
}

/* ---- the API bound into generated code ---- */

static void api_trap(int code)
{
    rt_trap(RT_TRAP_WASM_BASE + code);
}

struct rt_functype {
    uint32_t params, results;
    int *types;
};
static pthread_mutex_t rt_types_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rt_functype *rt_types;
static uint32_t rt_type_count;

/* Same signature, same index, process-wide: call_indirect compares them across modules. */
static uint32_t api_register_func_type(uint32_t params, uint32_t results, const int *types)
{
    uint32_t n = params + results, found = UINT32_MAX;
    pthread_mutex_lock(&rt_types_lock);
    for (uint32_t i = 0; i < rt_type_count && found == UINT32_MAX; i++)
        if (rt_types[i].params == params && rt_types[i].results == results &&
            memcmp(rt_types[i].types, types, n * sizeof(int)) == 0)
            found = i + 1;
    if (found == UINT32_MAX) {
        struct rt_functype *grown = realloc(rt_types, (rt_type_count + 1) * sizeof(*grown));
        int *copy = malloc(n * sizeof(int) + 1);
        if (grown && copy) {
            rt_types = grown;
            memcpy(copy, types, n * sizeof(int));
            rt_types[rt_type_count++] = (struct rt_functype){params, results, copy};
            found = rt_type_count;
        } else {
            if (grown)
                rt_types = grown;
            free(copy);
        }
    }
    pthread_mutex_unlock(&rt_types_lock);
    if (found == UINT32_MAX)
        rt_trap(RT_TRAP_HOST);
    return found;
}

static bool rt_region_reserve(struct rt_region *r)
{
    void *base = mmap(NULL, REGION_RESERVE_BYTES, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return false;
    /* 4 KiB pages only: with transparent huge pages (`always`), one byte written would make
     * 2 MiB present, and the reset would zero or give back all of it at every call */
    madvise(base, REGION_RESERVE_BYTES, MADV_NOHUGEPAGE);
    *r = (struct rt_region){.base = base};
    return true;
}

static bool rt_region_set_rw(struct rt_region *r, size_t bytes)
{
    if (bytes > r->rw_bytes &&
        mprotect(r->base + r->rw_bytes, bytes - r->rw_bytes, PROT_READ | PROT_WRITE) != 0)
        return false;
    if (bytes < r->rw_bytes && mprotect(r->base + bytes, r->rw_bytes - bytes, PROT_NONE) != 0)
        return false;
    r->rw_bytes = bytes;
    return true;
}

static bool rt_region_pooled(const struct rt_thread *t, const struct rt_region *r)
{
    return r >= t->pool && r < t->pool + POOL_REGIONS;
}

/* Reserves a pooled slot's address space the first time it is taken. */
static struct rt_region *rt_region_pooled_ready(struct rt_region *r)
{
    if (r && !r->base && rt_region_reserve(r))
        r->lockable = true; /* pooled: worth locking (rt_region_lock) */
    return r && r->base ? r : NULL;
}

/*
 * A free pooled region for a memory of `bytes`, in this order:
 * - the one its owner used last, if it is that size: a function called again needs no
 *   mprotect, and the reset walks page tables only where this function wrote (another
 *   function's pages spread over 16 MiB would cost each of its calls a walk of them all);
 * - for an owner, a slot not used yet: its own region from now on;
 * - one already that size, else the one closest in size;
 * past the pool, a region of its own (unmapped when freed).
 */
static struct rt_region *rt_region_acquire(struct rt_thread *t, size_t bytes, const void *owner)
{
    struct rt_region *unused = NULL, *same_size = NULL, *closest = NULL;
    size_t closest_gap = SIZE_MAX;
    for (int i = 0; i < POOL_REGIONS; i++) {
        struct rt_region *r = &t->pool[i];
        if (r->in_use)
            continue;
        if (r->base && r->rw_bytes == bytes && owner && r->owner == owner)
            return r;
        if (!r->base && !unused)
            unused = r;
        if (r->base && r->rw_bytes == bytes && !same_size)
            same_size = r;
        /* an unused one (rw_bytes 0) costs a reservation, and protecting `bytes` */
        size_t gap = r->rw_bytes > bytes ? r->rw_bytes - bytes : bytes - r->rw_bytes;
        if (gap < closest_gap) {
            closest = r;
            closest_gap = gap;
        }
    }
    struct rt_region *pooled = owner && unused ? unused : same_size ? same_size : closest;
    if ((pooled = rt_region_pooled_ready(pooled)))
        return pooled;
    for (int i = 0; i < MAX_EXTRA_REGIONS; i++)
        if (!t->extra[i].base)
            return rt_region_reserve(&t->extra[i]) ? &t->extra[i] : NULL;
    return NULL;
}

static struct rt_region *rt_region_of(struct rt_thread *t, const uint8_t *data)
{
    for (int i = 0; i < POOL_REGIONS; i++)
        if (t->pool[i].base == data)
            return &t->pool[i];
    for (int i = 0; i < MAX_EXTRA_REGIONS; i++)
        if (t->extra[i].base == data)
            return &t->extra[i];
    return NULL;
}

/* Locks the region's accessible prefix in RAM as its pages fault in (a pooled region; once
 * refused, never tried again for it). */
static void rt_region_lock(struct rt_region *r)
{
    if (!r->lockable || r->rw_bytes <= r->locked_bytes)
        return;
    if (mlock2(r->base + r->locked_bytes, r->rw_bytes - r->locked_bytes, MLOCK_ONFAULT) == 0)
        r->locked_bytes = r->rw_bytes;
    else
        r->lockable = false;
}

static void api_allocate_memory(wasm_rt_memory_t *mem, uint32_t initial, uint32_t max)
{
    struct rt_thread *t = rt_self;
    rt_host_enter();
    if (initial > t->limits.max_pages)
        rt_trap(RT_TRAP_MEMORY_CAP);
    struct rt_region *r =
        rt_region_acquire(t, (size_t)initial * PAGE_BYTES, t->limits.memory_owner);
    if (!r || !rt_region_set_rw(r, (size_t)initial * PAGE_BYTES))
        rt_trap(RT_TRAP_HOST);
    rt_region_lock(r);
    r->in_use = true;
    r->owner = t->limits.memory_owner;
    mem->data = r->base;
    mem->pages = initial;
    mem->max_pages = max < t->limits.max_pages ? max : t->limits.max_pages;
    mem->size = initial * PAGE_BYTES;
    rt_host_leave();
}

static uint32_t api_grow_memory(wasm_rt_memory_t *mem, uint32_t delta)
{
    struct rt_thread *t = rt_self;
    uint32_t old_pages = mem->pages;
    if (delta == 0)
        return old_pages;
    if ((uint64_t)old_pages + delta > mem->max_pages)
        return UINT32_MAX;
    rt_host_enter();
    struct rt_region *r = rt_region_of(t, mem->data);
    size_t bytes = ((size_t)old_pages + delta) * PAGE_BYTES;
    uint32_t result = UINT32_MAX;
    if (r && (bytes <= r->rw_bytes || rt_region_set_rw(r, bytes))) {
        rt_region_lock(r);
        mem->pages = old_pages + delta;
        mem->size = (uint32_t)(bytes > UINT32_MAX ? UINT32_MAX : bytes);
        result = old_pages;
    }
    rt_host_leave();
    return result;
}

bool rt_reset_uses_pagemap_scan(void)
{
    rt_global_init();
    struct rt_pm_scan_arg probe = {.size = sizeof(probe)}; /* an empty range: ENOTTY if unknown */
    return rt_pagemap_fd >= 0 && ioctl(rt_pagemap_fd, RT_PAGEMAP_SCAN, &probe) >= 0;
}

void rt_reset_force_mincore(bool on)
{
    atomic_store(&rt_force_mincore, on);
}

/* rt_reset_touched through PAGEMAP_SCAN: 1 done, 0 too much touched, -1 cannot tell. */
static int rt_zero_present_ranges(uint8_t *base, size_t bytes)
{
    struct rt_page_region ranges[RT_SCAN_RANGES];
    struct rt_pm_scan_arg scan = {
        .size = sizeof(scan),
        .start = (uintptr_t)base,
        .end = (uintptr_t)base + bytes,
        .vec = (uintptr_t)ranges,
        .vec_len = RT_SCAN_RANGES,
        .max_pages = RESET_MEMSET_MAX_BYTES / OS_PAGE_BYTES + 1,
        .category_mask = RT_PAGE_IS_PRESENT | RT_PAGE_IS_PFNZERO, /* present, not the zero page */
        .category_inverted = RT_PAGE_IS_PFNZERO,
        .return_mask = RT_PAGE_IS_PRESENT,
    };
    if (rt_pagemap_fd < 0 || atomic_load_explicit(&rt_force_mincore, memory_order_relaxed))
        return -1;
    int n = ioctl(rt_pagemap_fd, RT_PAGEMAP_SCAN, &scan);
    if (n < 0)
        return -1;
    size_t present = 0;
    for (int i = 0; i < n; i++)
        present += ranges[i].end - ranges[i].start;
    if (scan.walk_end < scan.end || present > RESET_MEMSET_MAX_BYTES)
        return 0; /* it stopped early: more ranges, or more pages, than are worth a memset */
    for (int i = 0; i < n; i++)
        memset((void *)(uintptr_t)ranges[i].start, 0, ranges[i].end - ranges[i].start);
    return 1;
}

/* rt_reset_touched through mincore (a byte per page): false when too much was touched, or the
 * kernel cannot tell. */
static bool rt_zero_resident_pages(struct rt_thread *t, uint8_t *base, size_t bytes)
{
    size_t pages = bytes / OS_PAGE_BYTES, resident = 0;
    if (!t->resident && !(t->resident = malloc(RESET_SCAN_MAX_BYTES / OS_PAGE_BYTES)))
        return false;
    if (mincore(base, bytes, t->resident) != 0)
        return false;
    for (size_t i = 0; i < pages; i++)
        resident += t->resident[i] & 1;
    if (resident * OS_PAGE_BYTES > RESET_MEMSET_MAX_BYTES)
        return false;
    for (size_t i = 0; i < pages;) { /* each run of resident pages, one memset */
        if (!(t->resident[i] & 1)) {
            i++;
            continue;
        }
        size_t run = i;
        while (run < pages && (t->resident[run] & 1))
            run++;
        memset(base + i * OS_PAGE_BYTES, 0, (run - i) * OS_PAGE_BYTES);
        i = run;
    }
    return true;
}

/* Zeroes the pages of the region's first `bytes` a call touched: the present ones (PAGEMAP_SCAN,
 * else mincore), in place, so that the next call finds them mapped. Only in a locked region:
 * there no page the call wrote can have been swapped out, so present means every written page.
 * False when that is not the way (not locked, too much touched, the kernel cannot tell):
 * madvise must. */
static bool rt_reset_touched(struct rt_thread *t, struct rt_region *r, size_t bytes)
{
    if (!r->lockable || r->locked_bytes < bytes || bytes > RESET_SCAN_MAX_BYTES)
        return false;
    int scanned = rt_zero_present_ranges(r->base, bytes);
    return scanned >= 0 ? scanned == 1 : rt_zero_resident_pages(t, r->base, bytes);
}

/* madvise cannot drop locked pages: unlock first (locked again at the next use). Should the
 * unlock or the madvise not happen (a sanitizer's munlock does nothing, and madvise then fails
 * on the locked pages), the pages are zeroed by hand: a reset never fails open. */
static void rt_region_drop_pages(struct rt_region *r, size_t bytes)
{
    if (r->locked_bytes) {
        munlock(r->base, r->locked_bytes);
        r->locked_bytes = 0;
    }
    if (madvise(r->base, bytes, MADV_DONTNEED) != 0) {
        memset(r->base, 0, bytes);
        r->lockable = false; /* this region is not worth locking here */
    }
}

/*
 * A pooled region stays mapped, its protection as it is (the next memory of that size needs
 * no mprotect): only what the instance touched is zeroed, in place when that is little (a
 * resident page stays resident: the next call does not fault on it), else handed back with
 * madvise. Every page a call could have written is resident, so none is missed; after a trap
 * or a time-out the same path runs.
 */
static void api_free_memory(wasm_rt_memory_t *mem)
{
    struct rt_thread *t = rt_self;
    struct rt_region *r = t ? rt_region_of(t, mem->data) : NULL;
    if (!r)
        return;
    size_t used = r->rw_bytes; /* what it grew to, too */
    if (!rt_region_pooled(t, r))
        rt_region_unmap(r);
    else if (!rt_reset_touched(t, r, used))
        rt_region_drop_pages(r, used);
    r->in_use = false;
    mem->data = NULL;
}

static void *rt_table_alloc(uint32_t n, size_t elem_size)
{
    if (n > MAX_TABLE_ELEMS)
        rt_trap(RT_TRAP_HOST);
    void *data = calloc(n ? n : 1, elem_size);
    if (!data)
        rt_trap(RT_TRAP_HOST);
    return data;
}

static void api_allocate_funcref_table(wasm_rt_funcref_table_t *t, uint32_t n, uint32_t max)
{
    t->data = rt_table_alloc(n, sizeof(wasm_rt_funcref_t));
    t->size = n;
    t->max_size = max;
}

static void api_free_funcref_table(wasm_rt_funcref_table_t *t)
{
    free(t->data);
    t->data = NULL;
}

static void api_allocate_externref_table(wasm_rt_externref_table_t *t, uint32_t n, uint32_t max)
{
    t->data = rt_table_alloc(n, sizeof(wasm_rt_externref_t));
    t->size = n;
    t->max_size = max;
}

static void api_free_externref_table(wasm_rt_externref_table_t *t)
{
    free(t->data);
    t->data = NULL;
}

/* Shared by both table kinds: grows `*data` of `elem_size` elements and fills with `init`. */
static uint32_t rt_table_grow(void **data, uint32_t *size, uint32_t max, uint32_t delta,
                              const void *init, size_t elem_size)
{
    uint32_t old = *size;
    uint64_t want = (uint64_t)old + delta;
    if (delta == 0)
        return old;
    if (want > max || want > MAX_TABLE_ELEMS)
        return UINT32_MAX;
    uint8_t *grown = realloc(*data, want * elem_size);
    if (!grown)
        return UINT32_MAX;
    for (uint64_t i = old; i < want; i++)
        memcpy(grown + i * elem_size, init, elem_size);
    *data = grown;
    *size = (uint32_t)want;
    return old;
}

static uint32_t api_grow_funcref_table(wasm_rt_funcref_table_t *t, uint32_t d, wasm_rt_funcref_t v)
{
    void *data = t->data;
    uint32_t r = rt_table_grow(&data, &t->size, t->max_size, d, &v, sizeof(v));
    t->data = data;
    return r;
}

static uint32_t api_grow_externref_table(wasm_rt_externref_table_t *t, uint32_t d, void *v)
{
    void *data = t->data;
    uint32_t r = rt_table_grow(&data, &t->size, t->max_size, d, &v, sizeof(v));
    t->data = data;
    return r;
}

/*
 * wasm2c 1.0.32 puts an imported function into a table with the address of
 * the instance field that holds our context, not the context itself, so a
 * call through the table hands us a pointer to a pointer. A context points to
 * itself; the field does not: one load tells the two apart.
 */
static struct rt_ctx *rt_ctx_of(void *arg)
{
    struct rt_ctx *c = arg;
    return c->self == c ? c : *(struct rt_ctx **)arg;
}

static void api_import_call(void *ctx, uint32_t index, uint64_t *args, uint64_t *results)
{
    struct rt_ctx *c = rt_ctx_of(ctx);
    rt_host_enter();
    c->funcs[index](c, index, args, results);
    rt_host_leave();
}

static void *api_import_ptr(void *ctx, uint32_t index)
{
    return rt_ctx_of(ctx)->ptrs[index];
}

const struct fl_rt_api rt_api = {
    .trap = api_trap,
    .register_func_type = api_register_func_type,
    .allocate_memory = api_allocate_memory,
    .grow_memory = api_grow_memory,
    .free_memory = api_free_memory,
    .allocate_funcref_table = api_allocate_funcref_table,
    .free_funcref_table = api_free_funcref_table,
    .grow_funcref_table = api_grow_funcref_table,
    .allocate_externref_table = api_allocate_externref_table,
    .free_externref_table = api_free_externref_table,
    .grow_externref_table = api_grow_externref_table,
    .import_call = api_import_call,
    .import_ptr = api_import_ptr,
};
