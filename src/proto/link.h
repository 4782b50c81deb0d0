/*
 * link — frames over a connected socket, shared by the Core and the Worker:
 * blocking reads of whole frames (link_read), or reads of what has arrived
 * for a reader on an event loop (link_read_ready); writes serialised by a
 * lock, sent at once (link_write) or queued to leave together (link_queue,
 * then link_flush, which never waits: an event loop's thread sends that way).
 */
#ifndef FL_PROTO_LINK_H
#define FL_PROTO_LINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/proto.h"

enum { LINK_READ_BUFFER = 16 << 10 };

struct link {
    int fd;
    pthread_mutex_t write_lock;
    /* Bytes read ahead (only the reading thread touches them): a burst of small frames costs
     * one read, not two per frame. */
    uint8_t in[LINK_READ_BUFFER];
    size_t in_start, in_end;
    /* link_read_ready's frame in progress: its header is read, `frame_have` payload bytes */
    bool in_frame;
    struct proto_header frame;
    size_t frame_have;
    pthread_mutex_t queue_lock; /* guards `out` only: queueing never waits for a sender */
    struct fl_buf out;          /* queued frames */
    struct fl_buf tx;           /* taken from `out`, `tx_sent` bytes sent (under write_lock) */
    size_t tx_sent;
};

void link_init(struct link *link, int fd);
/* Frees what link_queue allocated (the socket is link_close's). */
void link_deinit(struct link *link);
/* A new connection on an existing link (under its write lock): forgets what was read ahead. */
void link_attach(struct link *link, int fd);
/* Shuts the socket down (wakes a blocked reader) and closes it; idempotent per link. */
void link_close(struct link *link);

/*
 * Reads one frame into `payload` (reused across calls) and decodes it.
 * FL_ERR_IO on EOF or a socket error, FL_ERR_BAD_REQUEST on a malformed frame
 * (the connection is then unusable: close it).
 */
enum fl_err link_read(struct link *link, struct fl_buf *payload, struct proto_msg *msg);
/* Whether a whole frame has been read ahead: the next link_read returns without waiting. */
bool link_has_frame(const struct link *link);
/* Whether any byte has been read ahead (the next link_read may still wait for the rest). */
bool link_has_bytes(const struct link *link);
/* For the thread that reads: when nothing is read ahead, polls the socket without sleeping for
 * up to `ns` nanoseconds (a frame expected soon, and sleeping and waking cost more). True when
 * bytes are read ahead; false on time-out, end of file or an error (link_read then tells). */
bool link_poll_briefly(struct link *link, uint64_t ns);
/*
 * For a reader on an event loop, when the socket is readable: reads what has arrived (without
 * waiting) and calls `on_frame` for each frame it completes; a frame's rest may come later.
 * FL_OK; FL_ERR_IO on EOF or a socket error; FL_ERR_BAD_REQUEST on a malformed frame or
 * when `on_frame` returns false (either way the connection must end).
 */
typedef bool (*link_frame_fn)(void *arg, const struct proto_msg *msg);
enum fl_err link_read_ready(struct link *link, struct fl_buf *payload, struct proto_msg *msg,
                            link_frame_fn on_frame, void *arg);

/* Writes what is queued, then `frames` (whole frames), atomically with respect to other
 * writers, then what was queued meanwhile; waits as long as the socket needs. */
bool link_write(struct link *link, const struct fl_buf *frames);
/* Queues `frames` to leave with the next link_flush or link_write; false if out of memory. */
bool link_queue(struct link *link, const struct fl_buf *frames);
/* Sends what is queued as far as the socket takes it now, without waiting for it or for
 * another writer (whose link_write sends the queue when it is done). */
enum link_flush_result { LINK_FLUSHED, LINK_FLUSH_LATER, LINK_FLUSH_FAILED };
enum link_flush_result link_flush(struct link *link);
/* Sends what is queued, waiting as long as the socket needs (and for another writer). */
bool link_send_queued(struct link *link);

/* Connects to "HOST:PORT" (TCP, Nagle off); -1 on failure. */
int link_dial(const char *address);
/* Listens on "ADDR:PORT" (port 0: any); the bound port in *port. -1 on failure. */
int link_listen(const char *address, unsigned *port);

#endif
