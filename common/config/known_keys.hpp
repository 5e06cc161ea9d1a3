// The keys of the ini files whose keys are fixed: the core's and the built-in plugins'. One
// table for every file, so `upesi --check` can name a key nobody reads (a typo is otherwise
// silently ignored, and the default stays in force). A reader that learns a key adds it here.
#pragma once

#include <string_view>
#include <vector>

namespace upesi::config {

struct KnownSection {
  std::string_view name; ///< "*": any section not named in the file's table
  std::vector<std::string_view> keys;
  bool any_key = false; ///< the keys are data (hosts, domains): every name is fine
};

struct KnownIniFile {
  std::string_view name; ///< under config/
  std::vector<KnownSection> sections;
};

const std::vector<KnownIniFile>& knownIniFiles();

/// The table of `name`, or null if its keys are not fixed (or not known to the core).
const KnownIniFile* knownIniFile(std::string_view name);

} // namespace upesi::config
