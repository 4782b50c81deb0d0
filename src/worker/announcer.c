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

#include "common/net.h"
#include "proto/announce.h"

struct announcer {
    struct announcer_config config;
    struct fl_secret secret;
    struct sockaddr_in group;
    int fd;
    struct announce message;
};

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *announcer_loop(void *arg)
{
    struct announcer *a = arg;
    uint8_t datagram[ANNOUNCE_MAX_BYTES];
    int last_errno = 0;
    struct timespec interval = {a->config.interval_ms / 1000,
                                (long)(a->config.interval_ms % 1000) * 1000000L};
    for (;;) {
        a->message.sequence++;
        a->message.time_ms = unix_ms();
        size_t len = announce_encode(&a->message, &a->secret, datagram, sizeof(datagram));
        bool sent = sendto(a->fd, datagram, len, 0, (struct sockaddr *)&a->group,
                           sizeof(a->group)) == (ssize_t)len;
        if (!sent && errno != last_errno) /* say it once, not every second */
            fprintf(stderr, "worker: event=announce_failed group=%s error=\"%s\"\n",
                    a->config.group, strerror(errno));
        last_errno = sent ? 0 : errno;
        nanosleep(&interval, NULL);
    }
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

bool announcer_start(const struct announcer_config *config, char *detail, size_t detail_len)
{
    struct announcer *a = calloc(1, sizeof(*a));
    if (!a)
        return false;
    a->config = *config;
    if (config->secret)
        a->secret = *config->secret;
    if (!fl_parse_listen(config->group, &a->group) ||
        !IN_MULTICAST(ntohl(a->group.sin_addr.s_addr))) {
        fl_fail(FL_ERR_INVALID_ARG, detail, detail_len,
                "--announce takes a multicast GROUP:PORT (like %s) or off, not '%s'",
                ANNOUNCE_DEFAULT, config->group);
        free(a);
        return false;
    }
    snprintf(a->message.name, sizeof(a->message.name), "%s", config->name);
    a->message.port = (uint16_t)config->port;
    pthread_t thread;
    if (!fl_random_bytes(a->message.boot_id, sizeof(a->message.boot_id)) ||
        (a->fd = announcer_socket(a, detail, detail_len)) < 0 ||
        pthread_create(&thread, NULL, announcer_loop, a) != 0) {
        free(a);
        return false;
    }
    pthread_detach(thread);
    return true;
}
