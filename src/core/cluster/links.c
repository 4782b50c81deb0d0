/*
 * links — the Core's Workers as connections: each has a thread that dials it
 * (reconnecting with backoff) and watches for silence, while the event loop
 * reads its link: the handshake, heartbeats, replies. Also the Worker table
 * that discovery adds to and drops from (cluster_internal.h has the rules).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/log.h"
#include "core/cluster/cluster_internal.h"

enum {
    BACKOFF_MIN_MS = 100,
    BACKOFF_MAX_MS = 2000,
    WATCH_MS = 100, /* how often a Worker's thread looks at its link's silence */
};

/* ---- the handshake and heartbeats (on the loop) ---- */

/* [lock] After a Worker is added or named (rare: an insertion sort will do). */
static void cluster_sort_names(struct cluster *c)
{
    assert(fl_mutex_held(&c->lock));
    for (size_t i = 0; i < c->count; i++) {
        size_t k = i;
        for (; k > 0 && strcmp(c->workers[c->by_name[k - 1]]->name, c->workers[i]->name) > 0; k--)
            c->by_name[k] = c->by_name[k - 1];
        c->by_name[k] = i;
    }
}

static void worker_joined(struct cworker *w)
{
    atomic_store(&w->connected, true);
    cluster_sort_names(w->cluster);
    fl_log(FL_LOG_INFO, "worker_joined", "name=%s address=%s", w->name, w->address);
}

/* [loop, lock] HELLO starts the handshake (docs/protocol.md). Both sides must have the same
 * cluster secret, or both none; false: hang up. */
