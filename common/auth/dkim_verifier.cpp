#include "common/auth/dkim_verifier.hpp"

#include <upesi/text.hpp>

#include "common/auth/dkim_key.hpp"
#include "common/auth/tag_list.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <chrono>

namespace upesi::dkim {
namespace {

constexpr std::size_t HeaderBLength = 8;

bool verifyData(Algorithm algorithm, EVP_PKEY* key, std::string_view data,
                std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx) {
    return false;
  }
  std::string digest;
  std::string_view message = data;
  const EVP_MD* md = EVP_sha256();
  if (algorithm == Algorithm::Ed25519Sha256) {
    digest = sha256(data);
    message = digest;
    md = nullptr;
  }
  bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::int64_t systemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

std::string_view resultName(Result result) {
  switch (result) {
  case Result::None:
    return "none";
  case Result::Pass:
    return "pass";
  case Result::Fail:
    return "fail";
  case Result::Neutral:
    return "neutral";
  case Result::Policy:
    return "policy";
  case Result::PermError:
    return "permerror";
  case Result::TempError:
    return "temperror";
  }
  return "none";
}

struct Verifier::Pending {
  enum class State { Done, AwaitBody, AwaitKey };
  State state = State::Done;
  Signature signature;
  std::size_t field = 0; // index into fields_
  std::size_t hash = 0;  // index into hashes_
};

struct Verifier::BodyHash {
  BodyHasher hasher;
  std::string digest;
};

Verifier::Verifier(VerifyOptions options) : options_(std::move(options)) {
  if (!options_.now) {
    options_.now = systemNow;
  }
}

Verifier::~Verifier() = default;

void Verifier::feed(std::string_view bytes) {
  if (finished_) {
    return;
  }
  std::size_t i = 0;
  while (!header_done_ && i < bytes.size()) {
    headerByte(bytes[i++]);
  }
  if (header_done_ && i < bytes.size()) {
    for (BodyHash& hash : hashes_) {
      hash.hasher.update(bytes.substr(i));
    }
  }
}

void Verifier::headerByte(char c) {
  if (pending_cr_) {
    pending_cr_ = false;
    if (c == '\n') {
      headerLineEnd();
      return;
    }
    if (header_.size() < MaxHeaderBytes) {
      header_ += '\r'; // a bare CR is an ordinary byte
    }
    at_line_start_ = false;
  }
  if (c == '\r') {
    pending_cr_ = true;
    return;
  }
  if (c == '\n') {
    headerLineEnd();
    return;
  }
  if (header_.size() < MaxHeaderBytes) {
    header_ += c;
  } else {
    header_too_large_ = true;
  }
  at_line_start_ = false;
}

void Verifier::headerLineEnd() {
  if (at_line_start_) {
    startBody();
    return;
  }
  if (header_.size() + 2 <= MaxHeaderBytes) {
    header_ += "\r\n";
  } else {
    header_too_large_ = true;
  }
  at_line_start_ = true;
}

void Verifier::startBody() {
  header_done_ = true;
  if (header_too_large_) {
    header_.clear();
    SignatureResult result;
    result.result = Result::PermError;
    result.reason = "header too large";
    results_.push_back(std::move(result));
    pending_.emplace_back();
    return;
  }
  // Split into fields: a line starting with whitespace continues the field before it.
  std::string_view rest = header_;
  while (!rest.empty()) {
    std::size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == rest.npos ? rest.size() : end + 2);
    if (!fields_.empty() && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      fields_.back() += "\r\n";
      fields_.back() += line;
    } else {
      fields_.emplace_back(line);
    }
  }
  header_.clear();
  header_.shrink_to_fit();

