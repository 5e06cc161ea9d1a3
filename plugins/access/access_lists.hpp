// The lists of Haraka's access plugin, loaded once and matched per command: exact entries
// (case-insensitive), anchored regular expressions, and access.domains, whose entries stand for
// their organizational domain unless they are whitelist ("!") entries or addresses. Pure.
#pragma once

#include <cstddef>
#include <functional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace upesi::plugins::access {

/// Entries compared whole, without regard to case.
class ExactList {
public:
  ExactList() = default;
  /// At most `max_entries` entries are kept.
  ExactList(const std::vector<std::string>& entries, std::size_t max_entries);
  bool contains(std::string_view value) const;
  std::size_t size() const { return entries_.size(); }

private:
  std::unordered_set<std::string> entries_;
};

/// Regular expressions (ECMAScript, case-insensitive), each matching a whole value: "^(" and ")$"
/// are put around them, as Haraka anchors its regex lists.
class RegexList {
public:
  struct Problem {
    std::size_t index; // of the entry in the list given
    std::string message;
  };

  RegexList() = default;
  /// Compiles every entry (up to `max_entries`); one that does not compile is left out and
  /// described in `problems`.
  RegexList(const std::vector<std::string>& patterns, std::size_t max_entries,
            std::vector<Problem>& problems);
  /// The pattern that matches the whole of `value`, or nullptr.
  const std::string* match(std::string_view value) const;
  std::size_t size() const { return entries_.size(); }

private:
  struct Entry {
    std::string source;
    std::regex regex;
  };
  std::vector<Entry> entries_;
};

/// The 1-based line of `text` (a list file) that holds `entry`, or 0: config lists come
/// without their line numbers, which an error message wants.
std::size_t lineOf(std::string_view text, std::string_view entry);

/// Organizational domain of a name; empty when it has none.
using OrgDomainOf = std::function<std::string(std::string_view domain)>;

/// access.domains: "domain" blacklists its organizational domain, "!domain" and "!address"
/// whitelist exactly that, a bare address is kept as written.
class DomainList {
public:
  DomainList() = default;
  DomainList(const std::vector<std::string>& entries, const OrgDomainOf& org_domain_of,
             std::size_t max_entries);

  enum class Verdict { Unlisted, Whitelisted, Blacklisted };

  /// Haraka's "any" check of one name: the address (mail and rcpt, may be empty), the
  /// organizational domain or the name whitelisted; else the organizational domain blacklisted.
  Verdict check(std::string_view address, std::string_view domain,
                std::string_view org_domain) const;
  /// The data_post check of the From header's organizational domain.
  Verdict checkOrgDomain(std::string_view org_domain) const;

private:
  ExactList entries_;
};

} // namespace upesi::plugins::access
