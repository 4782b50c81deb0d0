#include "core/cluster/cluster.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/evloop.h"
#include "common/secret.h"
#include "core/app/app.h"
#include "proto/link.h"

enum {
    MAX_WORKERS = 256,
    BACKOFF_MIN_MS = 100,
    BACKOFF_MAX_MS = 2000,
    HEARTBEAT_TIMEOUT_MS = 2000, /* a silent Worker is dropped after this */
    REPLY_MARGIN_MS = 30000,     /* compile time and transfer on top of the function's limit */
    PUSH_TIMEOUT_MS = 120000,
    AFFINITY_RECENT_MS = 5000, /* a tag counts for affinity this long after its last call ends */
    MAX_TAG_USES = 64,         /* tags remembered per Worker (idle ones are forgotten first) */
    EXPIRE_SWEEP_MS = 100,     /* how often a Worker's thread looks for calls past their time */
};

/* Invocations of functions with one tag on one Worker, for APP affinity. */
struct tag_use {
    char tag[FL_NAME_MAX + 1];
    unsigned running;
    uint64_t last_ms; /* when a call started or ended */
};

/* A call waiting for its reply. Its fields are written under its Worker's pending_lock and
 * read by the caller after `answered` is posted. */
struct pending {
    uint32_t id;
    bool done;
    bool lost;
    uint8_t type;
    uint32_t status;
    struct fl_buf output;
    char detail[256];
    sem_t answered; /* posted by the reader (or on loss) once `done` is set */
    /* A call nobody waits for (cluster_invoke_start): called instead of posting, outside the
     * pending lock, and given up on at `deadline_ms` by the Worker's thread. */
    cluster_done_fn done_fn;
    void *done_arg;
    uint64_t deadline_ms;
    struct pending *next;
};

struct cworker {
    struct cluster *cluster;
    char address[256];
    enum cluster_source source;
    uint64_t heard_ms;    /* last announcement or DNS answer naming it */
    atomic_bool removed;  /* dropped by discovery: not dialed, listed or placed */
    atomic_bool finished; /* its thread has returned */
    char name[PROTO_MAX_STR + 1];
    struct link link;
    atomic_bool connected;
    uint64_t free_mem, total_mem;
    uint32_t load_milli, queued, worker_in_flight;
    unsigned in_flight; /* counted by the Core */
    struct tag_use *tag_uses;
    size_t tag_use_count;
    const char *active_tags[MAX_TAG_USES]; /* refreshed for each placement */
    /* Calls waiting for a reply, by id. Its own lock (taken after the cluster lock, never
     * before) lets the reader deliver replies without the cluster lock. */
    pthread_mutex_t pending_lock;
    struct pending *pending;
    unsigned pins; /* pushes using this Worker now: its slot is not reused meanwhile */
    pthread_t thread;
    uint8_t worker_nonce[FL_NONCE_BYTES], core_nonce[FL_NONCE_BYTES];
    /* Reading on the cluster's event loop (cluster_use_loop): the loop reads the link into
     * `rx_*` and sets `link_ended` (under end_lock) when it ends; the Worker's thread waits
     * for that and watches for silence. */
    struct evloop_source readable;
    struct fl_buf rx_payload;
    struct proto_msg *rx_msg;
    _Atomic uint64_t heard_frame_ms;
    pthread_mutex_t end_lock;
    pthread_cond_t ended;
    bool link_ended;
    atomic_bool flush_queued; /* on the loop's to_flush list (set on the loop thread) */
};

struct cluster {
    pthread_mutex_t lock; /* guards everything in the cluster and its workers */
    struct cworker *workers[MAX_WORKERS];
    size_t count;
    size_t by_name[MAX_WORKERS]; /* indices into workers, sorted by name (APP walks "*" so) */
    uint32_t next_id;
    unsigned round_robin;
    atomic_bool stopping;
    struct fl_secret secret;
    bool load_from_heartbeats;
    struct evloop *loop; /* reads the links and sends the invocations placed on it */
    struct cworker *to_flush[MAX_WORKERS]; /* with frames queued this round (loop thread) */
    size_t flush_count;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds from `then` to `now`, 0 when `then` is later: another thread may record a
 * time after this one read the clock (an unsigned `now - then` would wrap to ~584 million
 * years, and a healthy Worker would look silent). */
static uint64_t ms_since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

struct cluster *cluster_new(const struct fl_secret *secret)
{
    struct cluster *c = calloc(1, sizeof(*c));
    if (c) {
        pthread_mutex_init(&c->lock, NULL);
        c->load_from_heartbeats = true;
        if (secret)
            c->secret = *secret;
    }
    return c;
}

/* ---- pending calls ---- */

static void pending_init(struct pending *p, uint32_t id)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    fl_buf_init(&p->output, (size_t)8 << 20);
    sem_init(&p->answered, 0, 0);
}

static void pending_deinit(struct pending *p)
{
    fl_buf_deinit(&p->output);
    sem_destroy(&p->answered);
}

/* Under w->pending_lock. */
static void pending_unlink(struct cworker *w, struct pending *p)
{
    for (struct pending **slot = &w->pending; *slot; slot = &(*slot)->next)
        if (*slot == p) {
            *slot = p->next;
            return;
        }
}

/* Under w->pending_lock: `p` is answered (or lost); a waiter is woken, a callback is put on
 * `callbacks` to be called once the lock is released. */
static void pending_answered(struct pending *p, struct pending **callbacks)
{
    p->done = true;
    if (p->done_fn) {
        p->next = *callbacks;
        *callbacks = p;
    } else {
        sem_post(&p->answered);
    }
}

/* Without the pending lock: the callbacks pending_answered collected. */
static void pending_call_back(struct pending *callbacks)
{
    for (struct pending *p = callbacks, *next; p; p = next) {
        next = p->next; /* p belongs to its caller once called */
        p->done_fn(p->done_arg);
    }
}

/* Every call waiting on `w` fails now (the Worker is gone; `connected` is already false). */
static void worker_fail_pending(struct cworker *w)
{
    struct pending *callbacks = NULL;
    pthread_mutex_lock(&w->pending_lock);
    for (struct pending *p = w->pending, *next; p; p = next) {
        next = p->next; /* p belongs to its waiter once posted */
        p->lost = true;
        pending_answered(p, &callbacks);
    }
    w->pending = NULL;
    pthread_mutex_unlock(&w->pending_lock);
    pending_call_back(callbacks);
}

