#include "core/discovery/discovery.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/net.h"
#include "proto/announce.h"

enum {
    MAX_METHODS = 8,
    MAX_SENDERS = 1024,       /* Workers whose last announcement is remembered */
    MAX_ADDRESSES = 256,      /* in one DNS answer */
    RECEIVE_TIMEOUT_MS = 250, /* how often the multicast thread looks up from recv */
    SILENT_MS = 5000,         /* a multicast Worker not heard of (and disconnected) this long is
                                 dropped */
    REPLAY_WINDOW_MS = 30000, /* announcements further from our clock are refused */
    DNS_INTERVAL_MS = 1000,   /* joins and leaves are seen within two of these */
    DEFAULT_WORKER_PORT = 4020,
};

struct sender {
    char name[ANNOUNCE_NAME_MAX + 1];
    struct announce_seen seen;
};

struct method {
    struct discovery *discovery;
    pthread_t thread;
    bool dns;
    char dns_name[256];
    unsigned dns_port;
    struct sockaddr_in group;
    char group_text[64];
    struct sender *senders; /* multicast: MAX_SENDERS, round-robin replaced */
    size_t sender_count, sender_next;
    char last_refusal[160]; /* logged once, not per datagram */
};

struct discovery {
    struct discovery_config config;
    struct fl_secret secret;
    struct in_addr interface; /* joins the group there (INADDR_ANY: the kernel's choice) */
    char dns_server[64];
    struct method methods[MAX_METHODS];
    size_t count;
    atomic_bool stopping;
};

/* ---- multicast ---- */

static struct announce_seen *sender_seen(struct method *m, const char *name)
{
    for (size_t i = 0; i < m->sender_count; i++)
        if (strcmp(m->senders[i].name, name) == 0)
            return &m->senders[i].seen;
    size_t slot =
        m->sender_count < MAX_SENDERS ? m->sender_count++ : m->sender_next++ % MAX_SENDERS;
    memset(&m->senders[slot], 0, sizeof(m->senders[slot]));
    snprintf(m->senders[slot].name, sizeof(m->senders[slot].name), "%s", name);
    return &m->senders[slot].seen;
}

static void refuse(struct method *m, const char *from, const char *why)
{
    char line[160];
    snprintf(line, sizeof(line), "%s %s", from, why);
    if (strcmp(line, m->last_refusal) != 0)
        fl_log(FL_LOG_WARN, "announcement_refused", "from=%s reason=%s", from, why);
    snprintf(m->last_refusal, sizeof(m->last_refusal), "%s", line);
}

static void on_datagram(struct method *m, const uint8_t *data, size_t len,
                        const struct sockaddr_in *from)
{
    struct discovery *d = m->discovery;
    char ip[INET_ADDRSTRLEN], detail[128], address[96];
    inet_ntop(AF_INET, &from->sin_addr, ip, sizeof(ip));
    struct announce a;
    if (announce_decode(data, len, &d->secret, &a, detail, sizeof(detail)) != FL_OK) {
        refuse(m, ip, detail);
        return;
    }
    if (announce_replay(sender_seen(m, a.name), &a, (uint64_t)fl_wall_ms(), REPLAY_WINDOW_MS)) {
        refuse(m, ip, "stale or replayed");
        return;
    }
    snprintf(address, sizeof(address), "%s:%u", ip, a.port);
    cluster_discovered(d->config.cluster, address, CLUSTER_MULTICAST);
}