  std::size_t ignored = 0;
  const std::int64_t now = options_.now();
  for (std::size_t f = 0; f < fields_.size(); ++f) {
    const std::string& field = fields_[f];
    if (!text::equalsIgnoreCase(fieldName(field), "DKIM-Signature")) {
      continue;
    }
    if (results_.size() == MaxVerifiedSignatures) {
      ++ignored;
      continue;
    }
    const std::string_view value = std::string_view(field).substr(field.find(':') + 1);
    SignatureParse parse = parseSignature(value);
    SignatureResult result;
    Pending pending;
    pending.field = f;
    if (!parse.ok()) {
      // Report what can be read of a broken signature.
      auth::TagList tags = auth::parseTagList(value);
      auto tag = [&tags](std::string_view name) {
        auto found = tags.find(name);
        return found ? std::string(*found) : std::string();
      };
      result.domain = tag("d");
      result.selector = tag("s");
      result.identity = tag("i");
      result.algorithm = tag("a");
      result.header_b = auth::withoutWhitespace(tag("b")).substr(0, HeaderBLength);
      result.result = Result::PermError;
      result.reason = std::move(parse.permerror);
      results_.push_back(std::move(result));
      pending_.push_back(std::move(pending));
      continue;
    }
    const Signature& sig = parse.signature;
    result.domain = sig.domain;
    result.selector = sig.selector;
    result.identity = sig.identity;
    result.algorithm = std::string(algorithmName(sig.algorithm));
    result.header_b = sig.b_base64.substr(0, HeaderBLength);
    if (sig.expiration && *sig.expiration + options_.clock_skew < now) {
      result.result = Result::PermError;
      result.reason = "signature expired";
    } else if (sig.timestamp && *sig.timestamp > now + options_.clock_skew) {
      result.result = Result::PermError;
      result.reason = "signature timestamp in the future";
    } else if (sig.body_length && options_.body_length == BodyLengthPolicy::Refuse) {
      result.result = Result::Policy;
      result.reason = "signature covers part of the body only (l=)";
    } else {
      // One body hasher per distinct (canonicalization, l=).
      std::size_t h = 0;
      while (h < hashes_.size() && !(hashes_[h].hasher.canon() == sig.body_canon &&
                                     hashes_[h].hasher.limit() == sig.body_length)) {
        ++h;
      }
      if (h == hashes_.size()) {
        hashes_.push_back(BodyHash{BodyHasher(sig.body_canon, sig.body_length), {}});
      }
      pending.hash = h;
      pending.state = Pending::State::AwaitBody;
      result.result = Result::Neutral;
      result.reason = "not verified yet";
    }
    pending.signature = std::move(parse.signature);
    results_.push_back(std::move(result));
    pending_.push_back(std::move(pending));
  }
  if (ignored > 0) {
    notes_.push_back(fmt::format("{} DKIM-Signature field{} past the first {} ignored", ignored,
                                 ignored == 1 ? "" : "s", MaxVerifiedSignatures));
  }
  if (results_.empty()) {
    SignatureResult none;
    none.reason = "no signature";
    results_.push_back(std::move(none));
    pending_.emplace_back();
  }
}

void Verifier::finish() {
  if (finished_) {
    return;
  }
  if (!header_done_) {
    if (pending_cr_) {
      pending_cr_ = false;
      header_ += '\r';
    }
    startBody(); // a message without a body
  }
  finished_ = true;
  for (BodyHash& hash : hashes_) {
    hash.digest = hash.hasher.finish();
  }
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    Pending& pending = pending_[i];
    if (pending.state != Pending::State::AwaitBody) {
      continue;
    }
    const Signature& sig = pending.signature;
    const BodyHash& hash = hashes_[pending.hash];
    if (sig.body_length && *sig.body_length > hash.hasher.canonicalLength()) {
      finishSignature(i, Result::PermError,
                      fmt::format("l={} is longer than the body ({} bytes)", *sig.body_length,
                                  hash.hasher.canonicalLength()));
    } else if (hash.digest != sig.body_hash) {
      finishSignature(i, Result::Fail, "body hash did not verify");
    } else {
      pending.state = Pending::State::AwaitKey;
      results_[i].reason = "waiting for the key";
    }
  }
}

std::vector<KeyLookup> Verifier::keyLookups() const {
  std::vector<KeyLookup> lookups;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].state == Pending::State::AwaitKey) {
      lookups.push_back({i, pending_[i].signature.keyName()});
    }
  }
  return lookups;
}

void Verifier::finishSignature(std::size_t index, Result result, std::string reason) {
  pending_[index].state = Pending::State::Done;
  results_[index].result = result;
  results_[index].reason = std::move(reason);
}

void Verifier::supplyKey(std::size_t index, const KeyAnswer& answer) {
  if (index >= pending_.size() || pending_[index].state != Pending::State::AwaitKey) {
    return;
  }
  const Signature& sig = pending_[index].signature;
  switch (answer.outcome) {
  case KeyAnswer::Outcome::TempFail:
    finishSignature(index, Result::TempError, "key lookup failed temporarily");
    return;
  case KeyAnswer::Outcome::NoRecord:
    finishSignature(index, Result::PermError, "no key");
    return;
  case KeyAnswer::Outcome::Found:
    break;
  }
  KeySelection selection = selectKeyRecord(answer.txts);
  if (!selection.record) {
    finishSignature(index, Result::PermError, selection.permerror);
    return;
  }
  const KeyRecord& record = *selection.record;
  results_[index].testing = record.testing;
  if (record.revoked) {
    finishSignature(index, Result::PermError, "key revoked");
    return;
  }
  const KeyType wanted =
      sig.algorithm == Algorithm::Ed25519Sha256 ? KeyType::Ed25519 : KeyType::Rsa;
  if (record.type != wanted) {
    finishSignature(index, Result::PermError,
                    fmt::format("key type k={} does not match a={}",
                                record.type == KeyType::Rsa ? "rsa" : "ed25519",
                                algorithmName(sig.algorithm)));
    return;
  }
  if (record.strict_identity) {
    std::string_view identity_domain =
        std::string_view(sig.identity).substr(sig.identity.rfind('@') + 1);
    if (!text::equalsIgnoreCase(identity_domain, sig.domain)) {
      finishSignature(index, Result::PermError, "key has t=s but i= is a subdomain of d=");
      return;
    }
  }
  PublicKeyLoad key = loadPublicKey(record, options_.minimum_rsa_bits);
  if (!key.ok()) {
    finishSignature(index, Result::PermError, key.permerror);
    return;
  }
  std::vector<std::string_view> fields(fields_.begin(), fields_.end());
  const std::string& field = fields_[pending_[index].field];
  const std::string signature_field = field.substr(0, field.find(':') + 1) + sig.value_without_b;
  const std::string data =
      signedHeaderData(sig.header_canon, fields, sig.signed_headers, signature_field);
  if (!verifyData(sig.algorithm, key.key.get(), data, sig.signature)) {
    finishSignature(index, Result::Fail, "signature did not verify");
    return;
  }
  finishSignature(index, Result::Pass,
                  record.testing ? "good signature (key in testing mode)" : "good signature");
}

} // namespace upesi::dkim