/* Calls nobody waits for whose time is up fail (the Worker's thread runs this every
 * EXPIRE_SWEEP_MS, or between frames when it reads the link itself). */
static void worker_expire_pending(struct cworker *w, uint64_t now)
{
    struct pending *callbacks = NULL;
    pthread_mutex_lock(&w->pending_lock);
    for (struct pending **slot = &w->pending; *slot;) {
        struct pending *p = *slot;
        if (p->done_fn && now >= p->deadline_ms) {
            *slot = p->next;
            p->lost = true;
            pending_answered(p, &callbacks);
        } else {
            slot = &p->next;
        }
    }
    pthread_mutex_unlock(&w->pending_lock);
    pending_call_back(callbacks);
}

/* Hands a reply to its waiter (replies nobody waits for are dropped). */
static void worker_deliver(struct cworker *w, const struct proto_msg *m)
{
    struct pending *callbacks = NULL;
    pthread_mutex_lock(&w->pending_lock);
    for (struct pending *p = w->pending; p; p = p->next) {
        if (p->id != m->header.id)
            continue;
        p->type = m->header.type;
        if (m->header.type == PROTO_ACK) {
            p->status = m->u.ack.status;
            snprintf(p->detail, sizeof(p->detail), "%.255s", m->u.ack.detail);
        } else if (m->header.type == PROTO_RESULT) {
            p->status = m->u.result.status;
            fl_buf_set(&p->output,
                       m->u.result.output.data ? (const char *)m->u.result.output.data : "",
                       m->u.result.output.len);
            snprintf(p->detail, sizeof(p->detail), "%.255s", m->u.result.detail);
        }
        pending_unlink(w, p);
        pending_answered(p, &callbacks);
        break;
    }
    pthread_mutex_unlock(&w->pending_lock);
    pending_call_back(callbacks);
}

/* ---- the per-Worker thread: dial, read, reconnect ---- */

/* Under the lock, after a Worker is added or named (rare: an insertion sort will do). */
static void cluster_sort_names(struct cluster *c)
{
    for (size_t i = 0; i < c->count; i++) {
        size_t k = i;
        for (; k > 0 && strcmp(c->workers[c->by_name[k - 1]]->name, c->workers[i]->name) > 0; k--)
            c->by_name[k] = c->by_name[k - 1];
        c->by_name[k] = i;
    }
}

static void worker_joined(struct cworker *w)
{
    w->connected = true;
    cluster_sort_names(w->cluster);
    fprintf(stderr, "core: event=worker_joined name=%s address=%s\n", w->name, w->address);
}

/*
 * Under the lock: HELLO starts the handshake (docs/protocol.md). Both sides must have
 * the same cluster secret, or both none; false: hang up.
 */
static bool worker_hello(struct cworker *w, const struct proto_msg *m)
{
    const struct fl_secret *secret = &w->cluster->secret;
    if (!fl_worker_name_valid(m->u.hello.name)) { /* it goes into logs, headers and metrics */
        char escaped[128];
        fl_escape_log(m->u.hello.name, escaped, sizeof(escaped));
        fprintf(stderr,
                "core: event=worker_refused address=%s name=\"%s\" reason=\"invalid name\"\n",
                w->address, escaped);
        return false;
    }
    snprintf(w->name, sizeof(w->name), "%s", m->u.hello.name);
    w->total_mem = m->u.hello.total_mem;
    w->free_mem = m->u.hello.total_mem;
    bool worker_has_secret = m->u.hello.nonce.len == FL_NONCE_BYTES;
    if (worker_has_secret != secret->set) {
        fprintf(stderr, "core: event=worker_refused name=%s reason=\"%s\"\n", w->name,
                secret->set ? "the Worker has no cluster secret"
                            : "the Worker requires a cluster secret");
        return false;
    }
    if (!secret->set) {
        worker_joined(w);
        return true;
    }
    uint8_t mac[FL_MAC_BYTES];
    memcpy(w->worker_nonce, m->u.hello.nonce.data, FL_NONCE_BYTES);
    if (!fl_random_bytes(w->core_nonce, FL_NONCE_BYTES))
        return false;
    fl_secret_mac(secret, "core", w->worker_nonce, FL_NONCE_BYTES, w->core_nonce, FL_NONCE_BYTES,
                  mac);
    struct fl_buf frame;
    fl_buf_init(&frame, 256);
    bool ok =
        proto_put_auth(&frame, PROTO_AUTH, w->core_nonce, FL_NONCE_BYTES, mac, FL_MAC_BYTES) &&
        link_write(&w->link, &frame);
    fl_buf_deinit(&frame);
    return ok;
}

/* Under the lock: the Worker's proof of the secret. */
static bool worker_auth_ok(struct cworker *w, const struct proto_msg *m)
{
    uint8_t want[FL_MAC_BYTES];
    fl_secret_mac(&w->cluster->secret, "worker", w->core_nonce, FL_NONCE_BYTES, w->worker_nonce,
                  FL_NONCE_BYTES, want);
    if (!w->cluster->secret.set || m->u.auth.mac.len != FL_MAC_BYTES ||
        !fl_mac_equal(want, m->u.auth.mac.data)) {
        fprintf(stderr, "core: event=worker_refused name=%s reason=\"wrong cluster secret\"\n",
                w->name);
        return false;
    }
    worker_joined(w);
    return true;
}

/* False: the connection must end (a failed handshake, or work before it). */
static bool worker_handle(struct cworker *w, const struct proto_msg *m)
{
    bool reply = m->header.type != PROTO_HELLO && m->header.type != PROTO_AUTH_OK &&
                 m->header.type != PROTO_HEARTBEAT;
    if (reply) { /* the hot path: no cluster lock, only the Worker's pending calls */
        if (!atomic_load(&w->connected))
            return false; /* replies before the handshake: not from a Worker we trust */
        worker_deliver(w, m);
        return true;
    }
    bool ok = true;
    pthread_mutex_lock(&w->cluster->lock);
    if (m->header.type == PROTO_HELLO) {
        ok = worker_hello(w, m);
    } else if (m->header.type == PROTO_AUTH_OK) {
        ok = worker_auth_ok(w, m);
    } else if (m->header.type == PROTO_HEARTBEAT) {
        if (w->cluster->load_from_heartbeats) {
            w->free_mem = m->u.heartbeat.free_mem;
            w->total_mem = m->u.heartbeat.total_mem;
            w->load_milli = m->u.heartbeat.load_milli;
        }
        w->worker_in_flight = m->u.heartbeat.in_flight;
        w->queued = m->u.heartbeat.queued;
    }
    pthread_mutex_unlock(&w->cluster->lock);
    return ok;
}