static bool worker_hello(struct cworker *w, const struct proto_msg *m)
{
    const struct fl_secret *secret = &w->cluster->secret;
    if (!fl_worker_name_valid(m->u.hello.name)) { /* it goes into logs, headers and metrics */
        fl_log(FL_LOG_WARN, "worker_refused", "address=%s name=%s reason=%s", w->address,
               m->u.hello.name, "invalid name");
        return false;
    }
    snprintf(w->name, sizeof(w->name), "%s", m->u.hello.name);
    w->total_mem = m->u.hello.total_mem;
    w->free_mem = m->u.hello.total_mem;
    bool worker_has_secret = m->u.hello.nonce.len == FL_NONCE_BYTES;
    if (worker_has_secret != secret->set) {
        fl_log(FL_LOG_WARN, "worker_refused", "name=%s reason=%s", w->name,
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
        worker_write(w, &frame);
    fl_buf_deinit(&frame);
    return ok;
}

/* [loop, lock] The Worker's proof of the secret. */
static bool worker_auth_ok(struct cworker *w, const struct proto_msg *m)
{
    uint8_t want[FL_MAC_BYTES];
    fl_secret_mac(&w->cluster->secret, "worker", w->core_nonce, FL_NONCE_BYTES, w->worker_nonce,
                  FL_NONCE_BYTES, want);
    if (!w->cluster->secret.set || m->u.auth.mac.len != FL_MAC_BYTES ||
        !fl_mac_equal(want, m->u.auth.mac.data)) {
        fl_log(FL_LOG_WARN, "worker_refused", "name=%s reason=%s", w->name, "wrong cluster secret");
        return false;
    }
    worker_joined(w);
    return true;
}

/* [loop, lock] */
static void worker_heartbeat(struct cworker *w, const struct proto_msg *m)
{
    if (w->cluster->load_from_heartbeats) {
        w->free_mem = m->u.heartbeat.free_mem;
        w->total_mem = m->u.heartbeat.total_mem;
        w->load_milli = m->u.heartbeat.load_milli;
    }
    w->queued = m->u.heartbeat.queued;
}

/* [loop] A whole frame from `w`; false: the connection must end (a failed handshake, or
 * work before it). */
static bool worker_frame(void *arg, const struct proto_msg *m)
{
    struct cworker *w = arg;
    struct cluster *c = w->cluster;
    atomic_store_explicit(&w->heard_frame_ms, fl_now_ms(), memory_order_relaxed);
    if (atomic_load(&c->stopping))
        return false;
    uint8_t type = m->header.type;
    if (type == PROTO_RESULT || type == PROTO_BUSY || type == PROTO_NO_CODE || type == PROTO_ACK) {
        if (!atomic_load(&w->connected))
            return false; /* replies before the handshake: not from a Worker we trust */
        if (type == PROTO_ACK)
            push_ack(w, m);
        else
            calls_reply(w, m); /* the hot path: no lock */
        return true;
    }
    bool ok = type == PROTO_HEARTBEAT || type == PROTO_HELLO || type == PROTO_AUTH_OK;
    fl_mutex_lock(&c->lock);
    if (type == PROTO_HELLO)
        ok = worker_hello(w, m);
    else if (type == PROTO_AUTH_OK)
        ok = worker_auth_ok(w, m);
    else if (type == PROTO_HEARTBEAT)
        worker_heartbeat(w, m);
    fl_mutex_unlock(&c->lock);
    return ok;
}

/* [loop] The link has ended: the Worker is lost at once for placement and its calls; its
 * thread closes the socket and dials again. */
static void worker_link_ended(struct cworker *w)
{
    struct cluster *c = w->cluster;
    evloop_remove(c->loop, &w->readable);
    fl_mutex_lock(&c->lock);
    if (atomic_exchange(&w->connected, false))
        fl_log(FL_LOG_WARN, "worker_lost", "name=%s address=%s", w->name, w->address);
    fl_mutex_unlock(&c->lock);
    calls_worker_lost(w);
    pthread_mutex_lock(&w->end_lock);
    w->link_ended = true;
    pthread_cond_signal(&w->ended);
    pthread_mutex_unlock(&w->end_lock);
}

/* [loop] The link is readable (or has ended). */
static void worker_readable(struct evloop_source *source)
{
    struct cworker *w = container_of(source, struct cworker, readable);
    if (link_read_ready(&w->link, &w->rx_payload, w->rx_msg, worker_frame, w) != FL_OK)
        worker_link_ended(w);
}

/* ---- writing ---- */

bool worker_write(struct cworker *w, const struct fl_buf *frame)
{
    struct cluster *c = w->cluster;
    if (!evloop_on_thread(c->loop))
        return link_write(&w->link, frame);
    if (!link_queue(&w->link, frame))
        return false;
    /* to_flush holds each Worker at most once, and a slot is not reused while queued: it cannot
     * overflow */
    if (!atomic_exchange(&w->flush_queued, true))
        c->to_flush[c->flush_count++] = w;
    return true;
}

void worker_hang_up(struct cworker *w)
{
    pthread_mutex_lock(&w->link.write_lock);
    if (w->link.fd >= 0)
        shutdown(w->link.fd, SHUT_RDWR);
    pthread_mutex_unlock(&w->link.write_lock);
}

/* [loop] The round-end hook's flush: what this round queued leaves, one write per Worker. A
 * link whose socket is full, or that another thread is writing a code push to, keeps its
 * place for the next round: the loop never waits for either. */
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
        atomic_store(&w->flush_queued, false);
        if (result == LINK_FLUSH_FAILED)
            worker_hang_up(w); /* the loop sees the end and fails the calls sent */
    }
    c->flush_count = kept;
}

static void cluster_round_end(void *arg)
{
    calls_round_end(arg);
}

/* ---- the Worker's thread: dial, watch, reconnect ---- */

static bool worker_wanted(const struct cworker *w)
{
    return !atomic_load(&w->cluster->stopping) && !atomic_load(&w->removed);
}

/* [thread] While the loop reads the link: waits for its end, and hangs up on a Worker that
 * falls silent (or is no longer wanted). */
