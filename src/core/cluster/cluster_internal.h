/*
 * cluster_internal — what the cluster's files share (not for other components):
 * the Worker records and the rules of who touches what.
 *
 *   links.c      dialing, the handshake, heartbeats, reading the links on the loop,
 *                losing a Worker; discovery's add, expire and retain
 *   placement.c  which Worker takes a call (tags for APP affinity, the snapshot)
 *   calls.c      invocations in flight: the state machine (invocation.h)
 *   code.c       reading a function's code off the loop for a Worker that lacks it
 *   push.c       code pushes and drops, waited for by the threads that send them
 *
 * Threads and locks — each field below says which of these it belongs to:
 *   [lock]    cluster->lock: the Worker table and what discovery, the Prometheus
 *             source and the API read or change from their own threads
 *   [loop]    the Core's event loop thread only: invocations, placement counters,
 *             reading the links, the queued writes (no lock: asserted with ON_LOOP)
 *   [thread]  the Worker's own thread: dialing and watching for silence
 *   [acks]    the Worker's acks_lock: pushes waiting for their ACK
 *   [atomic]  read anywhere, written as said
 * Lock order: cluster->lock, then a Worker's acks_lock, then its link's locks.
 */
#ifndef FL_CORE_CLUSTER_INTERNAL_H
#define FL_CORE_CLUSTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/evloop.h"
#include "common/secret.h"
#include "common/util.h"
#include "common/workq.h"
#include "core/app/app.h"
#include "core/cluster/cluster.h"
#include "core/cluster/invocation.h"
#include "proto/link.h"

enum {
    MAX_WORKERS = 256,
    HEARTBEAT_TIMEOUT_MS = 2000, /* a silent Worker is dropped after this */
    MAX_TAG_USES = 64,           /* tags remembered per Worker (idle ones are forgotten first) */
    CALL_BUCKETS = 4096,         /* invocations in flight, by id (a power of two) */
};

#define ON_LOOP(c) assert(evloop_on_thread((c)->loop) || evloop_stopped((c)->loop))

/* Invocations of functions with one tag on one Worker, for APP affinity. */
struct tag_use {
    char tag[FL_NAME_MAX + 1];
    unsigned running;
    uint64_t last_ms; /* when a call started or ended */
};

/* A push waiting for its ACK (push.c); its fields are under its Worker's acks_lock. */
struct push_ack {
    uint32_t id;
    bool done, lost;
    uint32_t status;
    char detail[256];
    pthread_cond_t answered; /* signalled once `done` */
    struct push_ack *next;
};

struct cworker {
    struct cluster *cluster;
    size_t slot;                           /* its index in cluster->workers (constant) */
    char address[256];                     /* [lock] set when the slot is taken */
    enum cluster_source source;            /* [lock] */
    uint64_t heard_ms;                     /* [lock] last announcement or DNS answer naming it */
    char name[PROTO_MAX_STR + 1];          /* [lock] its HELLO's name once connected */
    uint64_t free_mem, total_mem;          /* [lock] */
    uint32_t load_milli, queued;           /* [lock] */
    unsigned pins;                         /* [lock] pushes using it: the slot is not reused */
    atomic_bool connected;                 /* [atomic] written under the lock */
    atomic_bool removed;                   /* [atomic] dropped by discovery: not dialed or placed */
    atomic_bool finished;                  /* [atomic] its thread has returned */
    atomic_uint in_flight;                 /* [atomic] written on the loop: calls that hold it */
    atomic_bool flush_queued;              /* [atomic] written on the loop: on cluster->to_flush */
    _Atomic uint64_t heard_frame_ms;       /* [atomic] written on the loop: its last frame */
    struct link link;                      /* its own locks; the fd is closed by [thread] */
    struct invocation *calls;              /* [loop] sent to it, waiting for a reply */
    struct tag_use *tag_uses;              /* [loop] */
    size_t tag_use_count;                  /* [loop] */
    const char *active_tags[MAX_TAG_USES]; /* [loop] refreshed for each placement */
    struct evloop_source readable;         /* [loop] */
    struct fl_buf rx_payload;              /* [loop] */
    struct proto_msg *rx_msg;              /* [loop] */
    uint8_t worker_nonce[FL_NONCE_BYTES], core_nonce[FL_NONCE_BYTES]; /* [loop] handshake */
    struct fl_mutex acks_lock;
    struct push_ack *acks; /* [acks] */
    /* The loop tells the thread that the link has ended (the thread then closes it). */
    pthread_mutex_t end_lock;
    pthread_cond_t ended;
    bool link_ended;     /* [end_lock] */
    pthread_t thread;    /* [lock] */
    bool thread_started; /* [lock] */
};

