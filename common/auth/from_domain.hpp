// The RFC5322.From domain DMARC evaluates (RFC 7489 section 6.6.1): the single author domain of
// a message's From fields, or why there is none. A small parser of the RFC 5322 address-list
// (section 3.4) with its obsolete forms: display names (atoms, quoted strings, encoded words),
// comments (nested), angle addresses (a source route is skipped), groups, addr-specs. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dmarc {

/// Bounds on what the From fields may make us parse.
constexpr std::size_t MaxFromFieldLength = 64 * 1024;
constexpr std::size_t MaxFromAddresses = 1000;

struct Mailbox {
  std::string local_part; // unquoted
  std::string domain;     // as written (an address literal keeps its brackets)

  bool operator==(const Mailbox&) const = default;
};

struct MailboxList {
  std::vector<Mailbox> mailboxes; // group members included
  std::string error;              // a syntax error; empty on success
  bool ok() const { return error.empty(); }
};

/// The mailboxes of an address-list or mailbox-list field value (folding allowed).
MailboxList parseMailboxList(std::string_view value);

struct FromDomain {
  enum class Problem {
    None,              // `domain` is the author domain
    NoFrom,            // no From field
    SeveralFromFields, // more than one From field
    SeveralDomains,    // addresses of more than one domain in the From field
    Unparseable,       // a syntax error (or over the bounds)
    NoDomain,          // no address, or an address without a DNS domain (a literal, none)
  };
  Problem problem = Problem::None;
  std::string domain;               // lower-case A-labels, no trailing dot; set when problem None
  std::vector<std::string> domains; // every author domain found (normalized), in order
  std::string detail;               // what the problem is, for a log line or a reason=

  bool ok() const { return problem == Problem::None; }
};

/// The author domain of the From fields `from_values` (each a field value, as
/// mail::Header::getAll("From") returns them). Several mailboxes of one domain (in any case)
/// count as that domain. A domain in U-labels (RFC 6532) is turned into A-labels.
FromDomain fromDomain(const std::vector<std::string>& from_values);

} // namespace upesi::dmarc
