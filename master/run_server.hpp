// Runs the server from an install directory whose config has been checked.
#pragma once

#include <filesystem>

namespace upesi::master {

int runServer(const std::filesystem::path& install_dir);

} // namespace upesi::master
