#include "worker/announcer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "proto/announce.h"

struct announcer {
    struct announcer_config config;
    struct fl_secret secret;
    struct sockaddr_in group;
    int fd;
    struct announce message;
    pthread_t thread;
    pthread_mutex_t lock; /* guards stopping */
    pthread_cond_t stop;
    bool stopping;
};

static void announcer_free(struct announcer *a)
{
    if (a->fd >= 0)
        close(a->fd);
    pthread_cond_destroy(&a->stop);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static void *announcer_loop(void *arg)
{
    struct announcer *a = arg;
    uint8_t datagram[ANNOUNCE_MAX_BYTES];
    int last_errno = 0;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        pthread_mutex_unlock(&a->lock);
        a->message.sequence++;
        a->message.time_ms = (uint64_t)fl_wall_ms();
        size_t len = announce_encode(&a->message, &a->secret, datagram, sizeof(datagram));
        bool sent = sendto(a->fd, datagram, len, 0, (struct sockaddr *)&a->group,
                           sizeof(a->group)) == (ssize_t)len;
        if (!sent && errno != last_errno) /* say it once, not every second */
            fl_log(FL_LOG_WARN, "announce_failed", "group=%s error=%s", a->config.group,
                   strerror(errno));
        last_errno = sent ? 0 : errno;
        pthread_mutex_lock(&a->lock);
        struct timespec deadline = fl_deadline_in(a->config.interval_ms);
        if (!a->stopping)
            pthread_cond_clockwait(&a->stop, &a->lock, CLOCK_MONOTONIC, &deadline);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* The socket: TTL 1, looped back to this host, sent from `source` when given. */
static int announcer_socket(const struct announcer *a, char *detail, size_t detail_len)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    unsigned char ttl = 1, loop = 1;
    if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
        fl_fail(FL_ERR_IO, detail, detail_len, "cannot make the announcement socket: %s",
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct in_addr source;
    if (a->config.source && inet_pton(AF_INET, a->config.source, &source) == 1 &&
        source.s_addr != htonl(INADDR_ANY)) {
        struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr = source};
        /* the Core dials the datagram's source address: it must be the one we listen on */
        if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &source, sizeof(source)) != 0) {
            fl_fail(FL_ERR_IO, detail, detail_len, "cannot announce from %s: %s", a->config.source,
                    strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

struct announcer *announcer_start(const struct announcer_config *config, char *detail,
                                  size_t detail_len)
{
    struct announcer *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->fd = -1;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->stop, NULL);
    a->config = *config;
    if (config->secret)
        a->secret = *config->secret;
    if (!fl_parse_listen(config->group, &a->group) ||
        !IN_MULTICAST(ntohl(a->group.sin_addr.s_addr))) {
        fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                "--announce takes a multicast GROUP:PORT (like %s) or off, not '%s'",
                ANNOUNCE_DEFAULT, config->group);
        announcer_free(a);
        return NULL;
    }
    snprintf(a->message.name, sizeof(a->message.name), "%s", config->name);
    a->message.port = (uint16_t)config->port;
    if (!fl_random_bytes(a->message.boot_id, sizeof(a->message.boot_id)) ||
        (a->fd = announcer_socket(a, detail, detail_len)) < 0 ||
        pthread_create(&a->thread, NULL, announcer_loop, a) != 0) {
        announcer_free(a);
        return NULL;
    }
    return a;
}

void announcer_stop(struct announcer *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->stop);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    announcer_free(a);
}
