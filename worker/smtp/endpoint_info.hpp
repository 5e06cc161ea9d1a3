// Addresses of a connection's two ends, with the private/loopback flags plugins use.
#pragma once

#include <upesi/connection.hpp>

#include <uv.h>

namespace upesi::smtp {

Endpoint peerEndpoint(const uv_tcp_t* tcp);
Endpoint localEndpoint(const uv_tcp_t* tcp);

/// Fills is_private and is_local from ip (RFC 1918, RFC 4193, loopback, link-local).
void classifyAddress(Endpoint& endpoint);

} // namespace upesi::smtp
