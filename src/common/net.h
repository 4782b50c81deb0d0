/*
 * net — listen addresses: "IPV4:PORT" (port 0 lets the kernel pick one); where a peer is.
 */
#ifndef FL_COMMON_NET_H
#define FL_COMMON_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

/* Parses "IPV4:PORT" into `out`; false if malformed. */
bool fl_parse_listen(const char *listen, struct sockaddr_in *out);

/* True for an address of this machine's loopback: 127.0.0.0/8, ::1, ::ffff:127.x.x.x. */
bool fl_addr_is_loopback(const struct sockaddr_storage *addr);

#endif
