// `upesi --check`: everything start-up would read, read now, with every error as file:line.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace upesi::master {

struct CheckReport {
  std::vector<std::string> errors;   ///< the install cannot run as it is
  std::vector<std::string> warnings; ///< it can, but something in it looks wrong
  std::vector<std::string> notices;  ///< Haraka keys read as ours, or ignored (haraka_aliases)
};

CheckReport checkInstall(const std::filesystem::path& install_dir);

} // namespace upesi::master
