// DKIM verification (RFC 6376 section 6) of a whole message streamed in: feed() the bytes as
// they come (header, empty line, body; CRLF or bare LF), finish(), then look up the keys that
// keyLookups() names and hand each answer to supplyKey(). Results are named as RFC 8601 names
// them, with what Authentication-Results reports. No DNS and no clock of its own: both come
// from the caller, so every outcome can be tested.
#pragma once

#include "common/auth/dkim_canon.hpp"
#include "common/auth/dkim_signature.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dkim {

constexpr std::size_t MaxVerifiedSignatures = 8;
constexpr std::size_t MaxHeaderBytes = 1024 * 1024;

enum class Result { None, Pass, Fail, Neutral, Policy, PermError, TempError };

/// The RFC 8601 name: "none", "pass", "fail", "neutral", "policy", "permerror", "temperror".
std::string_view resultName(Result result);

enum class BodyLengthPolicy {
  Ignore, // l= is honoured: only that much of the body is checked
  Refuse, // a signature with l= is a policy result
};

struct VerifyOptions {
  /// Seconds since the epoch; the system clock when empty.
  std::function<std::int64_t()> now;
  std::int64_t clock_skew = 300; // seconds allowed either side for t= and x=
  BodyLengthPolicy body_length = BodyLengthPolicy::Ignore;
  int minimum_rsa_bits = 1024;
};

struct SignatureResult {
  Result result = Result::None;
  std::string reason;
  // For Authentication-Results (empty when the signature did not parse that far):
  std::string domain;    // header.d
  std::string selector;  // header.s
  std::string identity;  // header.i
  std::string algorithm; // header.a
  std::string header_b;  // header.b: the first 8 characters of b=
  bool testing = false;  // the key said t=y
};

struct KeyLookup {
  std::size_t index; // into results()
  std::string name;  // "selector._domainkey.domain", for a TXT query
};

struct KeyAnswer {
  enum class Outcome { Found, NoRecord, TempFail };
  Outcome outcome = Outcome::NoRecord; // NoRecord: NXDOMAIN or no TXT data
  std::vector<std::string> txts;       // Found: each TXT record, its strings joined
};

class Verifier {
public:
  explicit Verifier(VerifyOptions options = {});
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  void feed(std::string_view bytes);
  void finish();

  /// After finish(): the signatures that wait for a key.
  std::vector<KeyLookup> keyLookups() const;
  /// The DNS answer for signature `index`; ignored unless it waits for a key.
  void supplyKey(std::size_t index, const KeyAnswer& answer);

  /// One per DKIM-Signature field verified (top first); a single None for an unsigned
  /// message; a single permerror "header too large" past MaxHeaderBytes. A signature still
  /// waiting for its key reads neutral.
  const std::vector<SignatureResult>& results() const { return results_; }
  /// What was noticed and not a result (signatures past MaxVerifiedSignatures).
  const std::vector<std::string>& notes() const { return notes_; }

private:
  struct Pending;
  struct BodyHash;

  void headerByte(char c);
  void headerLineEnd();
  void startBody();
  void finishSignature(std::size_t index, Result result, std::string reason);

  VerifyOptions options_;
  std::string header_;
  bool header_too_large_ = false;
  bool header_done_ = false;
  bool at_line_start_ = true;
  bool pending_cr_ = false;
  bool finished_ = false;
  std::vector<std::string> fields_;
  std::vector<Pending> pending_; // parallel to results_
  std::vector<BodyHash> hashes_;
  std::vector<SignatureResult> results_;
  std::vector<std::string> notes_;
};

} // namespace upesi::dkim
