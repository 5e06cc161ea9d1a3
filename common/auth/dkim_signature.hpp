// A DKIM-Signature header field value (RFC 6376 section 3.5) parsed into what a verifier
// checks, with RFC 8301's algorithm rules (rsa-sha1 is refused) and RFC 8463's ed25519-sha256.
// Every error is a permerror reason. Pure: no DNS, no clock (x= and t= are compared by the
// verifier).
#pragma once

#include "common/auth/dkim_canon.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dkim {

/// Bound on the header names one signature may list in h=.
constexpr std::size_t MaxSignedHeaderNames = 256;

enum class Algorithm { RsaSha256, Ed25519Sha256 };

std::string_view algorithmName(Algorithm algorithm);

struct Signature {
  Algorithm algorithm = Algorithm::RsaSha256;
  Canon header_canon = Canon::Simple;
  Canon body_canon = Canon::Simple;
  std::string domain;                       // d=, lower-cased
  std::string selector;                     // s=, lower-cased
  std::vector<std::string> signed_headers;  // h=, lower-cased, in order
  std::string identity;                     // i=, "@" + d= when absent
  std::optional<std::uint64_t> body_length; // l=; a value past 2^64 reads as the maximum
  std::optional<std::int64_t> timestamp;    // t=
  std::optional<std::int64_t> expiration;   // x=
  std::string body_hash;                    // bh=, decoded
  std::string signature;                    // b=, decoded
  std::string b_base64; // b= without whitespace, as written (header.b is its start)
  /// The header value with b='s value emptied, everything else byte for byte (section 3.7).
  std::string value_without_b;

  /// The DNS name of the key record: "s._domainkey.d".
  std::string keyName() const;
};

struct SignatureParse {
  Signature signature;
  std::string permerror;
  bool ok() const { return permerror.empty(); }
};

/// Parses a DKIM-Signature field's value (what follows "DKIM-Signature:"), CRLF folding allowed.
SignatureParse parseSignature(std::string_view value);

/// `value` with the value of its b= tag deleted: the characters from after "b=" to the last
/// non-whitespace character of the value, whitespace after it and everything else kept (as
/// dkimpy does).
std::string withoutSignatureValue(std::string_view value);

/// Whether `domain` is `parent` or a subdomain of it, ignoring case.
bool isSameOrSubdomain(std::string_view domain, std::string_view parent);

} // namespace upesi::dkim