/* Reads frames until the connection fails. */
static void worker_read_loop(struct cworker *w)
{
    struct fl_buf payload;
    fl_buf_init(&payload, PROTO_MAX_PAYLOAD);
    struct proto_msg *msg = malloc(sizeof(*msg));
    uint64_t swept = now_ms();
    while (msg && !atomic_load(&w->cluster->stopping) &&
           link_read(&w->link, &payload, msg) == FL_OK) {
        if (!worker_handle(w, msg))
            break;
        if (ms_since(now_ms(), swept) >= EXPIRE_SWEEP_MS) { /* heartbeats come this often */
            swept = now_ms();
            worker_expire_pending(w, swept);
        }
    }
    free(msg);
    fl_buf_deinit(&payload);
}

/* ---- reading on the event loop ---- */

static bool worker_wanted(const struct cworker *w)
{
    return !atomic_load(&w->cluster->stopping) && !atomic_load(&w->removed);
}

static bool worker_frame(void *arg, const struct proto_msg *m)
{
    struct cworker *w = arg;
    atomic_store_explicit(&w->heard_frame_ms, now_ms(), memory_order_relaxed);
    return !atomic_load(&w->cluster->stopping) && worker_handle(w, m);
}

/* On the loop's thread: the link is readable (or has ended). */
static void worker_readable(struct evloop_source *source)
{
    struct cworker *w = (struct cworker *)((char *)source - offsetof(struct cworker, readable));
    if (link_read_ready(&w->link, &w->rx_payload, w->rx_msg, worker_frame, w) == FL_OK)
        return;
    evloop_remove(w->cluster->loop, source);
    pthread_mutex_lock(&w->end_lock);
    w->link_ended = true;
    pthread_cond_signal(&w->ended);
    pthread_mutex_unlock(&w->end_lock);
}

/* Wakes whoever reads the link: it sees the end (the fd stays open until the reader is done). */
static void worker_hang_up(struct cworker *w)
{
    pthread_mutex_lock(&w->link.write_lock);
    if (w->link.fd >= 0)
        shutdown(w->link.fd, SHUT_RDWR);
    pthread_mutex_unlock(&w->link.write_lock);
}

/*
 * The Worker's thread while the loop reads its link: it waits for the end, fails calls past
 * their time, and hangs up on a Worker that falls silent (or is no longer wanted). False
 * when the loop has stopped: the caller reads the link itself.
 */
static bool worker_read_on_loop(struct cworker *w)
{
    struct evloop *loop = w->cluster->loop;
    atomic_store(&w->heard_frame_ms, now_ms());
    w->link_ended = false;
    w->readable = (struct evloop_source){w->link.fd, worker_readable};
    if (!w->rx_msg || !evloop_add(loop, &w->readable))
        return false;
    bool hung_up = false;
    pthread_mutex_lock(&w->end_lock);
    while (!w->link_ended && !evloop_stopped(loop)) {
        struct timespec deadline;
        deadline_in(&deadline, EXPIRE_SWEEP_MS);
        pthread_cond_clockwait(&w->ended, &w->end_lock, CLOCK_MONOTONIC, &deadline);
        pthread_mutex_unlock(&w->end_lock);
        uint64_t now = now_ms();
        worker_expire_pending(w, now);
        if (!hung_up && (!worker_wanted(w) ||
                         ms_since(now, atomic_load(&w->heard_frame_ms)) > HEARTBEAT_TIMEOUT_MS)) {
            hung_up = true;
            /* without the write lock: a flush blocked on a full socket holds it, and this is
             * what unblocks it (only this thread closes the fd, after the loop is done) */
            shutdown(w->link.fd, SHUT_RDWR);
        }
        pthread_mutex_lock(&w->end_lock);
    }
    pthread_mutex_unlock(&w->end_lock);
    return true;
}

static void worker_disconnected(struct cworker *w)
{
    pthread_mutex_lock(&w->cluster->lock);
    if (w->connected)
        fprintf(stderr, "core: event=worker_lost name=%s address=%s\n", w->name, w->address);
    w->connected = false;
    worker_fail_pending(w);
    pthread_mutex_unlock(&w->cluster->lock);
    pthread_mutex_lock(&w->link.write_lock); /* no write is in flight on the fd we close */
    int fd = w->link.fd;
    w->link.fd = -1;
    pthread_mutex_unlock(&w->link.write_lock);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
}

