// The alias map of aliases.json and its lookup: which entry a recipient matches, and the
// addresses an alias entry rewrites it to. Pure, so the precedence is unit tested.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::aliases {

struct AliasEntry {
  std::string action;          ///< "drop", "alias", or what the file said (lower-cased)
  std::vector<std::string> to; ///< alias targets as written; empty when "to" is missing
  bool has_to = false;
};

/// Which key form matched, in precedence order (first wins).
enum class KeyForm { Address, User, PrefixAtHost, Prefix, AtHost, Wildcard };

std::string_view keyFormName(KeyForm form);

struct AliasMatch {
  std::string key;
  KeyForm form;
  const AliasEntry* entry;
};

class AliasTable {
public:
  /// Reads a parsed aliases.json object. Keys are matched without regard to case; an entry that
  /// is not an object, or a key that repeats another in another case, is skipped with a line in
  /// `problems`.
  static AliasTable fromJson(const nlohmann::json& json, std::vector<std::string>& problems);

  /// The entry for recipient user@host, first of: "user@host", "user", "prefix@host", "prefix",
  /// "@host", "*", where prefix is the local part before its first '-' or '+'.
  std::optional<AliasMatch> lookup(std::string_view user, std::string_view host) const;

  std::size_t size() const { return entries_.size(); }

private:
  std::map<std::string, AliasEntry, std::less<>> entries_;
};

/// The local part before its first '-' or '+' (the whole part when it has neither).
std::string_view subAddressPrefix(std::string_view user);

/// Where an alias sends mail for a recipient at `host`: each target as written, a bare local
/// part completed with "@host".
std::vector<std::string> aliasTargets(const AliasEntry& entry, std::string_view host);

} // namespace upesi::plugins::aliases
