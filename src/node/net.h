/* SPDX-License-Identifier: Apache-2.0 */
/* net.h — host names to socket addresses for the client, election and quorum
 * ports, as Java's InetAddress.getByName picks one. Blocking (getaddrinfo):
 * call it before the loop runs or where a pause is acceptable. */
#ifndef CZK_NODE_NET_H
#define CZK_NODE_NET_H

#include <sys/socket.h>

/* An IPv4 or IPv6 literal, else the host's first address, IPv4 preferred;
 * `port` set in it. Returns 0, or getaddrinfo's error (EAI_*, for
 * gai_strerror; EAI_NONAME when it found nothing). */
int net_resolve(const char *host, int port, struct sockaddr_storage *ss)
    __attribute__((warn_unused_result));

#endif