/* Receive timeout = heartbeat timeout: a Worker that stops talking is dropped. */
static void worker_set_timeout(int fd)
{
    struct timeval tv = {HEARTBEAT_TIMEOUT_MS / 1000, (HEARTBEAT_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void *worker_thread(void *arg)
{
    struct cworker *w = arg;
    unsigned backoff = BACKOFF_MIN_MS;
    while (worker_wanted(w)) {
        int fd = link_dial(w->address);
        if (fd >= 0) {
            worker_set_timeout(fd);
            pthread_mutex_lock(&w->cluster->lock);
            if (atomic_load(&w->removed)) { /* dropped while we were dialing */
                pthread_mutex_unlock(&w->cluster->lock);
                close(fd);
                break;
            }
            pthread_mutex_lock(&w->link.write_lock);
            link_attach(&w->link, fd);
            pthread_mutex_unlock(&w->link.write_lock);
            pthread_mutex_unlock(&w->cluster->lock);
            backoff = BACKOFF_MIN_MS;
            if (!w->cluster->loop || !worker_read_on_loop(w))
                worker_read_loop(w);
            worker_disconnected(w);
        }
        for (unsigned slept = 0; slept < backoff && worker_wanted(w); slept += 50)
            usleep(50 * 1000);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    atomic_store(&w->finished, true);
    return NULL;
}

/* A zeroed Worker's locks and buffers. */
static void cworker_init(struct cworker *w)
{
    pthread_mutex_init(&w->pending_lock, NULL);
    pthread_mutex_init(&w->end_lock, NULL);
    pthread_cond_init(&w->ended, NULL);
    link_init(&w->link, -1);
    fl_buf_init(&w->rx_payload, PROTO_MAX_PAYLOAD);
    w->rx_msg = malloc(sizeof(*w->rx_msg)); /* NULL: its thread reads the link itself */
}

/* Once its thread has returned and no call uses it. */
static void cworker_deinit(struct cworker *w)
{
    free(w->tag_uses);
    free(w->rx_msg);
    fl_buf_deinit(&w->rx_payload);
    link_deinit(&w->link);
    pthread_cond_destroy(&w->ended);
    pthread_mutex_destroy(&w->end_lock);
    pthread_mutex_destroy(&w->pending_lock);
}

/* Under the lock: a slot for a new Worker — a free one, or one discovery dropped whose thread
 * has ended and that no call still uses. */
static struct cworker *cluster_slot(struct cluster *c)
{
    if (c->count < MAX_WORKERS) {
        struct cworker *w = calloc(1, sizeof(*w));
        if (w) {
            cworker_init(w);
            c->workers[c->count++] = w;
        }
        return w;
    }
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (atomic_load(&w->removed) && atomic_load(&w->finished) && !w->in_flight && !w->pins &&
            !w->flush_queued) {
            pthread_join(w->thread, NULL);
            cworker_deinit(w);
            memset(w, 0, sizeof(*w));
            cworker_init(w);
            return w;
        }
    }
    return NULL;
}

/* Under the lock: the live Worker dialed at `address`, or NULL. */
static struct cworker *cluster_find(struct cluster *c, const char *address)
{
    for (size_t i = 0; i < c->count; i++)
        if (!atomic_load(&c->workers[i]->removed) && strcmp(c->workers[i]->address, address) == 0)
            return c->workers[i];
    return NULL;
}

/* "HOST:PORT": a host name or IPv4 address (letters, digits, '.', '-') and a port 1-65535. */
static bool cluster_address_valid(const char *address)
{
    const char *colon = strrchr(address, ':');
    size_t host = colon ? (size_t)(colon - address) : 0;
    if (!colon || host == 0 || strlen(address) >= sizeof(((struct cworker *)0)->address) ||
        strspn(address, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != host)
        return false;
    const char *port = colon + 1;
    size_t digits = strspn(port, "0123456789");
    return digits >= 1 && digits <= 5 && port[digits] == '\0' && atoi(port) >= 1 &&
           atoi(port) <= 65535;
}

static enum fl_err cluster_add(struct cluster *c, const char *address, enum cluster_source source)
{
    if (!cluster_address_valid(address))
        return FL_ERR_INVALID_NAME;
    pthread_mutex_lock(&c->lock);
    struct cworker *w = cluster_find(c, address);
    if (w) {
        w->heard_ms = now_ms();
        if (source == CLUSTER_STATIC) /* named by hand: never dropped by discovery */
            w->source = CLUSTER_STATIC;
        pthread_mutex_unlock(&c->lock);
        return FL_OK;
    }
    w = cluster_slot(c);
    if (!w) {
        pthread_mutex_unlock(&c->lock);
        return FL_ERR_NOMEM;
    }
    w->cluster = c;
    w->source = source;
    w->heard_ms = now_ms();
    snprintf(w->address, sizeof(w->address), "%s", address);
    snprintf(w->name, sizeof(w->name), "%s", address);
    cluster_sort_names(c);
    pthread_create(&w->thread, NULL, worker_thread, w);
    pthread_mutex_unlock(&c->lock);
    if (source != CLUSTER_STATIC)
        fprintf(stderr, "core: event=worker_discovered address=%s source=%s\n", address,
                source == CLUSTER_DNS ? "dns" : "multicast");
    return FL_OK;
}

enum fl_err cluster_add_worker(struct cluster *c, const char *address)
{
    return cluster_add(c, address, CLUSTER_STATIC);
}

enum fl_err cluster_discovered(struct cluster *c, const char *address, enum cluster_source source)
{
    return cluster_add(c, address, source);
}

/* Under the lock: stops dialing `w` and fails its calls now; its memory stays for callers that
 * still hold it (cluster_slot reuses it later). */
static void cluster_drop(struct cworker *w, const char *why)
{
    atomic_store(&w->removed, true);
    fprintf(stderr, "core: event=worker_removed name=%s address=%s reason=%s\n", w->name,
            w->address, why);
    w->connected = false;
    worker_fail_pending(w);
    worker_hang_up(w); /* its thread sees the end and returns */
}

void cluster_expire(struct cluster *c, enum cluster_source source, uint64_t silent_ms)
{
    uint64_t now = now_ms();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (!atomic_load(&w->removed) && w->source == source && !w->connected &&
            ms_since(now, w->heard_ms) > silent_ms)
            cluster_drop(w, "silent");
    }
    pthread_mutex_unlock(&c->lock);
}

void cluster_retain(struct cluster *c, enum cluster_source source, const char *const *addresses,
                    size_t count)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        bool listed = false;
        for (size_t k = 0; k < count && !listed; k++)
            listed = strcmp(addresses[k], w->address) == 0;
        if (!atomic_load(&w->removed) && w->source == source && !listed)
            cluster_drop(w, "gone_from_dns");
    }
    pthread_mutex_unlock(&c->lock);
}

static void cluster_flush(void *arg);

/* On the loop's thread: no more flushes. */
static void cluster_unhook(void *arg)
{
    struct cluster *c = arg;
    evloop_off_round_end(c->loop, cluster_flush, c);
    c->flush_count = 0;
}

void cluster_free(struct cluster *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++)
        if (c->workers[i]->link.fd >= 0)
            shutdown(c->workers[i]->link.fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < c->count; i++)
        pthread_join(c->workers[i]->thread, NULL);
    if (c->loop) /* the loop may outlive us */
        evloop_call(c->loop, cluster_unhook, c);
    for (size_t i = 0; i < c->count; i++) {
        cworker_deinit(c->workers[i]);
        free(c->workers[i]);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void cluster_load_from_heartbeats(struct cluster *c, bool heartbeats)
{
    pthread_mutex_lock(&c->lock);
    c->load_from_heartbeats = heartbeats;
    pthread_mutex_unlock(&c->lock);
}

void cluster_set_load(struct cluster *c, const char *name, uint64_t free_mem, uint64_t total_mem,
                      double load)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (w->connected && strcmp(w->name, name) == 0) {
            w->free_mem = free_mem;
            w->total_mem = total_mem;
            w->load_milli = (uint32_t)(load * 1000);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

size_t cluster_connected(struct cluster *c)
{
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++)
        n += c->workers[i]->connected;
    pthread_mutex_unlock(&c->lock);
    return n;
}

cJSON *cluster_workers_json(struct cluster *c)
{
    cJSON *list = cJSON_CreateArray();
    pthread_mutex_lock(&c->lock);
    static const char *const sources[] = {"static", "multicast", "dns"};
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (atomic_load(&w->removed))
            continue;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", w->name);
        cJSON_AddStringToObject(item, "address", w->address);
        cJSON_AddStringToObject(item, "source", sources[w->source]);
        cJSON_AddBoolToObject(item, "connected", w->connected);
        cJSON_AddNumberToObject(item, "free_mem", (double)w->free_mem);
        cJSON_AddNumberToObject(item, "total_mem", (double)w->total_mem);
        cJSON_AddNumberToObject(item, "load", w->load_milli / 1000.0);
        cJSON_AddNumberToObject(item, "in_flight", w->in_flight);
        cJSON_AddNumberToObject(item, "queued", w->queued);
        cJSON_AddItemToArray(list, item);
    }
    pthread_mutex_unlock(&c->lock);
    return list;
}

/* ---- requests ---- */

/* Sends `frame` on w's link. On the loop's thread it is queued instead, to leave with the
 * other frames of this round in one write (cluster_flush). `to_flush` holds each Worker at
 * most once (`flush_queued`), and a slot is not reused while queued: it cannot overflow. */
static bool worker_write(struct cworker *w, const struct fl_buf *frame)
{
    struct cluster *c = w->cluster;
    if (!c->loop || !evloop_on_thread(c->loop))
        return link_write(&w->link, frame);
    if (!link_queue(&w->link, frame))
        return false;
    if (!w->flush_queued) {
        w->flush_queued = true;
        c->to_flush[c->flush_count++] = w;
    }
    return true;
}

/*
 * The loop's round-end hook: what this round queued leaves, one write per Worker. A link
 * whose socket is full, or that another thread is writing a code push to, keeps its place on
 * the list for the next round: the loop never waits for either.
 */
static void cluster_flush(void *arg)
{
    struct cluster *c = arg;
    size_t kept = 0;
    for (size_t i = 0; i < c->flush_count; i++) {
        struct cworker *w = c->to_flush[i];
        enum link_flush_result result = link_flush(&w->link);
        if (result == LINK_FLUSH_LATER) {
            c->to_flush[kept++] = w;
            continue;
        }
        w->flush_queued = false;
        if (result == LINK_FLUSH_FAILED)
            worker_hang_up(w); /* its reader sees the end and fails the calls sent */
    }
    c->flush_count = kept;
}

bool cluster_use_loop(struct cluster *c, struct evloop *loop)
{
    c->loop = loop;
    return evloop_on_round_end(loop, EVLOOP_FLUSH, cluster_flush, c);
}

/*
 * Without the cluster lock: registers `p` (if any) on `w` and sends the frame; false if the
 * send failed. The link's write lock keeps frames whole and the fd alive
 * (worker_disconnected takes it to close), so callers do not hold each other up.
 */
static bool worker_send(struct cworker *w, struct pending *p, const struct fl_buf *frame)
{
    if (p) {
        /* connected is checked under the pending lock: a disconnect clears `connected` first,
         * then fails what is pending under this lock, so a call is either failed by it or
         * refused here — never left waiting on a connection that is gone */
        pthread_mutex_lock(&w->pending_lock);
        bool connected = atomic_load(&w->connected);
        if (connected) {
            p->next = w->pending;
            w->pending = p;
        }
        pthread_mutex_unlock(&w->pending_lock);
        if (!connected)
            return false;
    } else if (!atomic_load(&w->connected)) {
        return false;
    }
    bool ok = worker_write(w, frame);
    if (!ok && p) {
        struct pending *callbacks = NULL;
        pthread_mutex_lock(&w->pending_lock);
        if (!p->done) {
            pending_unlink(w, p);
            p->lost = true;
            pending_answered(p, &callbacks);
        }
        pthread_mutex_unlock(&w->pending_lock);
        pending_call_back(callbacks);
    }
    return ok || p; /* with `p`, the waiter learns the loss from it */
}

/* Without the cluster lock: waits for `p` until `timeout_ms`; false on timeout (unlinked). */
static bool worker_wait(struct cworker *w, struct pending *p, uint64_t timeout_ms)
{
    struct timespec deadline;
    deadline_in(&deadline, timeout_ms);
    while (sem_clockwait(&p->answered, CLOCK_MONOTONIC, &deadline) != 0)
        if (errno == ETIMEDOUT) {
            pthread_mutex_lock(&w->pending_lock);
            bool done = p->done; /* answered just now: it is ours after all */
            if (!done)
                pending_unlink(w, p);
            pthread_mutex_unlock(&w->pending_lock);
            if (done)
                sem_wait(&p->answered);
            return done;
        }
    return true;
}

enum push_kind { PUSH_CODE, PUSH_DROP };

/* Without the cluster lock: waits for each sent push (stopping at the first failure, after
 * which the rest are withdrawn). */
static enum fl_err push_wait(struct cworker **targets, struct pending *waits, const bool *sent,
                             size_t n, char *detail, size_t detail_len)
{
    enum fl_err err = FL_OK;
    for (size_t i = 0; i < n; i++) {
        struct cworker *w = targets[i];
        if (!sent[i])
            continue;
        if (err != FL_OK) { /* withdrawn: unlinked unless it was answered meanwhile */
            pthread_mutex_lock(&w->pending_lock);
            if (!waits[i].done)
                pending_unlink(w, &waits[i]);
            pthread_mutex_unlock(&w->pending_lock);
        } else if (!worker_wait(w, &waits[i], PUSH_TIMEOUT_MS) || waits[i].lost) {
            err = fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len,
                          "worker %.100s did not acknowledge the code", w->name);
        } else if (waits[i].status != FL_OK) {
            err = fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len,
                          "worker %.100s refused the code: %.100s", w->name, waits[i].detail);
        }
    }
    return err;
}

