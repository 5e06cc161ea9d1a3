// The header fields of a scan request: what rspamd's protocol lets an MTA say about the message
// (https://docs.rspamd.com/developers/protocol), filled in as Haraka's plugin does.
#pragma once

#include <upesi/connection.hpp>

#include "plugins/rspamd/settings.hpp"

#include <string>
#include <utility>
#include <vector>

namespace upesi::plugins::rspamd {

/// Settings' fixed fields, then User, IP, Hostname, Helo, From, a Rcpt per recipient (and
/// Deliver-To for one), Queue-Id, and TLS-Cipher/TLS-Version under TLS.
std::vector<std::pair<std::string, std::string>>
requestFields(const Settings& settings, Connection& connection, Transaction& txn);

} // namespace upesi::plugins::rspamd
