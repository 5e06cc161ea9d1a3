// DKIM signing (RFC 6376 section 5, RFC 8463): a domain's private key, and the DKIM-Signature
// field for a message's header fields and body hash (see dkim_canon.hpp for the body hash).
#pragma once

#include "common/auth/dkim_canon.hpp"
#include "common/auth/dkim_key.hpp"
#include "common/auth/dkim_signature.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dkim {

struct SigningKey {
  std::string domain;   // d=
  std::string selector; // s=
  Algorithm algorithm = Algorithm::RsaSha256;
  EvpKey key; // private
};

struct SigningKeyLoad {
  std::optional<SigningKey> key;
  std::string error; // what is wrong with the PEM text; empty on success
  bool ok() const { return error.empty(); }
};

/// A private key from PEM text: RSA (PKCS#1 or PKCS#8) of at least `minimum_rsa_bits`, or
/// Ed25519 (PKCS#8). Encrypted keys are refused (there is no passphrase to ask for).
SigningKeyLoad loadSigningKey(std::string_view pem, std::string domain, std::string selector,
                              int minimum_rsa_bits = MinimumRsaBits);

struct SignOptions {
  Canon header_canon = Canon::Relaxed;
  Canon body_canon = Canon::Relaxed; // must be the one the body hash was made with
  /// Header names to sign (any case); each instance present is signed, bottom-up.
  std::vector<std::string> headers = {"from",         "to",           "cc",
                                      "subject",      "date",         "message-id",
                                      "reply-to",     "in-reply-to",  "references",
                                      "mime-version", "content-type", "content-transfer-encoding"};
  /// Names listed once more than they appear, so that adding one breaks the signature.
  std::vector<std::string> oversign = {"from"};
  std::int64_t timestamp = 0;               // t=
  std::optional<std::int64_t> expiration;   // x=
  std::optional<std::string> identity;      // i=
  std::optional<std::uint64_t> body_length; // l=, if the hash was limited
};

struct SignResult {
  /// The field's value, from the space after "DKIM-Signature:" on, folded at about 76 columns
  /// with CRLF, no final CRLF: the field is "DKIM-Signature:" + value.
  std::string value;
  std::string error;
  bool ok() const { return error.empty(); }
};

/// Signs a message given its header fields in message order (raw "Name: value" as received,
/// folded, the final CRLF optional) and its body hash (BodyHasher with options.body_canon).
SignResult signMessage(const SigningKey& key, const std::vector<std::string_view>& fields,
                       std::string_view body_hash, const SignOptions& options);

/// The raw signature of `data` (the output of signedHeaderData): RSA with SHA-256, or Ed25519
/// over the SHA-256 of the data (RFC 8463 section 3). Empty on an OpenSSL failure.
std::string signData(const SigningKey& key, std::string_view data);

} // namespace upesi::dkim