static enum fl_err cluster_push(struct cluster *c, enum push_kind kind, const char *module,
                                const char *name, const char *hash, const uint8_t *code, size_t len,
                                bool wait, char *detail, size_t detail_len)
{
    pthread_mutex_lock(&c->lock); /* which Workers, and ids: then the lock is not needed */
    size_t n = c->count;
    struct cworker **targets = calloc(n ? n : 1, sizeof(*targets));
    uint32_t first_id = c->next_id + 1;
    c->next_id += (uint32_t)n;
    for (size_t i = 0; targets && i < n; i++)
        (targets[i] = c->workers[i])->pins++;
    pthread_mutex_unlock(&c->lock);
    struct pending *waits = calloc(n ? n : 1, sizeof(*waits));
    bool *sent = calloc(n ? n : 1, sizeof(bool));
    struct fl_buf frame;
    fl_buf_init(&frame, PROTO_MAX_PAYLOAD);
    for (size_t i = 0; targets && waits && sent && i < n; i++) {
        uint32_t id = first_id + (uint32_t)i;
        fl_buf_reset(&frame);
        bool ok = kind == PUSH_CODE ? proto_put_code(&frame, id, module, name, hash, code, len)
                                    : proto_put_drop(&frame, id, module, name);
        pending_init(&waits[i], id);
        sent[i] = ok && worker_send(targets[i], wait ? &waits[i] : NULL, &frame);
    }
    enum fl_err err = !targets || !waits || !sent ? FL_ERR_NOMEM
                      : wait ? push_wait(targets, waits, sent, n, detail, detail_len)
                             : FL_OK;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; targets && i < n; i++)
        targets[i]->pins--;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; waits && i < n; i++)
        pending_deinit(&waits[i]);
    free(targets);
    free(waits);
    free(sent);
    fl_buf_deinit(&frame);
    return err;
}

