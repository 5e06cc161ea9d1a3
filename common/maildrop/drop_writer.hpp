// Writes a drop file into the maildrop directory the way the server reads it: under a
// temporary name, fsynced, then renamed to its finished name, so the server never reads half a
// file and a file it can read is on disk. Blocking: for the `sendmail` program, not a loop.
#pragma once

#include "common/util/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace upesi::maildrop {

/// Returns the finished file's name (its queue ID for the user), or why it could not be written
/// (nothing is left behind then).
Result<std::string> writeDropFile(const std::filesystem::path& dir, std::string_view envelope,
                                  std::string_view message);

} // namespace upesi::maildrop
