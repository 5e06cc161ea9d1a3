// Where the shipped files live: the default config (etc/) and the built-in plugins' docs.
#pragma once

#include <filesystem>

namespace upesi {

/// The shipped default config: $UPESI_DEFAULTS_DIR, else the installed copy, else the source
/// tree's etc/ (a build run from its tree).
std::filesystem::path defaultsDir();

} // namespace upesi
