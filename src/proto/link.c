#include "proto/link.h"

#include "common/net.h"

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

void link_init(struct link *link, int fd)
{
    pthread_mutex_init(&link->write_lock, NULL);
    link_attach(link, fd);
}

void link_attach(struct link *link, int fd)
{
    link->fd = fd;
    link->in_start = link->in_end = 0;
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

bool link_write(struct link *link, const struct fl_buf *frames)
{
    pthread_mutex_lock(&link->write_lock);
    const char *p = frames->data;
    size_t len = frames->len;
    bool ok = link->fd >= 0;
    while (ok && len) {
        ssize_t n = send(link->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok) {
            p += n;
            len -= (size_t)n;
        }
    }
    pthread_mutex_unlock(&link->write_lock);
    return ok;
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