static int multicast_socket(struct method *m, char *detail, size_t detail_len)
{
    struct discovery *d = m->discovery;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in bind_addr = {.sin_family = AF_INET, .sin_port = m->group.sin_port};
    struct ip_mreq join = {.imr_multiaddr = m->group.sin_addr, .imr_interface = d->interface};
    struct timeval tv = {0, RECEIVE_TIMEOUT_MS * 1000};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&bind_addr, sizeof(bind_addr)) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof(join)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
        fl_fail(FL_ERR_IO, detail, detail_len, "cannot listen for announcements on %s: %s",
                m->group_text, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void *multicast_thread(void *arg)
{
    struct method *m = arg;
    struct discovery *d = m->discovery;
    char detail[256];
    int fd = multicast_socket(m, detail, sizeof(detail));
    if (fd < 0)
        fl_log(FL_LOG_ERROR, "discovery_failed", "detail=%s", detail);
    uint8_t datagram[ANNOUNCE_MAX_BYTES + 1];
    while (fd >= 0 && !atomic_load(&d->stopping)) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof(from);
        ssize_t n =
            recvfrom(fd, datagram, sizeof(datagram), 0, (struct sockaddr *)&from, &from_len);
        if (n > 0 && from.sin_family == AF_INET)
            on_datagram(m, datagram, (size_t)n, &from);
        cluster_expire(d->config.cluster, CLUSTER_MULTICAST, SILENT_MS);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* ---- DNS ---- */

/* "IP:PORT", with brackets for IPv6. */
static void format_address(int family, const void *ip, unsigned port, char *out, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family, ip, text, sizeof(text));
    snprintf(out, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, port);
}

/* The system's resolver (and /etc/hosts). -1: it could not answer now (keep what we have). */
static int resolve_system(const struct method *m, char (*out)[96], size_t max)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(m->dns_name, NULL, &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_NODATA)
        return 0;
    if (rc != 0)
        return -1;
    int n = 0;
    for (struct addrinfo *ai = res; ai && (size_t)n < max; ai = ai->ai_next) {
        const void *ip = ai->ai_family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        format_address(ai->ai_family, ip, m->dns_port, out[n], sizeof(out[n]));
        bool seen = false;
        for (int k = 0; k < n && !seen; k++)
            seen = strcmp(out[k], out[n]) == 0;
        n += !seen;
    }
    freeaddrinfo(res);
    return n;
}

/* One query (A or AAAA) to the configured server; appends to out. -1: no answer. */
static int query_server(const struct method *m, res_state state, int type, char (*out)[96], int n,
                        size_t max)
{
    unsigned char answer[4096];
    int len = res_nquery(state, m->dns_name, ns_c_in, type, answer, sizeof(answer));
    if (len < 0)
        return h_errno == HOST_NOT_FOUND || h_errno == NO_DATA ? n : -1;
    ns_msg msg;
    if (ns_initparse(answer, len, &msg) != 0)
        return -1;
    for (int i = 0; i < ns_msg_count(msg, ns_s_an) && (size_t)n < max; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || (int)ns_rr_type(rr) != type)
            continue;
        if ((type == ns_t_a && ns_rr_rdlen(rr) == 4) ||
            (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16))
            format_address(type == ns_t_a ? AF_INET : AF_INET6, ns_rr_rdata(rr), m->dns_port,
                           out[n++], sizeof(out[0]));
    }
    return n;
}

static int resolve_with_server(const struct method *m, char (*out)[96], size_t max)
{
    struct sockaddr_in server;
    if (!fl_parse_listen(m->discovery->dns_server, &server))
        return -1;
    struct __res_state state;
    memset(&state, 0, sizeof(state));
    if (res_ninit(&state) != 0)
        return -1;
    state.nscount = 1;
    state.nsaddr_list[0] = server;
    state.retry = 1;
    state.retrans = 1;
    int n = query_server(m, &state, ns_t_a, out, 0, max);
    if (n >= 0)
        n = query_server(m, &state, ns_t_aaaa, out, n, max);
    res_nclose(&state);
    return n;
}

static void *dns_thread(void *arg)
{
    struct method *m = arg;
    struct discovery *d = m->discovery;
    char found[MAX_ADDRESSES][96];
    const char *list[MAX_ADDRESSES];
    while (!atomic_load(&d->stopping)) {
        int n = d->dns_server[0] ? resolve_with_server(m, found, MAX_ADDRESSES)
                                 : resolve_system(m, found, MAX_ADDRESSES);
        for (int i = 0; i < n; i++) {
            list[i] = found[i];
            cluster_discovered(d->config.cluster, found[i], CLUSTER_DNS);
        }
        if (n >= 0) /* a failed lookup changes nothing: a DNS hiccup must not drop Workers */
            cluster_retain(d->config.cluster, CLUSTER_DNS, list, (size_t)n);
        for (int slept = 0; slept < DNS_INTERVAL_MS && !atomic_load(&d->stopping); slept += 50)
            usleep(50 * 1000);
    }
    return NULL;
}