static void worker_watch(struct cworker *w)
{
    struct evloop *loop = w->cluster->loop;
    atomic_store(&w->heard_frame_ms, fl_now_ms());
    w->link_ended = false;
    w->readable = (struct evloop_source){w->link.fd, worker_readable};
    if (!evloop_add(loop, &w->readable))
        return;
    bool hung_up = false;
    pthread_mutex_lock(&w->end_lock);
    while (!w->link_ended && !evloop_stopped(loop)) {
        struct timespec deadline = fl_deadline_in(WATCH_MS);
        pthread_cond_clockwait(&w->ended, &w->end_lock, CLOCK_MONOTONIC, &deadline);
        uint64_t silent = fl_ms_since(fl_now_ms(), atomic_load(&w->heard_frame_ms));
        if (!hung_up && (!worker_wanted(w) || silent > HEARTBEAT_TIMEOUT_MS)) {
            hung_up = true;
            /* without the write lock: a flush blocked on a full socket holds it, and this is
             * what unblocks it (only this thread closes the fd, after the loop is done) */
            shutdown(w->link.fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&w->end_lock);
}

/* [thread] After the link has ended: pushes waiting on it fail and the socket is closed. */
static void worker_disconnected(struct cworker *w)
{
    fl_mutex_lock(&w->cluster->lock);
    atomic_store(&w->connected, false); /* the loop has stopped, or did this already */
    fl_mutex_unlock(&w->cluster->lock);
    push_fail_all(w);
    pthread_mutex_lock(&w->link.write_lock); /* no write is in flight on the fd we close */
    int fd = w->link.fd;
    w->link.fd = -1;
    pthread_mutex_unlock(&w->link.write_lock);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
}

static void *worker_thread(void *arg)
{
    struct cworker *w = arg;
    unsigned backoff = BACKOFF_MIN_MS;
    while (worker_wanted(w)) {
        int fd = link_dial(w->address);
        if (fd >= 0) {
            fl_mutex_lock(&w->cluster->lock);
            bool dropped = atomic_load(&w->removed); /* while we were dialing */
            if (!dropped) {
                pthread_mutex_lock(&w->link.write_lock);
                link_attach(&w->link, fd);
                pthread_mutex_unlock(&w->link.write_lock);
            }
            fl_mutex_unlock(&w->cluster->lock);
            if (dropped) {
                close(fd);
                break;
            }
            backoff = BACKOFF_MIN_MS;
            worker_watch(w);
            worker_disconnected(w);
        }
        for (unsigned slept = 0; slept < backoff && worker_wanted(w); slept += 50)
            usleep(50 * 1000);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    atomic_store(&w->finished, true);
    return NULL;
}

/* ---- the Worker table ---- */

/* A zeroed Worker's locks and buffers; false when out of memory. */
static bool cworker_init(struct cworker *w, struct cluster *c, size_t slot)
{
    w->cluster = c;
    w->slot = slot;
    fl_mutex_init(&w->acks_lock);
    pthread_mutex_init(&w->end_lock, NULL);
    pthread_cond_init(&w->ended, NULL);
    link_init(&w->link, -1);
    fl_buf_init(&w->rx_payload, PROTO_MAX_PAYLOAD);
    w->rx_msg = malloc(sizeof(*w->rx_msg));
    return w->rx_msg != NULL;
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
    fl_mutex_destroy(&w->acks_lock);
}

/* [lock] A slot for a new Worker — a free one, or one discovery dropped whose thread has ended
 * and that nothing uses any more. */
static struct cworker *cluster_slot(struct cluster *c)
{
    assert(fl_mutex_held(&c->lock));
    if (c->count < MAX_WORKERS) {
        struct cworker *w = calloc(1, sizeof(*w));
        if (w && !cworker_init(w, c, c->count)) {
            cworker_deinit(w);
            free(w);
            return NULL;
        }
        if (w)
            c->workers[c->count++] = w;
        return w;
    }
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (atomic_load(&w->removed) && atomic_load(&w->finished) && !atomic_load(&w->in_flight) &&
            !w->pins && !atomic_load(&w->flush_queued)) {
            if (w->thread_started)
                pthread_join(w->thread, NULL);
            cworker_deinit(w);
            memset(w, 0, sizeof(*w));
            return cworker_init(w, c, i) ? w : NULL;
        }
    }
    return NULL;
}

/* [lock] The live Worker dialed at `address`, or NULL. */
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
    fl_mutex_lock(&c->lock);
    struct cworker *w = cluster_find(c, address);
    if (w) {
        w->heard_ms = fl_now_ms();
        if (source == CLUSTER_STATIC) /* named by hand: never dropped by discovery */
            w->source = CLUSTER_STATIC;
        fl_mutex_unlock(&c->lock);
        return FL_OK;
    }
    w = cluster_slot(c);
    if (w) {
        w->source = source;
        w->heard_ms = fl_now_ms();
        snprintf(w->address, sizeof(w->address), "%s", address);
        snprintf(w->name, sizeof(w->name), "%s", address);
        cluster_sort_names(c);
        w->thread_started = pthread_create(&w->thread, NULL, worker_thread, w) == 0;
        if (!w->thread_started) { /* the slot is free again */
            atomic_store(&w->removed, true);
            atomic_store(&w->finished, true);
            w = NULL;
        }
    }
    fl_mutex_unlock(&c->lock);
    if (!w)
        return FL_ERR_NOMEM;
    if (source != CLUSTER_STATIC)
        fl_log(FL_LOG_INFO, "worker_discovered", "address=%s source=%s", address,
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

/* [lock] Stops dialing `w`: its thread sees the end of the link and returns, and the loop
 * fails its calls. Its memory stays for what still holds it (cluster_slot reuses it later). */
static void cluster_drop(struct cworker *w, const char *why)
{
    assert(fl_mutex_held(&w->cluster->lock));
    atomic_store(&w->removed, true);
    atomic_store(&w->connected, false); /* placement passes it over from now */
    fl_log(FL_LOG_INFO, "worker_removed", "name=%s address=%s reason=%s", w->name, w->address, why);
    worker_hang_up(w);
}

void cluster_expire(struct cluster *c, enum cluster_source source, uint64_t silent_ms)
{
    uint64_t now = fl_now_ms();
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (!atomic_load(&w->removed) && w->source == source && !atomic_load(&w->connected) &&
            fl_ms_since(now, w->heard_ms) > silent_ms)
            cluster_drop(w, "silent");
    }
    fl_mutex_unlock(&c->lock);
}

void cluster_retain(struct cluster *c, enum cluster_source source, const char *const *addresses,
                    size_t count)
{
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        bool listed = false;
        for (size_t k = 0; k < count && !listed; k++)
            listed = strcmp(addresses[k], w->address) == 0;
        if (!atomic_load(&w->removed) && w->source == source && !listed)
            cluster_drop(w, "gone_from_dns");
    }
    fl_mutex_unlock(&c->lock);
}

void cluster_load_from_heartbeats(struct cluster *c, bool heartbeats)
{
    fl_mutex_lock(&c->lock);
    c->load_from_heartbeats = heartbeats;
    fl_mutex_unlock(&c->lock);
}

void cluster_set_load(struct cluster *c, const char *name, uint64_t free_mem, uint64_t total_mem,
                      double load)
{
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (atomic_load(&w->connected) && strcmp(w->name, name) == 0) {
            w->free_mem = free_mem;
            w->total_mem = total_mem;
            w->load_milli = (uint32_t)(load * 1000);
        }
    }
    fl_mutex_unlock(&c->lock);
}