struct placement; /* placement.c's scratch */
struct code_fetch;

struct cluster {
    struct fl_mutex lock;
    struct cworker *workers[MAX_WORKERS]; /* [lock] never shrinks; slots are reused */
    size_t count;                         /* [lock] */
    size_t by_name[MAX_WORKERS];          /* [lock] indices into workers, sorted by name */
    bool load_from_heartbeats;            /* [lock] */
    struct fl_secret secret;              /* constant */
    struct evloop *loop;                  /* constant: reads the links, runs the calls */
    atomic_bool stopping;
    atomic_uint next_id; /* frame ids, calls and pushes alike */
    /* [loop] */
    struct cworker *to_flush[MAX_WORKERS]; /* with frames queued this round */
    size_t flush_count;
    unsigned round_robin;
    struct placement *placement;
    struct fl_buf frame;                    /* the INVOKE being built */
    struct invocation *by_id[CALL_BUCKETS]; /* calls sent, waiting for a reply, by id */
    struct invocation *sent;                /* the same, in a list */
    struct invocation *ready, **ready_tail; /* finished: `done` runs at the round's end */
    uint64_t swept_ms;                      /* calls past their time were last looked for */
    struct code_fetch *fetches;             /* code reads in flight, one per function */
    struct workq *store_readers;            /* where the code reads run */
    cluster_code_fn code_fn;
    void *code_arg;
    struct catalogue *catalogue; /* functions' environments (NULL: none) */
    struct fl_buf env;           /* [loop] the environment of the INVOKE being built */
};

static inline uint32_t cluster_new_id(struct cluster *c)
{
    uint32_t id = atomic_fetch_add(&c->next_id, 1) + 1;
    return id ? id : atomic_fetch_add(&c->next_id, 1) + 1; /* 0 is "unsolicited" on the wire */
}

/* links.c */
/* Sends `frame` on w's link: on the loop's thread it is queued, to leave with this round's
 * other frames in one write; elsewhere it is written at once. False if it cannot be. */
bool worker_write(struct cworker *w, const struct fl_buf *frame);
/* Wakes whoever reads the link: it sees the end (the fd stays open until the reader is done). */
void worker_hang_up(struct cworker *w);

/* placement.c */
struct placement *placement_new(void);
void placement_free(struct placement *pl);
/* [loop, lock] The Worker for a call of `def` (not one of `tried`), or NULL with the reason in
 * `detail` (and *none_connected when there is no Worker at all). */
struct cworker *placement_pick(struct cluster *c, const struct fn_def *def,
                               const struct app_script *policy, const uint64_t *tried,
                               bool *none_connected, char *detail, size_t detail_len);
/* [loop] A call of a function tagged `tag` starts (+1) or ends (-1) on `w`. */
void placement_count(struct cworker *w, const char *tag, int delta);

/* calls.c */
/* [loop] A frame answering an INVOKE (RESULT, BUSY, NO_CODE) from `w`. */
void calls_reply(struct cworker *w, const struct proto_msg *m);
/* [loop] `w`'s link has ended: its calls fail (502). */
void calls_worker_lost(struct cworker *w);
/* [loop] Every call out on a Worker fails (502) with `why`. */
void calls_fail_all(struct cluster *c, const char *why);
/* [loop] The round-end hook's part: calls past their time, then the finished calls' `done`. */
void calls_round_end(struct cluster *c);
/* [loop] A call waiting for the code resumes (code.c): `code` NULL when it could not be read. */
void calls_code_ready(struct invocation *inv, const struct fl_buf *code, const char *detail);

/* [loop] The fetch a call waiting for the code holds (calls.c keeps it in the invocation). */
void calls_set_fetch(struct invocation *inv, struct code_fetch *fetch);
const struct fn_def *calls_def(const struct invocation *inv);

/* code.c */
/* [loop] Reads the code of inv's function off the loop (one read per function at a time, shared
 * by the calls that wait for it); calls_code_ready follows on the loop. False: out of memory. */
bool code_fetch_start(struct cluster *c, struct invocation *inv);
/* [loop] A call is done with the code it held. */
void code_fetch_release(struct code_fetch *fetch);

/* push.c */
/* [loop] An ACK for a push from `w`. */
void push_ack(struct cworker *w, const struct proto_msg *m);
/* `w` is lost: every push waiting on it fails now. */
void push_fail_all(struct cworker *w);

#endif
