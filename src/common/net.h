/*
 * net — listen addresses: "IPV4:PORT" (port 0 lets the kernel pick one).
 */
#ifndef FL_COMMON_NET_H
#define FL_COMMON_NET_H

#include <netinet/in.h>
#include <stdbool.h>

/* Parses "IPV4:PORT" into `out`; false if malformed. */
bool fl_parse_listen(const char *listen, struct sockaddr_in *out);

#endif
