#include "common/auth/dkim_signer.hpp"

#include <upesi/text.hpp>

#include "common/util/base64.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace upesi::dkim {
namespace {

constexpr std::size_t FoldColumn = 76;
constexpr std::string_view FieldPrefix = "DKIM-Signature:";

int noPassphrase(char*, int, int, void*) {
  return -1;
}

// Builds a folded field value: pieces go on the current line while it stays under FoldColumn.
class Folder {
public:
  explicit Folder(std::size_t start_column) : column_(start_column) {}

  /// `piece` after a space (a new tag) or glued to what precedes (inside a value).
  void add(std::string_view piece, bool space_before) {
    if (column_ + piece.size() + (space_before ? 1 : 0) > FoldColumn && !at_line_start_) {
      out_ += "\r\n ";
      column_ = 1;
    } else if (space_before) {
      out_ += ' ';
      ++column_;
    }
    out_ += piece;
    column_ += piece.size();
    at_line_start_ = false;
  }

  /// Base64 text folded to fill each line.
  void addBase64(std::string_view text) {
    while (!text.empty()) {
      std::size_t room = column_ < FoldColumn ? FoldColumn - column_ : 0;
      if (room == 0) {
        out_ += "\r\n ";
        column_ = 1;
        continue;
      }
      std::string_view piece = text.substr(0, room);
      out_ += piece;
      column_ += piece.size();
      text.remove_prefix(piece.size());
    }
  }

  const std::string& text() const { return out_; }

private:
  std::string out_;
  std::size_t column_;
  bool at_line_start_ = true;
};

} // namespace

SigningKeyLoad loadSigningKey(std::string_view pem, std::string domain, std::string selector,
                              int minimum_rsa_bits) {
  SigningKeyLoad load;
  auto fail = [&load](std::string error) {
    ERR_clear_error();
    load.key.reset();
    load.error = std::move(error);
    return load;
  };
  if (pem.find("-----BEGIN ") == std::string_view::npos) {
    return fail("unreadable: no PEM block (-----BEGIN ...)");
  }
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return fail("the private key is encrypted");
  }
  auto readBio = [&pem] {
    return std::unique_ptr<BIO, decltype(&BIO_free)>(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  };
  auto bio = readBio();
  EVP_PKEY* raw =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr) : nullptr;
  if (raw == nullptr) {
    auto again = readBio();
    EVP_PKEY* pub =
        again ? PEM_read_bio_PUBKEY(again.get(), nullptr, noPassphrase, nullptr) : nullptr;
    if (pub != nullptr) {
      EVP_PKEY_free(pub);
      return fail("not a private key: the PEM text holds a public key");
    }
    return fail("unreadable: the PEM text holds no private key OpenSSL can read");
  }
  EvpKey key(raw, EVP_PKEY_free);
  SigningKey signing;
  switch (EVP_PKEY_get_base_id(raw)) {
  case EVP_PKEY_RSA: {
    const int bits = EVP_PKEY_get_bits(raw);
    if (bits < minimum_rsa_bits) {
      return fail(fmt::format("RSA key of {} bits, under the minimum {} (RFC 8301)", bits,
                              minimum_rsa_bits));
    }
    signing.algorithm = Algorithm::RsaSha256;
    break;
  }
  case EVP_PKEY_ED25519:
    signing.algorithm = Algorithm::Ed25519Sha256;
    break;
  default:
    return fail("not an RSA or Ed25519 private key");
  }
  signing.domain = text::toLower(domain);
  signing.selector = text::toLower(selector);
  signing.key = std::move(key);
  load.key = std::move(signing);
  return load;
}

std::string signData(const SigningKey& key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || !key.key) {
    return {};
  }
  std::string digest;
  std::string_view message = data;
  const EVP_MD* md = EVP_sha256();
  if (key.algorithm == Algorithm::Ed25519Sha256) {
    digest = sha256(data);
    message = digest;
    md = nullptr; // pure Ed25519 over the SHA-256 digest
  }
  std::size_t length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, bytes, message.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, bytes,
                     message.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  signature.resize(length);
  return signature;
}

SignResult signMessage(const SigningKey& key, const std::vector<std::string_view>& fields,
                       std::string_view body_hash, const SignOptions& options) {
  SignResult result;
  std::vector<std::string> names;
  auto countOf = [&fields](std::string_view name) {
    std::size_t count = 0;
    for (std::string_view field : fields) {
      count += text::equalsIgnoreCase(fieldName(field), name) ? 1 : 0;
    }
    return count;
  };
  std::vector<std::string> seen;
  for (const std::string& header : options.headers) {
    std::string name = text::toLower(text::trim(header));
    if (name.empty() || std::find(seen.begin(), seen.end(), name) != seen.end()) {
      continue;
    }
    seen.push_back(name);
    names.insert(names.end(), countOf(name), name);
  }
  for (const std::string& header : options.oversign) {
    std::string name = text::toLower(text::trim(header));
    if (!name.empty()) {
      names.push_back(std::move(name));
    }
  }
  if (countOf("from") == 0) {
    result.error = "the message has no From field";
    return result;
  }
  if (std::find(names.begin(), names.end(), "from") == names.end()) {
    names.insert(names.begin(), "from");
  }
  if (options.identity) {
    std::size_t at = options.identity->rfind('@');
    if (at == std::string::npos ||
        !isSameOrSubdomain(std::string_view(*options.identity).substr(at + 1), key.domain)) {
      result.error = fmt::format("i={} is not in d={}", *options.identity, key.domain);
      return result;
    }
  }

  Folder folder(FieldPrefix.size());
  auto tag = [&folder](std::string_view name, std::string_view value) {
    folder.add(fmt::format("{}={};", name, value), true);
  };
  tag("v", "1");
  tag("a", algorithmName(key.algorithm));
  tag("c", fmt::format("{}/{}", canonName(options.header_canon), canonName(options.body_canon)));
  tag("d", key.domain);
  tag("s", key.selector);
  tag("t", std::to_string(options.timestamp));
  if (options.expiration) {
    tag("x", std::to_string(*options.expiration));
  }
  if (options.identity) {
    tag("i", *options.identity);
  }
  if (options.body_length) {
    tag("l", std::to_string(*options.body_length));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    const bool last = i + 1 == names.size();
    folder.add(fmt::format("{}{}{}", i == 0 ? "h=" : "", names[i], last ? ";" : ":"), i == 0);
  }
  tag("bh", base64Encode(body_hash));
  folder.add("b=", true);

  const std::string unsigned_field = std::string(FieldPrefix) + folder.text();
  const std::string data = signedHeaderData(options.header_canon, fields, names, unsigned_field);
  const std::string signature = signData(key, data);
  if (signature.empty()) {
    result.error = "OpenSSL could not sign";
    return result;
  }
  folder.addBase64(base64Encode(signature));
  // What we would not accept from others we do not send: a bad d=, s= or i= shows up here.
  if (SignatureParse check = parseSignature(folder.text()); !check.ok()) {
    result.error = "the signature would not parse: " + check.permerror;
    return result;
  }
  result.value = folder.text();
  return result;
}

} // namespace upesi::dkim