size_t cluster_connected(struct cluster *c)
{
    size_t n = 0;
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++)
        n += atomic_load(&c->workers[i]->connected);
    fl_mutex_unlock(&c->lock);
    return n;
}

cJSON *cluster_workers_json(struct cluster *c)
{
    static const char *const sources[] = {"static", "multicast", "dns"};
    cJSON *list = cJSON_CreateArray();
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        struct cworker *w = c->workers[i];
        if (atomic_load(&w->removed))
            continue;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", w->name);
        cJSON_AddStringToObject(item, "address", w->address);
        cJSON_AddStringToObject(item, "source", sources[w->source]);
        cJSON_AddBoolToObject(item, "connected", atomic_load(&w->connected));
        cJSON_AddNumberToObject(item, "free_mem", (double)w->free_mem);
        cJSON_AddNumberToObject(item, "total_mem", (double)w->total_mem);
        cJSON_AddNumberToObject(item, "load", w->load_milli / 1000.0);
        cJSON_AddNumberToObject(item, "in_flight", atomic_load(&w->in_flight));
        cJSON_AddNumberToObject(item, "queued", w->queued);
        cJSON_AddItemToArray(list, item);
    }
    fl_mutex_unlock(&c->lock);
    return list;
}

/* ---- the cluster ---- */

