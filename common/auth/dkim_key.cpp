#include "common/auth/dkim_key.hpp"

#include <upesi/text.hpp>

#include "common/auth/tag_list.hpp"
#include "common/util/base64.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace upesi::dkim {
namespace {

constexpr std::size_t Ed25519KeySize = 32;

std::vector<std::string> colonList(std::string_view text) {
  std::vector<std::string> items;
  for (std::string& item : text::splitList(text, ":")) {
    item = text::toLower(text::trim(item));
    if (!item.empty()) {
      items.push_back(std::move(item));
    }
  }
  return items;
}

EvpKey own(EVP_PKEY* key) {
  return EvpKey(key, EVP_PKEY_free);
}

} // namespace

KeyRecordParse parseKeyRecord(std::string_view txt) {
  KeyRecordParse parse;
  auto fail = [&parse](std::string reason) {
    parse.record = KeyRecord{};
    parse.permerror = std::move(reason);
    return parse;
  };
  const auth::TagList tags = auth::parseTagList(txt);
  if (!tags.ok()) {
    return fail("malformed key record: " + tags.error);
  }
  KeyRecord& record = parse.record;
  if (auto v = tags.find("v")) {
    if (tags.tags.front().first != "v") {
      return fail("key record v= is not the first tag");
    }
    if (*v != "DKIM1") {
      return fail(fmt::format("key record version v={} is not DKIM1", v->substr(0, 20)));
    }
  }
  if (auto h = tags.find("h")) {
    record.hashes = colonList(*h);
    bool sha256 = false;
    for (const std::string& hash : record.hashes) {
      sha256 = sha256 || hash == "sha256";
    }
    if (!sha256) {
      return fail("key record h= does not allow sha256");
    }
  }
  if (auto k = tags.find("k")) {
    const std::string type = text::toLower(*k);
    if (type == "rsa") {
      record.type = KeyType::Rsa;
    } else if (type == "ed25519") {
      record.type = KeyType::Ed25519;
    } else {
      return fail(fmt::format("unknown key type k={}", type.substr(0, 20)));
    }
  }
  if (auto s = tags.find("s")) {
    bool email = false;
    for (const std::string& service : colonList(*s)) {
      email = email || service == "*" || service == "email";
    }
    if (!email) {
      return fail("key record s= does not allow email");
    }
  }
  if (auto t = tags.find("t")) {
    for (const std::string& flag : colonList(*t)) {
      record.testing = record.testing || flag == "y";
      record.strict_identity = record.strict_identity || flag == "s";
    }
  }
  auto p = tags.find("p");
  if (!p) {
    return fail("key record has no p= tag");
  }
  const std::string compact = auth::withoutWhitespace(*p);
  if (compact.empty()) {
    record.revoked = true;
    return parse;
  }
  auto key = base64Decode(compact);
  if (!key) {
    return fail("key record p= is not valid base64");
  }
  record.public_key = std::move(*key);
  return parse;
}

PublicKeyLoad loadPublicKey(const KeyRecord& record, int minimum_rsa_bits) {
  PublicKeyLoad load;
  if (record.revoked) {
    load.permerror = "key revoked";
    return load;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(record.public_key.data());
  const long size = static_cast<long>(record.public_key.size());
  if (record.type == KeyType::Ed25519) {
    if (record.public_key.size() != Ed25519KeySize) {
      load.permerror = fmt::format("ed25519 key is {} bytes, not 32", record.public_key.size());
      return load;
    }
    load.key = own(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes, record.public_key.size()));
    if (!load.key) {
      load.permerror = "ed25519 key does not load";
    }
    load.bits = 256;
    return load;
  }
  // SubjectPublicKeyInfo first, then a bare PKCS#1 RSAPublicKey; either must use every byte.
  const unsigned char* cursor = bytes;
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &cursor, size);
  if (key != nullptr && cursor != bytes + size) {
    EVP_PKEY_free(key);
    key = nullptr;
  }
  if (key == nullptr) {
    cursor = bytes;
    key = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &cursor, size);
    if (key != nullptr && cursor != bytes + size) {
      EVP_PKEY_free(key);
      key = nullptr;
    }
  }
  load.key = own(key);
  if (!load.key) {
    load.permerror = "key record p= is not an RSA public key";
    return load;
  }
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    load.key.reset();
    load.permerror = "key record k=rsa but p= is not an RSA key";
    return load;
  }
  load.bits = EVP_PKEY_get_bits(key);
  if (load.bits < minimum_rsa_bits) {
    load.key.reset();
    load.permerror =
        fmt::format("RSA key of {} bits, under the minimum {}", load.bits, minimum_rsa_bits);
  }
  return load;
}

KeySelection selectKeyRecord(const std::vector<std::string>& txts) {
  KeySelection selection;
  if (txts.empty()) {
    selection.permerror = "no key";
    return selection;
  }
  for (const std::string& txt : txts) {
    KeyRecordParse parse = parseKeyRecord(txt);
    if (parse.ok()) {
      selection.record = std::move(parse.record);
      selection.permerror.clear();
      return selection;
    }
    if (selection.permerror.empty()) {
      selection.permerror = std::move(parse.permerror);
    }
  }
  return selection;
}

} // namespace upesi::dkim
