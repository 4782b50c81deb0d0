/*
 * util — the small helpers every component uses, one of each: the struct that
 * holds a member, the length of an array, little-endian fields, the monotonic
 * clock, and mutexes that know their holder (so a function's "called with the
 * lock held" is an assert in debug builds, not only a comment).
 */
#ifndef FL_COMMON_UTIL_H
#define FL_COMMON_UTIL_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The struct of type `type` whose member `member` is at `ptr`. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Elements in an array (not a pointer: the compiler refuses one). */
#define ARRAY_SIZE(a)                                                                              \
    (sizeof(a) / sizeof((a)[0]) +                                                                  \
     0 * sizeof(struct {                                                                           \
         _Static_assert(!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])),         \
                        "ARRAY_SIZE of a pointer");                                                \
         int unused;                                                                               \
     }))

#define FL_STATIC_ASSERT(condition, why) _Static_assert(condition, why)

static inline uint32_t fl_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t fl_get_le64(const uint8_t *p)
{
    return (uint64_t)fl_get_le32(p) | (uint64_t)fl_get_le32(p + 4) << 32;
}

static inline void fl_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fl_put_le64(uint8_t *p, uint64_t v)
{
    fl_put_le32(p, (uint32_t)v);
    fl_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* The monotonic clock: durations and deadlines, never the time of day. */
static inline uint64_t fl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fl_now_ms(void)
{
    return fl_now_ns() / 1000000u;
}

static inline double fl_now_s(void)
{
    return (double)fl_now_ns() / 1e9;
}

/* The wall clock in milliseconds since the epoch: times shown to people or stored, never
 * durations. */
static inline int64_t fl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `ms` (fl_wall_ms) as RFC 3339 in UTC with milliseconds: 2026-12-05T01:02:03.456Z. */
static inline void fl_format_wall_ms(int64_t ms, char out[32])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* Now as ISO-8601 UTC to the second (2026-12-05T01:02:03Z): the stores' created_at and
 * updated_at. */
static inline void fl_format_now_s(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Milliseconds from `then` to `now`, 0 when `then` is later: another thread may record a time
 * after this one read the clock (an unsigned `now - then` would wrap to ~584 million years). */
static inline uint64_t fl_ms_since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* A CLOCK_MONOTONIC deadline `ms` from now, for the *_clockwait functions. */
static inline struct timespec fl_deadline_in(uint64_t ms)
{
    uint64_t at = fl_now_ns() + ms * 1000000u;
    return (struct timespec){(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
}

/*
 * A mutex that remembers its holder in debug builds: `assert(fl_mutex_held(&m))` states a
 * locking rule where the code relies on it (as SQLite's sqlite3_mutex_held). In release builds
 * (NDEBUG) it is a plain pthread mutex and the asserts vanish.
 */
struct fl_mutex {
    pthread_mutex_t m;
#ifndef NDEBUG
    _Atomic(pthread_t) holder; /* meaningful while `held` */
    _Atomic bool held;
#endif
};

static inline void fl_mutex_init(struct fl_mutex *mutex)
{
    pthread_mutex_init(&mutex->m, NULL);
#ifndef NDEBUG
    mutex->held = false;
#endif
}

static inline void fl_mutex_destroy(struct fl_mutex *mutex)
{
    pthread_mutex_destroy(&mutex->m);
}

static inline void fl_mutex_lock(struct fl_mutex *mutex)
{
    pthread_mutex_lock(&mutex->m);
#ifndef NDEBUG
    mutex->holder = pthread_self();
    mutex->held = true;
#endif
}

static inline void fl_mutex_unlock(struct fl_mutex *mutex)
{
#ifndef NDEBUG
    mutex->held = false;
#endif
    pthread_mutex_unlock(&mutex->m);
}

/* pthread_cond_clockwait (CLOCK_MONOTONIC) on an fl_mutex: the holder is this thread again
 * when it returns. */
static inline int fl_cond_clockwait(pthread_cond_t *cond, struct fl_mutex *mutex,
                                    const struct timespec *deadline)
{
#ifndef NDEBUG
    mutex->held = false;
#endif
    int rc = pthread_cond_clockwait(cond, &mutex->m, CLOCK_MONOTONIC, deadline);
#ifndef NDEBUG
    mutex->holder = pthread_self();
    mutex->held = true;
#endif
    return rc;
}

/* Debug builds: this thread holds `mutex`. Release builds: true (only for asserts). */
static inline bool fl_mutex_held(struct fl_mutex *mutex)
{
#ifndef NDEBUG
    return mutex->held && pthread_equal(mutex->holder, pthread_self());
#else
    (void)mutex;
    return true;
#endif
}

#endif