/* [loop] Hooks into the loop's rounds. */
static void cluster_hook(void *arg)
{
    struct cluster *c = arg;
    if (!evloop_on_round_end(c->loop, EVLOOP_WORK, cluster_round_end, c) ||
        !evloop_on_round_end(c->loop, EVLOOP_FLUSH, cluster_flush, c))
        c->loop = NULL;
}

static void cluster_unhook(void *arg)
{
    struct cluster *c = arg;
    evloop_off_round_end(c->loop, cluster_round_end, c);
    evloop_off_round_end(c->loop, cluster_flush, c);
    c->flush_count = 0;
}

struct cluster *cluster_new(const struct fl_secret *secret, struct evloop *loop,
                            cluster_code_fn code_fn, void *code_arg)
{
    struct cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    fl_mutex_init(&c->lock);
    c->load_from_heartbeats = true;
    if (secret)
        c->secret = *secret;
    c->loop = loop;
    c->code_fn = code_fn;
    c->code_arg = code_arg;
    c->ready_tail = &c->ready;
    fl_buf_init(&c->frame, PROTO_MAX_PAYLOAD);
    fl_buf_init(&c->env, PROTO_MAX_PAYLOAD);
    c->placement = placement_new();
    /* two readers: one slow read (a large function) does not hold up every other */
    c->store_readers = workq_new(loop, 2);
    if (c->placement && c->store_readers)
        evloop_call(loop, cluster_hook, c);
    if (!c->placement || !c->store_readers || !c->loop) {
        c->loop = loop;
        cluster_free(c);
        return NULL;
    }
    return c;
}

/* [loop] At shutdown: the calls still out fail now. */
static void cluster_fail_on_loop(void *arg)
{
    calls_fail_all(arg, "the Core is shutting down");
}

void cluster_fail_calls(struct cluster *c)
{
    evloop_call(c->loop, cluster_fail_on_loop, c);
}

void cluster_set_catalogue(struct cluster *c, struct catalogue *catalogue)
{
    c->catalogue = catalogue;
}

void cluster_free(struct cluster *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    workq_free(c->store_readers); /* its last jobs end on the loop (or here once it stopped) */
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++)
        worker_hang_up(c->workers[i]);
    size_t count = c->count;
    fl_mutex_unlock(&c->lock);
    for (size_t i = 0; i < count; i++)
        if (c->workers[i]->thread_started)
            pthread_join(c->workers[i]->thread, NULL);
    evloop_call(c->loop, cluster_unhook, c); /* the loop may outlive us */
    evloop_call(c->loop, cluster_fail_on_loop, c);
    evloop_call(c->loop, cluster_round_end, c); /* their `done` */
    for (size_t i = 0; i < count; i++) {
        cworker_deinit(c->workers[i]);
        free(c->workers[i]);
    }
    placement_free(c->placement);
    fl_buf_deinit(&c->frame);
    fl_buf_deinit(&c->env);
    fl_mutex_destroy(&c->lock);
    free(c);
}
