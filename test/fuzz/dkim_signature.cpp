// The DKIM-Signature parser and the verifier (common/auth/dkim_signature, dkim_verifier): a
// header field value as a signer wrote it.
//
// Input: the value (what follows "DKIM-Signature:").
//
// Invariants: parsing is deterministic; a failure has a reason and leaves an empty Signature;
// a success has from in h=, i= within d=, a 32-byte bh=, x= not before t=, and emptying b= again
// changes nothing. A message carrying the field verifies to the same results however its bytes
// are split, and never asks for a key of a signature that did not parse.
#include "common/auth/dkim_signature.hpp"

#include "common/auth/dkim_verifier.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <string>

using namespace upesi::dkim;

namespace {

std::vector<SignatureResult> verifyMessage(const std::string& message,
                                           const std::vector<std::size_t>& chunks) {
  VerifyOptions options;
  options.now = [] { return std::int64_t{1764900000}; };
  Verifier verifier(options);
  if (chunks.empty()) {
    verifier.feed(message);
  } else {
    std::size_t at = 0;
    for (std::size_t chunk : chunks) {
      if (at >= message.size()) {
        break;
      }
      verifier.feed(std::string_view(message).substr(at, chunk));
      at += chunk;
    }
  }
  verifier.finish();
  for (const KeyLookup& lookup : verifier.keyLookups()) {
    FUZZ_CHECK(lookup.index < verifier.results().size());
    verifier.supplyKey(lookup.index,
                       {KeyAnswer::Outcome::Found,
                        {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}});
  }
  return verifier.results();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value = upesi::fuzz::asView(data, size);
  const SignatureParse parse = parseSignature(value);
  const SignatureParse again = parseSignature(value);
  FUZZ_CHECK(parse.permerror == again.permerror);
  FUZZ_CHECK(parse.signature.value_without_b == again.signature.value_without_b);

  if (!parse.ok()) {
    FUZZ_CHECK(parse.signature.domain.empty() && parse.signature.signed_headers.empty() &&
               parse.signature.signature.empty());
  } else {
    const Signature& sig = parse.signature;
    const auto& names = sig.signed_headers;
    FUZZ_CHECK(std::find(names.begin(), names.end(), "from") != names.end());
    FUZZ_CHECK(names.size() <= MaxSignedHeaderNames);
    FUZZ_CHECK(isSameOrSubdomain(sig.identity.substr(sig.identity.rfind('@') + 1), sig.domain));
    FUZZ_CHECK(sig.body_hash.size() == 32);
    FUZZ_CHECK(!sig.signature.empty());
    FUZZ_CHECK(!sig.timestamp || !sig.expiration || *sig.timestamp <= *sig.expiration);
    FUZZ_CHECK(withoutSignatureValue(sig.value_without_b) == sig.value_without_b);
  }

  std::string message = "DKIM-Signature:";
  message.append(value);
  message += "\r\nFrom: a@example.com\r\nSubject: fuzz\r\n\r\nbody  \r\n\r\n";
  const auto whole = verifyMessage(message, {});
  const auto pieces =
      verifyMessage(message, upesi::fuzz::chunkSizes(size > 0 ? data[0] : 0, message.size(), 16));
  FUZZ_CHECK(!whole.empty());
  FUZZ_CHECK(whole.size() == pieces.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    FUZZ_CHECK(whole[i].result == pieces[i].result);
    FUZZ_CHECK(whole[i].reason == pieces[i].reason);
    FUZZ_CHECK(whole[i].header_b.size() <= 8);
  }
  return 0;
}
