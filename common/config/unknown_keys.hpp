// Keys nobody reads, in the ini files whose keys are fixed (known_keys.hpp): a typo such as
// "listne=" is otherwise ignored without a word, and the default stays in force.
#pragma once

#include "common/config/config.hpp"
#include "common/config/known_keys.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace upesi::config {

/// One warning per key (or section) of ini `text` that `known` does not list, as
/// "path:line: unknown key listne (did you mean listen?)", the nearest known name given when
/// it is a likely typo.
std::vector<std::string> unknownIniKeys(std::string_view text, const std::string& path,
                                        const KnownIniFile& known);

/// The same for every file of the table that the install's config/ holds (the shipped defaults
/// are ours, and not checked).
std::vector<std::string> checkUnknownKeys(const Config& config);

} // namespace upesi::config
