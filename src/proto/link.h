/*
 * link — frames over a connected socket: blocking reads of whole frames and
 * writes serialised by a lock, shared by the Core and the Worker.
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
};

void link_init(struct link *link, int fd);
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
/* Writes `frames` (whole frames) atomically with respect to other writers. */
bool link_write(struct link *link, const struct fl_buf *frames);

/* Connects to "HOST:PORT" (TCP, Nagle off); -1 on failure. */
int link_dial(const char *address);
/* Listens on "ADDR:PORT" (port 0: any); the bound port in *port. -1 on failure. */
int link_listen(const char *address, unsigned *port);

#endif
