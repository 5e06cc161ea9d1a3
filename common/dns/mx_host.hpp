// One host mail for a domain goes to, as Haraka's HarakaMx has it: the exchange and its
// priority from DNS or a get_mx plugin, and what only a plugin can say (port, LMTP, source
// address and HELO, AUTH for a smart host).
#pragma once

#include <cstdint>
#include <string>

namespace upesi::dns {

struct MxHost {
  std::string exchange; // host name or IP literal (no brackets)
  unsigned priority = 0;
  std::uint16_t port = 25;
  bool using_lmtp = false;
  std::string bind;      // local address to connect from; empty: any
  std::string bind_helo; // EHLO name; empty: config/me
  std::string auth_user;
  std::string auth_pass;
  std::string auth_type;
  // Without a usable AUTH mechanism at the next hop: false sends without AUTH (logged, as
  // Haraka does); true defers the mail instead.
  bool auth_required = false;
};

} // namespace upesi::dns
