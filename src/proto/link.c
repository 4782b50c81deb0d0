#include "proto/link.h"

#include "common/net.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Large enough for the frames a round of invocations queues; a code frame is written. */
#define LINK_QUEUE_MAX ((size_t)PROTO_MAX_PAYLOAD + PROTO_HEADER_BYTES)

void link_init(struct link *link, int fd)
{
    pthread_mutex_init(&link->write_lock, NULL);
    pthread_mutex_init(&link->queue_lock, NULL);
    fl_buf_init(&link->out, LINK_QUEUE_MAX);
    fl_buf_init(&link->tx, LINK_QUEUE_MAX);
    link_attach(link, fd);
}

void link_deinit(struct link *link)
{
    fl_buf_deinit(&link->out);
    fl_buf_deinit(&link->tx);
    pthread_mutex_destroy(&link->queue_lock);
    pthread_mutex_destroy(&link->write_lock);
}

void link_attach(struct link *link, int fd)
{
    link->fd = fd;
    link->in_start = link->in_end = 0;
    link->in_frame = false;
    /* what was queued for the connection before goes with it (those calls fail with it) */
    pthread_mutex_lock(&link->queue_lock);
    fl_buf_reset(&link->out);
    pthread_mutex_unlock(&link->queue_lock);
    fl_buf_reset(&link->tx);
    link->tx_sent = 0;
}

void link_close(struct link *link)
{
    if (link->fd >= 0) {
        shutdown(link->fd, SHUT_RDWR);
        close(link->fd);
        link->fd = -1;
    }
}

static bool read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* `len` bytes, from what was read ahead first; a large remainder goes straight to `dst`. */
static bool link_read_exact(struct link *link, void *dst, size_t len)
{
    uint8_t *p = dst;
    while (len) {
        size_t have = link->in_end - link->in_start;
        if (have) {
            size_t n = have < len ? have : len;
            memcpy(p, link->in + link->in_start, n);
            link->in_start += n;
            p += n;
            len -= n;
        } else if (len >= sizeof(link->in)) {
            return read_exact(link->fd, p, len);
        } else {
            ssize_t n = read(link->fd, link->in, sizeof(link->in));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            link->in_start = 0;
            link->in_end = (size_t)n;
        }
    }
    return true;
}

enum fl_err link_read(struct link *link, struct fl_buf *payload, struct proto_msg *msg)
{
    uint8_t header[PROTO_HEADER_BYTES];
    struct proto_header h;
    if (!link_read_exact(link, header, sizeof(header)))
        return FL_ERR_IO;
    if (proto_read_header(header, &h) != FL_OK)
        return FL_ERR_BAD_REQUEST;
    fl_buf_reset(payload);
    if (!fl_buf_resize(payload, h.length)) /* past the bound, or out of memory */
        return FL_ERR_BAD_REQUEST;
    if (h.length && !link_read_exact(link, payload->data, h.length))
        return FL_ERR_IO;
    return proto_decode(&h, (const uint8_t *)payload->data, msg);
}

bool link_has_bytes(const struct link *link)
{
    return link->in_end > link->in_start;
}

bool link_poll_briefly(struct link *link, uint64_t ns)
{
    uint64_t until = fl_now_ns() + ns;
    while (!link_has_bytes(link)) {
        ssize_t n = recv(link->fd, link->in, sizeof(link->in), MSG_DONTWAIT);
        if (n > 0) {
            link->in_start = 0;
            link->in_end = (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR) || fl_now_ns() >= until) {
            return false;
        }
    }
    return true;
}

bool link_has_frame(const struct link *link)
{
    size_t have = link->in_end - link->in_start;
    struct proto_header h;
    return have >= PROTO_HEADER_BYTES &&
           proto_read_header(link->in + link->in_start, &h) == FL_OK &&
           have - PROTO_HEADER_BYTES >= h.length;
}

/* Under the write lock. */
static bool send_all(int fd, const char *p, size_t len)
{
    bool ok = fd >= 0;
    while (ok && len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok) {
            p += n;
            len -= (size_t)n;
        }
    }
    return ok;
}

/*
 * Under the write lock: sends the rest of `tx`, then what is queued (taken over whole, so
 * queueing goes on meanwhile), until nothing is left — or, without `wait`, until the socket
 * would block (LINK_FLUSH_LATER; the rest stays in `tx`, ahead of anything written later).
 */
