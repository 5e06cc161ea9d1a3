// Run as root, the master loads plugins (dlopen, register, init_master, shutdown) and reads
// config as root: everything it takes code or config from must be changeable by root alone, as
// `postfix check` demands of Postfix's own files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace upesi::master {

/// The install directory, config/ and plugins/ with everything under them: one error per file or
/// directory that a non-root owner, the group or others could write. Only meaningful as root.
std::vector<std::string> checkTrustedFiles(const std::filesystem::path& install_dir);

} // namespace upesi::master
