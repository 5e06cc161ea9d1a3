// Files that hold secrets (AUTH passwords, private keys) should be readable by the server alone:
// a local user who reads them can log in as a mail user or impersonate the server.
#pragma once

#include "common/config/config.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace upesi::master {

/// One warning per secret file that its group or others may read: config/auth_flat_file.ini,
/// the private keys tls.ini names ([main] and [outbound] key) and config/tls/*.pem. Read
/// access for `server_gid` (the group the server drops to) is needed, so it is not reported.
std::vector<std::string> checkSecretFiles(config::Config& config, std::optional<gid_t> server_gid);

} // namespace upesi::master