/* ---- configuration ---- */

static enum fl_err parse_method(struct discovery *d, const char *text, struct method *m,
                                char *detail, size_t detail_len)
{
    memset(m, 0, sizeof(*m));
    m->discovery = d;
    if (strncmp(text, "dns:", 4) == 0) {
        m->dns = true;
        const char *name = text + 4, *colon = strrchr(name, ':');
        size_t name_len = colon ? (size_t)(colon - name) : strlen(name);
        long port = colon ? strtol(colon + 1, NULL, 10) : DEFAULT_WORKER_PORT;
        if (name_len == 0 || name_len >= sizeof(m->dns_name) || port <= 0 || port > 65535)
            return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                           "--discover dns:NAME[:PORT], not '%s'", text);
        memcpy(m->dns_name, name, name_len);
        m->dns_port = (unsigned)port;
        return FL_OK;
    }
    const char *group = strcmp(text, "multicast") == 0         ? ANNOUNCE_DEFAULT
                        : strncmp(text, "multicast:", 10) == 0 ? text + 10
                                                               : NULL;
    if (!group || !fl_parse_listen(group, &m->group) ||
        !IN_MULTICAST(ntohl(m->group.sin_addr.s_addr)) || m->group.sin_port == 0)
        return fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                       "--discover takes multicast, multicast:GROUP:PORT or dns:NAME[:PORT], "
                       "not '%s'",
                       text);
    snprintf(m->group_text, sizeof(m->group_text), "%s", group);
    m->senders = calloc(MAX_SENDERS, sizeof(*m->senders));
    return m->senders ? FL_OK : FL_ERR_NOMEM;
}

enum fl_err discovery_start(const struct discovery_config *config, struct discovery **out,
                            char *detail, size_t detail_len)
{
    *out = NULL;
    if (!config->methods || !config->methods[0])
        return FL_OK;
    struct discovery *d = calloc(1, sizeof(*d));
    char *copy = strdup(config->methods);
    enum fl_err err = d && copy ? FL_OK : FL_ERR_NOMEM;
    if (err == FL_OK && config->interface && config->interface[0] &&
        inet_pton(AF_INET, config->interface, &d->interface) != 1)
        err = fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                      "--discover-interface takes an IPv4 address, not '%s'", config->interface);
    if (err == FL_OK) {
        d->config = *config;
        if (config->secret)
            d->secret = *config->secret;
        snprintf(d->dns_server, sizeof(d->dns_server), "%s",
                 config->dns_server ? config->dns_server : "");
    }
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t && err == FL_OK;
         t = strtok_r(NULL, ",", &save)) {
        if (d->count == MAX_METHODS)
            err = fl_fail(FL_ERR_INVALID_ARG, detail, detail_len, "at most %d discovery methods",
                          MAX_METHODS);
        else if ((err = parse_method(d, t, &d->methods[d->count], detail, detail_len)) == FL_OK)
            d->count++;
    }
    free(copy);
    for (size_t i = 0; err == FL_OK && i < d->count; i++) {
        struct method *m = &d->methods[i];
        if (pthread_create(&m->thread, NULL, m->dns ? dns_thread : multicast_thread, m) != 0)
            err = FL_ERR_NOMEM;
        else
            fl_log(FL_LOG_INFO, "discovery_started", "method=%s%s",
                   m->dns ? "dns:" : "multicast:", m->dns ? m->dns_name : m->group_text);
    }
    if (err != FL_OK) {
        discovery_stop(d);
        return err;
    }
    *out = d;
    return FL_OK;
}

void discovery_stop(struct discovery *d)
{
    if (!d)
        return;
    atomic_store(&d->stopping, true);
    for (size_t i = 0; i < d->count; i++) {
        if (d->methods[i].thread)
            pthread_join(d->methods[i].thread, NULL);
        free(d->methods[i].senders);
    }
    free(d);
}
