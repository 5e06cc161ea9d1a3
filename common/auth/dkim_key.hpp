// A DKIM key record (RFC 6376 section 3.6.1, the TXT record at selector._domainkey.domain) and
// the public key it carries: RSA as SubjectPublicKeyInfo DER (or a bare RSAPublicKey, which some
// publishers use), Ed25519 as the raw 32 bytes (RFC 8463). RSA under 1024 bits is refused
// (RFC 8301). Every error is a permerror reason. Pure: the caller does the DNS query.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dkim {

/// An OpenSSL key, public or private, freed with EVP_PKEY_free.
using EvpKey = std::shared_ptr<EVP_PKEY>;

enum class KeyType { Rsa, Ed25519 };

constexpr int MinimumRsaBits = 1024;

struct KeyRecord {
  KeyType type = KeyType::Rsa;     // k=
  std::vector<std::string> hashes; // h=, lower-cased; empty: any
  bool testing = false;            // t=y
  bool strict_identity = false;    // t=s: i='s domain must equal d=
  bool revoked = false;            // p= empty
  std::string public_key;          // p=, decoded
};

struct KeyRecordParse {
  KeyRecord record;
  std::string permerror;
  bool ok() const { return permerror.empty(); }
};

/// Parses one key record (a TXT record's strings already joined).
KeyRecordParse parseKeyRecord(std::string_view txt);

struct PublicKeyLoad {
  EvpKey key;
  int bits = 0;
  std::string permerror;
  bool ok() const { return permerror.empty(); }
};

/// The key of a parsed, unrevoked record; RSA under `minimum_rsa_bits` is a permerror.
PublicKeyLoad loadPublicKey(const KeyRecord& record, int minimum_rsa_bits = MinimumRsaBits);

struct KeySelection {
  std::optional<KeyRecord> record; // the first record that parses
  std::string permerror;           // why none did (the first one's reason)
};

/// The usable key record among the TXT records found at the key's name: the first that parses.
/// None is a permerror; an empty list is "no key".
KeySelection selectKeyRecord(const std::vector<std::string>& txts);

} // namespace upesi::dkim