enum fl_err cluster_push_code(struct cluster *c, const char *module, const char *name,
                              const char *hash, const uint8_t *code, size_t len, bool wait,
                              char *detail, size_t detail_len)
{
    return cluster_push(c, PUSH_CODE, module, name, hash, code, len, wait, detail, detail_len);
}

void cluster_prefetch(struct cluster *c, const char *hash, const uint8_t *code, size_t len)
{
    cluster_push(c, PUSH_CODE, "", "", hash, code, len, false, NULL, 0);
}

enum fl_err cluster_drop_code(struct cluster *c, const char *module, const char *name, bool wait,
                              char *detail, size_t detail_len)
{
    return cluster_push(c, PUSH_DROP, module, name, NULL, NULL, 0, wait, detail, detail_len);
}

/* ---- scheduling and invocation ---- */

/* Under the lock: the record of `tag` on `w`, made if needed (NULL when the table is full of
 * running tags: affinity then does not see this one). */
static struct tag_use *tag_use_of(struct cworker *w, const char *tag)
{
    struct tag_use *idle = NULL;
    for (size_t i = 0; i < w->tag_use_count; i++) {
        struct tag_use *u = &w->tag_uses[i];
        if (strcmp(u->tag, tag) == 0)
            return u;
        if (!u->running && (!idle || u->last_ms < idle->last_ms))
            idle = u;
    }
    if (w->tag_use_count < MAX_TAG_USES) {
        struct tag_use *grown = realloc(w->tag_uses, (w->tag_use_count + 1) * sizeof(*w->tag_uses));
        if (grown) {
            w->tag_uses = grown;
            idle = &grown[w->tag_use_count++];
        }
    }
    if (idle) {
        *idle = (struct tag_use){.running = 0};
        snprintf(idle->tag, sizeof(idle->tag), "%s", tag);
    }
    return idle;
}

/* Under the lock: a call of a function tagged `tag` starts (+1) or ends (-1) on `w`. */
static void tag_use_count(struct cworker *w, const char *tag, int delta)
{
    struct tag_use *u = tag[0] ? tag_use_of(w, tag) : NULL;
    if (!u)
        return;
    if (delta > 0 || u->running > 0)
        u->running += (unsigned)delta;
    u->last_ms = now_ms();
}

/* What one placement looks at: the connected Workers in name order. */
struct placement {
    struct app_worker view[MAX_WORKERS];
    struct cworker *who[MAX_WORKERS];
    bool valid[MAX_WORKERS];
    size_t count;
};

/* Under the lock: the connected Workers' state, `tried` ones excluded, with the tags they run
 * when `with_tags`. */
static void placement_snapshot(struct cluster *c, const bool *tried, bool with_tags,
                               struct placement *pl)
{
    uint64_t now = now_ms();
    pl->count = 0;
    for (size_t k = 0; k < c->count; k++) {
        struct cworker *w = c->workers[c->by_name[k]];
        if (!w->connected)
            continue;
        size_t tags = 0; /* only APP's affinity reads them */
        for (size_t i = 0; with_tags && i < w->tag_use_count; i++) {
            const struct tag_use *u = &w->tag_uses[i];
            if (u->running || ms_since(now, u->last_ms) <= AFFINITY_RECENT_MS)
                w->active_tags[tags++] = u->tag;
        }
        pl->who[pl->count] = w;
        pl->view[pl->count++] = (struct app_worker){
            .name = w->name,
            .free_mem = w->free_mem,
            .total_mem = w->total_mem,
            .in_flight = w->in_flight,
            .tags = w->active_tags,
            .tag_count = tags,
            .excluded = tried[c->by_name[k]],
        };
    }
}

static uint64_t random_u64(void)
{
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&state ^ 0x9E3779B97F4A7C15u;
    }
    state ^= state << 13; /* xorshift64: placement needs spread, not secrecy */
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/*
 * Under the lock: the Worker for this call, or NULL with the reason in `detail`.
 * With an APP script, the script decides (docs/app.md); without, the default policy: among
 * Workers not tried yet whose free memory holds the capacity, the most free memory; ties
 * (Workers on one host report the same memory) go to the fewest in flight, then round-robin.
 */
