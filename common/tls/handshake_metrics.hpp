// tls_handshakes_total{protocol}: every TLS handshake this process completes, the server's and
// the SMTP client's alike, by protocol version ("TLSv1.3").
//
// Threading: the loop thread.
#pragma once

#include <string_view>

namespace upesi::tls {

void countHandshake(std::string_view protocol);

} // namespace upesi::tls