static enum link_flush_result link_drain(struct link *link, bool wait)
{
    for (;;) {
        if (link->tx_sent == link->tx.len) {
            fl_buf_reset(&link->tx);
            link->tx_sent = 0;
            pthread_mutex_lock(&link->queue_lock);
            struct fl_buf queued = link->out;
            link->out = link->tx;
            link->tx = queued;
            pthread_mutex_unlock(&link->queue_lock);
            if (!link->tx.len)
                return LINK_FLUSHED;
        }
        if (link->fd < 0)
            return LINK_FLUSH_FAILED;
        ssize_t n = send(link->fd, link->tx.data + link->tx_sent, link->tx.len - link->tx_sent,
                         MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && !wait && (errno == EAGAIN || errno == EWOULDBLOCK))
            return LINK_FLUSH_LATER;
        if (n <= 0)
            return LINK_FLUSH_FAILED;
        link->tx_sent += (size_t)n;
    }
}

bool link_write(struct link *link, const struct fl_buf *frames)
{
    pthread_mutex_lock(&link->write_lock);
    bool ok = link_drain(link, true) == LINK_FLUSHED &&
              send_all(link->fd, frames->data, frames->len) &&
              link_drain(link, true) == LINK_FLUSHED; /* queued while we sent: a flush gave way */
    pthread_mutex_unlock(&link->write_lock);
    return ok;
}

bool link_queue(struct link *link, const struct fl_buf *frames)
{
    pthread_mutex_lock(&link->queue_lock);
    bool ok = fl_buf_append(&link->out, frames->data, frames->len);
    pthread_mutex_unlock(&link->queue_lock);
    return ok;
}

enum link_flush_result link_flush(struct link *link)
{
    if (pthread_mutex_trylock(&link->write_lock) != 0)
        return LINK_FLUSH_LATER; /* a writer is sending: it sends the queue when it is done */
    enum link_flush_result result = link_drain(link, false);
    pthread_mutex_unlock(&link->write_lock);
    return result;
}

bool link_send_queued(struct link *link)
{
    pthread_mutex_lock(&link->write_lock);
    bool ok = link_drain(link, true) == LINK_FLUSHED;
    pthread_mutex_unlock(&link->write_lock);
    return ok;
}

/* Decodes the frames that what is read ahead completes (see link_read_ready). */
static enum fl_err link_decode_ready(struct link *link, struct fl_buf *payload,
                                     struct proto_msg *msg, link_frame_fn on_frame, void *arg)
{
    for (;;) {
        size_t have = link->in_end - link->in_start;
        if (!link->in_frame) {
            if (have < PROTO_HEADER_BYTES)
                return FL_OK;
            if (proto_read_header(link->in + link->in_start, &link->frame) != FL_OK)
                return FL_ERR_BAD_REQUEST;
            link->in_start += PROTO_HEADER_BYTES;
            have -= PROTO_HEADER_BYTES;
            fl_buf_reset(payload);
            if (!fl_buf_resize(payload, link->frame.length))
                return FL_ERR_BAD_REQUEST;
            link->in_frame = true;
            link->frame_have = 0;
        }
        size_t take = link->frame.length - link->frame_have;
        take = take < have ? take : have;
        memcpy(payload->data + link->frame_have, link->in + link->in_start, take);
        link->in_start += take;
        link->frame_have += take;
        if (link->frame_have < link->frame.length)
            return FL_OK;
        link->in_frame = false;
        if (proto_decode(&link->frame, (const uint8_t *)payload->data, msg) != FL_OK ||
            !on_frame(arg, msg))
            return FL_ERR_BAD_REQUEST;
    }
}

enum fl_err link_read_ready(struct link *link, struct fl_buf *payload, struct proto_msg *msg,
                            link_frame_fn on_frame, void *arg)
{
    for (;;) {
        size_t left = link->in_end - link->in_start; /* less than a header: decoded before */
        memmove(link->in, link->in + link->in_start, left);
        link->in_start = 0;
        link->in_end = left;
        size_t room = sizeof(link->in) - left;
        ssize_t n = recv(link->fd, link->in + left, room, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return FL_OK;
        if (n <= 0)
            return FL_ERR_IO;
        link->in_end += (size_t)n;
        enum fl_err err = link_decode_ready(link, payload, msg, on_frame, arg);
        if (err != FL_OK ||
            (size_t)n < room) /* short: the socket is drained, the loop says when not */
            return err;
    }
}

static bool link_split(const char *address, char *host, size_t host_len, char *port,
                       size_t port_len)
{
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= host_len || strlen(colon + 1) >= port_len)
        return false;
    size_t n = (size_t)(colon - address);
    if (n >= 2 && address[0] == '[' && address[n - 1] == ']') /* [IPv6]:port */
        memcpy(host, address + 1, n -= 2);
    else
        memcpy(host, address, n);
    host[n] = '\0';
    snprintf(port, port_len, "%s", colon + 1);
    return true;
}

int link_dial(const char *address)
{
    char host[256], port[16];
    if (!link_split(address, host, sizeof(host), port, sizeof(port)))
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int link_listen(const char *address, unsigned *port)
{
    struct sockaddr_in addr;
    if (!fl_parse_listen(address, &addr))
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}
