/*
 * discovery — how the Core finds Workers without being told each address
 * (docs/discovery.md): UDP multicast announcements on the LAN, checked with
 * the cluster secret and against replays, and the A/AAAA records of a DNS
 * name (a Kubernetes headless Service), read again every second. What it
 * finds goes to the cluster, which dials it; the static list (--workers) and
 * POST /v1/admin/workers are the cluster's own.
 */
#ifndef FL_CORE_DISCOVERY_DISCOVERY_H
#define FL_CORE_DISCOVERY_DISCOVERY_H

#include <stddef.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/cluster/cluster.h"

struct discovery_config {
    /* "multicast", "multicast:GROUP:PORT", "dns:NAME" or "dns:NAME:PORT", comma-separated;
     * NULL or "": none */
    const char *methods;
    const char *interface;  /* the IPv4 address whose interface joins the group (NULL: any) */
    const char *dns_server; /* "IPV4:PORT" to ask instead of the system's resolver (NULL) */
    const struct fl_secret *secret;
    struct cluster *cluster;
};

struct discovery;

/* Starts a thread per method; FL_ERR_INVALID_ARG with a sentence for a malformed one. */
enum fl_err discovery_start(const struct discovery_config *config, struct discovery **out,
                            char *detail, size_t detail_len);
/* Stops the threads (before the cluster is freed); NULL is fine. */
void discovery_stop(struct discovery *discovery);

#endif
