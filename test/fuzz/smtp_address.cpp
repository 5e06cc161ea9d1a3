// The RFC 5321 path grammar (common/smtp/address_parser): parsePath, isDomain,
// isAddressLiteral.
//
// Input: one flag byte (bit 0: forward path, bits 1-3: allow_missing_brackets,
// allow_space_after_colon, allow_local_abuse), then the path.
//
// Invariants: an accepted path is within RFC 5321's limits, its host is a Domain or an address
// literal, and format() parses back to the same address (user, host, null-ness), in strict mode
// too, and formats to the same text again.
#include "common/smtp/address_parser.hpp"
#include "test/fuzz/fuzz_check.hpp"

using namespace upesi;
using namespace upesi::smtp;

namespace {

bool isPostmaster(std::string_view user) {
  constexpr std::string_view Postmaster = "postmaster";
  if (user.size() != Postmaster.size()) {
    return false;
  }
  for (std::size_t i = 0; i < user.size(); ++i) {
    if ((user[i] | 0x20) != Postmaster[i]) {
      return false;
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const PathKind kind = (data[0] & 1) != 0 ? PathKind::Forward : PathKind::Reverse;
  PathOptions options;
  options.allow_missing_brackets = (data[0] & 2) != 0;
  options.allow_space_after_colon = (data[0] & 4) != 0;
  options.allow_local_abuse = (data[0] & 8) != 0;
  const std::string_view text = fuzz::asView(data + 1, size - 1);

  (void)isDomain(text, false);
  if (isDomain(text, false)) {
    FUZZ_CHECK(isDomain(text, true));
  }
  (void)isAddressLiteral(text);

  auto parsed = parsePath(text, kind, options);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().empty());
    return 0;
  }
  const Address& address = *parsed;
  FUZZ_CHECK(address.original == text);
  FUZZ_CHECK(text.size() <= MaxPathOctets);
  if (address.is_null) {
    FUZZ_CHECK(kind == PathKind::Reverse && address.user.empty() && address.host.empty());
    FUZZ_CHECK(address.format() == "<>" && address.address().empty());
    return 0;
  }
  FUZZ_CHECK(address.host.size() <= MaxDomainOctets);
  if (address.host.empty()) {
    FUZZ_CHECK(kind == PathKind::Forward); // <postmaster>, or Haraka's <abuse>
  } else if (address.host.front() == '[') {
    FUZZ_CHECK(isAddressLiteral(address.host));
  } else {
    FUZZ_CHECK(isDomain(address.host, true));
    for (char c : address.host) {
      FUZZ_CHECK(c < 'A' || c > 'Z');
    }
  }

  const std::string formatted = address.format();
  FUZZ_CHECK(formatted.size() <= MaxPathOctets);
  for (const PathOptions& again_options : {options, PathOptions::strict()}) {
    if (address.host.empty() && !again_options.allow_local_abuse && !isPostmaster(address.user)) {
      continue; // <abuse> without a domain is Haraka's leniency, refused when strict
    }
    auto again = parsePath(formatted, kind, again_options);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->user == address.user);
    FUZZ_CHECK(again->host == address.host);
    FUZZ_CHECK(!again->is_null);
    FUZZ_CHECK(!again->is_utf8 || address.is_utf8);
    FUZZ_CHECK(again->format() == formatted);
  }
  return 0;
}
