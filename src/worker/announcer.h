/*
 * announcer — the Worker's multicast announcements (proto/announce.h), so
 * that Cores on the LAN find it without being told: one datagram a second,
 * TTL 1 (it never leaves the local network), signed with the cluster secret.
 */
#ifndef FL_WORKER_ANNOUNCER_H
#define FL_WORKER_ANNOUNCER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/secret.h"

struct announcer_config {
    const char *group;  /* "A.B.C.D:PORT" */
    const char *source; /* the IPv4 address to send from (NULL: the kernel's choice) */
    const char *name;   /* the Worker's name */
    unsigned port;      /* where Cores dial it */
    const struct fl_secret *secret;
    unsigned interval_ms;
};

struct announcer;

/* Starts the announcing thread; NULL with a reason. */
struct announcer *announcer_start(const struct announcer_config *config, char *detail,
                                  size_t detail_len);
/* Stops the thread (within one interval at most: it is woken) and frees everything. */
void announcer_stop(struct announcer *announcer);

#endif
