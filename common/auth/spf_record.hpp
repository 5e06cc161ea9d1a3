// An SPF record (RFC 7208 sections 4.5, 4.6, 5, 6 and 12) parsed into the terms an evaluator
// walks: mechanisms in order, and the modifiers, whose place in the record does not matter.
// Pure: no DNS here; domain-specs stay unexpanded (see spf_macro.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::spf {

/// Bounds on what a published record may make us parse.
constexpr std::size_t MaxRecordLength = 4096;
constexpr std::size_t MaxTerms = 256;

enum class Qualifier : char { Pass = '+', Fail = '-', SoftFail = '~', Neutral = '?' };

enum class MechanismKind { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists };

struct Mechanism {
  Qualifier qualifier = Qualifier::Pass;
  MechanismKind kind = MechanismKind::All;
  /// include, exists: always set; a, mx, ptr: empty means the current <domain>.
  std::string domain_spec;
  /// a, mx: both lengths; ip4: ip4_cidr; ip6: ip6_cidr.
  int ip4_cidr = 32;
  int ip6_cidr = 128;
  /// ip4: the first 4 bytes; ip6: all 16. Network order.
  std::array<unsigned char, 16> network{};

  bool operator==(const Mechanism&) const = default;
};

struct Modifier {
  std::string name; // as written
  std::string value;

  bool operator==(const Modifier&) const = default;
};

struct Record {
  std::vector<Mechanism> mechanisms;
  std::optional<std::string> redirect;     // domain-spec
  std::optional<std::string> explanation;  // exp=, a domain-spec
  std::vector<Modifier> unknown_modifiers; // kept, not acted on (section 6)

  bool operator==(const Record&) const = default;
};

struct RecordParse {
  Record record;
  std::string permerror; // names the bad term; empty on success
  bool ok() const { return permerror.empty(); }
};

/// Whether a TXT string is an SPF record: "v=spf1", any case, then a space or the end.
bool isSpfRecord(std::string_view txt);

/// Parses a record that isSpfRecord accepted; any syntax error is a permerror.
RecordParse parseRecord(std::string_view txt);

/// One directive as it would be written in a record ("-ip4:192.0.2.0/24", "mx:%{d}").
std::string writeMechanism(const Mechanism& mechanism);

/// The record written out again, default prefix lengths left out: parses to an equal Record.
std::string writeRecord(const Record& record);

struct RecordSelection {
  enum class Outcome { None, Found, PermError };
  Outcome outcome = Outcome::None;
  std::string record;    // when Found
  std::string permerror; // when PermError
};

/// The SPF record among a domain's TXT strings (section 4.5): none, one, or a permerror for
/// more than one.
RecordSelection selectRecord(const std::vector<std::string>& txts);

} // namespace upesi::spf