static struct cworker *cluster_pick(struct cluster *c, const struct fn_def *def,
                                    const struct app_script *policy, const bool *tried,
                                    struct placement *pl, char *detail, size_t detail_len)
{
    uint64_t capacity = (uint64_t)def->meta.capacity_mb << 20;
    placement_snapshot(c, tried, policy != NULL, pl);
    long chosen;
    if (policy) {
        chosen = app_select(policy, def->meta.tag, capacity, pl->view, pl->count, random_u64(),
                            detail, detail_len);
    } else {
        for (size_t i = 0; i < pl->count; i++)
            pl->valid[i] = !pl->view[i].excluded && pl->view[i].free_mem >= capacity;
        chosen = app_most_free(pl->view, pl->valid, pl->count, c->round_robin++);
        if (chosen < 0)
            snprintf(detail, detail_len, "not enough free memory");
    }
    return chosen >= 0 ? pl->who[chosen] : NULL;
}

static size_t cluster_index(struct cluster *c, const struct cworker *w)
{
    for (size_t i = 0; i < c->count; i++)
        if (c->workers[i] == w)
            return i;
    return 0;
}

/*
 * Called with the cluster lock, which it releases while the call is out: sends INVOKE (with
 * `code` if given) to `w` and waits for the reply. `w` stays allocated meanwhile: a slot in
 * use (in_flight) is never reused.
 */
static void cluster_try(struct cluster *c, struct cworker *w, const struct fn_def *def,
                        const char *args, size_t args_len, const struct fl_buf *code,
                        struct pending *p)
{
    uint32_t id = ++c->next_id;
    w->in_flight++;
    tag_use_count(w, def->meta.tag, +1);
    pthread_mutex_unlock(&c->lock);
    struct fl_buf frame;
    fl_buf_init(&frame, PROTO_MAX_PAYLOAD);
    pending_init(p, id);
    proto_put_invoke(&frame, id, def->module, def->name, def->hash, def->meta.capacity_mb,
                     def->meta.timeout_ms, (const uint8_t *)args, args_len,
                     code ? (const uint8_t *)code->data : NULL, code ? code->len : 0);
    if (!worker_send(w, p, &frame) ||
        (!worker_wait(w, p, def->meta.timeout_ms + REPLY_MARGIN_MS) && !p->done))
        p->lost = true;
    fl_buf_deinit(&frame);
    pthread_mutex_lock(&c->lock);
    tag_use_count(w, def->meta.tag, -1);
    w->in_flight--;
}

/* Under the lock: why no Worker runs the call (detail: the policy's reason). */
static void result_no_worker(struct cluster_result *out, const struct placement *pl,
                             const struct fn_def *def, const char *detail)
{
    out->status = FL_ERR_UNAVAILABLE;
    out->worker[0] = '\0'; /* it ran nowhere */
    if (pl->count == 0)
        snprintf(out->detail, sizeof(out->detail), "no worker available");
    else if (out->busy)
        snprintf(out->detail, sizeof(out->detail), "too many concurrent invocations, retry later");
    else
        snprintf(out->detail, sizeof(out->detail), "no worker can run %.60s/%.60s: %.100s",
                 def->module, def->name, detail);
}

void cluster_invoke(struct cluster *c, const struct fn_def *def, const char *args, size_t args_len,
                    const struct app_script *policy, cluster_code_fn code_fn, void *code_arg,
                    const struct cluster_retry *retry, struct cluster_result *out)
{
    memset(out, 0, sizeof(*out));
    fl_buf_init(&out->output, (size_t)8 << 20);
    struct fl_buf code;
    fl_buf_init(&code, (size_t)256 << 20);
    bool have_code = false, tried[MAX_WORKERS] = {false};
    struct placement *pl = malloc(sizeof(*pl));
    if (!pl) {
        snprintf(out->detail, sizeof(out->detail), "out of memory");
        out->status = FL_ERR_UNAVAILABLE;
        return;
    }
    pthread_mutex_lock(&c->lock);
    struct cworker *resend_to = NULL; /* answered "no code": it gets the code, not another */
    if (retry && retry->worker && retry->no_code) {
        resend_to = retry->worker;
    } else if (retry && retry->worker) {
        tried[cluster_index(c, retry->worker)] = true;
        out->busy = true;
    }
    for (;;) {
        char why[200];
        struct cworker *w = resend_to && resend_to->connected && !atomic_load(&resend_to->removed)
                                ? resend_to
                                : cluster_pick(c, def, policy, tried, pl, why, sizeof(why));
        if (!w) {
            result_no_worker(out, pl, def, why);
            break;
        }
        snprintf(out->worker, sizeof(out->worker), "%.127s", w->name);
        struct pending p;
        cluster_try(c, w, def, args, args_len, have_code ? &code : NULL, &p);
        if (p.done && !p.lost && p.type == PROTO_NO_CODE && !have_code) {
            w->in_flight++;                 /* keeps its slot from reuse while we are away */
            pthread_mutex_unlock(&c->lock); /* the store is slow: fetch without the lock */
            have_code = code_fn(code_arg, def, &code) == FL_OK;
            pthread_mutex_lock(&c->lock);
            w->in_flight--;
            resend_to = w;
            pending_deinit(&p);
            if (!have_code) {
                out->status = FL_ERR_STORE;
                snprintf(out->detail, sizeof(out->detail), "cannot read the code of %.200s",
                         def->name);
                break;
            }
            continue;
        }
        if (p.done && !p.lost && p.type == PROTO_BUSY) {
            resend_to = NULL; /* the code goes to whichever Worker takes the call */
            tried[cluster_index(c, w)] = true;
            out->busy = true;
            pending_deinit(&p);
            continue;
        }
        if (p.lost || !p.done) {
            out->worker_lost = true;
            out->status = FL_ERR_UNAVAILABLE;
            snprintf(out->detail, sizeof(out->detail), "worker %.200s lost during invocation",
                     w->name);
        } else {
            out->status = p.type == PROTO_RESULT ? (enum fl_err)p.status : FL_ERR_UNAVAILABLE;
            snprintf(out->detail, sizeof(out->detail), "%.255s", p.detail);
            fl_buf_set(&out->output, p.output.data ? p.output.data : "", p.output.len);
        }
        pending_deinit(&p);
        break;
    }
    pthread_mutex_unlock(&c->lock);
    free(pl);
    fl_buf_deinit(&code);
}

void cluster_fail_calls(struct cluster *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++)
        worker_fail_pending(c->workers[i]);
    pthread_mutex_unlock(&c->lock);
}

/* ---- invocations nobody waits for ---- */

struct cluster_call {
    struct cworker *worker; /* its in_flight count holds the slot until cluster_invoke_finish */
    const struct fn_def *def;
    const char *args;
    size_t args_len;
    const struct app_script *policy;
    cluster_done_fn done;
    void *done_arg;
    bool tried[MAX_WORKERS]; /* Workers that answered BUSY */
    struct pending pending;
};

/*
 * Places `call` on a Worker not tried yet and sends it; false (nothing sent, `pl` and `why`
 * say why) when none can take it. `done` runs here already if the send fails.
 */
static bool call_place(struct cluster *c, struct cluster_call *call, struct placement *pl,
                       char *why, size_t why_len)
{
    const struct fn_def *def = call->def;
    pthread_mutex_lock(&c->lock);
    struct cworker *w = cluster_pick(c, def, call->policy, call->tried, pl, why, why_len);
    if (w) {
        w->in_flight++;
        tag_use_count(w, def->meta.tag, +1);
        pending_init(&call->pending, ++c->next_id);
    }
    pthread_mutex_unlock(&c->lock);
    if (!w)
        return false;
    call->worker = w;
    call->pending.done_fn = call->done;
    call->pending.done_arg = call->done_arg;
    call->pending.deadline_ms = now_ms() + def->meta.timeout_ms + REPLY_MARGIN_MS;
    struct fl_buf frame;
    fl_buf_init(&frame, PROTO_MAX_PAYLOAD);
    if (!proto_put_invoke(&frame, call->pending.id, def->module, def->name, def->hash,
                          def->meta.capacity_mb, def->meta.timeout_ms, (const uint8_t *)call->args,
                          call->args_len, NULL, 0) ||
        !worker_send(w, &call->pending, &frame)) {
        call->pending.done = call->pending.lost = true; /* not registered: nobody calls back */
        call->done(call->done_arg);
    }
    fl_buf_deinit(&frame);
    return true;
}

struct cluster_call *cluster_invoke_start(struct cluster *c, const struct fn_def *def,
                                          const char *args, size_t args_len,
                                          const struct app_script *policy, cluster_done_fn done,
                                          void *done_arg)
{
    struct cluster_call *call = calloc(1, sizeof(*call));
    struct placement *pl = malloc(sizeof(*pl));
    char why[200];
    bool placed = false;
    if (call && pl) {
        *call = (struct cluster_call){.def = def,
                                      .args = args,
                                      .args_len = args_len,
                                      .policy = policy,
                                      .done = done,
                                      .done_arg = done_arg};
        placed = call_place(c, call, pl, why, sizeof(why));
    }
    free(pl);
    if (!placed) { /* cluster_invoke says why */
        free(call);
        return NULL;
    }
    return call;
}

/* The final outcome of the call's last attempt, into `out`. */
static void call_outcome(const struct cluster_call *call, struct cluster_result *out)
{
    const struct pending *p = &call->pending;
    const char *name = call->worker->name;
    snprintf(out->worker, sizeof(out->worker), "%.127s", name);
    if (p->lost) {
        out->worker_lost = true;
        out->status = FL_ERR_UNAVAILABLE;
        snprintf(out->detail, sizeof(out->detail), "worker %.200s lost during invocation", name);
    } else {
        out->status = p->type == PROTO_RESULT ? (enum fl_err)p->status : FL_ERR_UNAVAILABLE;
        snprintf(out->detail, sizeof(out->detail), "%.255s", p->detail);
        fl_buf_set(&out->output, p->output.data ? p->output.data : "", p->output.len);
    }
}

/* The Worker was busy: the call goes to another one (true), or answers 429 in `out`. */
static bool call_place_again(struct cluster *c, struct cluster_call *call,
                             struct cluster_result *out)
{
    struct placement *pl = malloc(sizeof(*pl));
    char why[200] = "";
    pthread_mutex_lock(&c->lock);
    call->tried[cluster_index(c, call->worker)] = true;
    pthread_mutex_unlock(&c->lock);
    bool placed = pl && call_place(c, call, pl, why, sizeof(why));
    if (!placed) {
        out->busy = true;
        if (pl)
            result_no_worker(out, pl, call->def, why);
        else
            out->status = FL_ERR_UNAVAILABLE;
    }
    free(pl);
    return placed;
}

void cluster_invoke_cancel(struct cluster *c, struct cluster_call *call)
{
    (void)c;
    struct cworker *w = call->worker;
    struct pending *p = &call->pending, *callbacks = NULL;
    bool waiting = false;
    pthread_mutex_lock(&w->pending_lock);
    for (struct pending *q = w->pending; q && !waiting; q = q->next)
        waiting = q == p;
    if (waiting) {
        pending_unlink(w, p);
        p->lost = true;
        snprintf(p->detail, sizeof(p->detail), "cancelled: the client went away");
        pending_answered(p, &callbacks);
    }
    pthread_mutex_unlock(&w->pending_lock);
    if (!waiting)
        return; /* answered already: `done` has run or is running */
    struct fl_buf frame;
    fl_buf_init(&frame, 64);
    if (proto_put_empty(&frame, PROTO_CANCEL, p->id))
        worker_write(w, &frame);
    fl_buf_deinit(&frame);
    pending_call_back(callbacks);
}

enum cluster_step cluster_invoke_finish(struct cluster *c, struct cluster_call *call,
                                        struct cluster_result *out, struct cluster_retry *retry)
{
    struct cworker *w = call->worker;
    struct pending *p = &call->pending;
    pthread_mutex_lock(&c->lock);
    tag_use_count(w, call->def->meta.tag, -1);
    w->in_flight--;
    pthread_mutex_unlock(&c->lock);
    bool busy = !p->lost && p->type == PROTO_BUSY;
    bool no_code = !p->lost && p->type == PROTO_NO_CODE;
    *retry = (struct cluster_retry){no_code ? w : NULL, no_code};
    if (!no_code) {
        memset(out, 0, sizeof(*out));
        fl_buf_init(&out->output, (size_t)8 << 20);
    }
    if (!busy && !no_code)
        call_outcome(call, out);
    pending_deinit(p);
    if (busy && call_place_again(c, call, out)) {
        cluster_result_deinit(out);
        return CLUSTER_CALL_AGAIN; /* the call lives on; `done` runs again */
    }
    free(call);
    return no_code ? CLUSTER_CALL_NEEDS_CODE : CLUSTER_CALL_DONE;
}

void cluster_result_deinit(struct cluster_result *r)
{
    fl_buf_deinit(&r->output);
}
