// Strict base64 (common/util/base64), as SMTP AUTH decodes what a client sends.
//
// Input: bytes, used both as text to decode and as data to encode.
//
// Invariants: decode(encode(x)) == x; encode gives 4 * ceil(n / 3) characters of the alphabet;
// whatever decodes has a length that is a multiple of 4, only alphabet characters and at most
// two '=' at its very end, and encodes back to itself exactly: the bits that padding leaves
// unused are zero (RFC 4648 §3.5 lets a decoder refuse others; this one does, for SASL).
#include "common/util/base64.hpp"

#include "test/fuzz/fuzz_check.hpp"

using namespace upesi;

namespace {

bool inAlphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = fuzz::asView(data, size);

  const std::string encoded = base64Encode(bytes);
  FUZZ_CHECK(encoded.size() == (bytes.size() + 2) / 3 * 4);
  const auto decoded = base64Decode(encoded);
  FUZZ_CHECK(decoded.has_value() && *decoded == bytes);

  const auto text_decoded = base64Decode(bytes);
  if (!text_decoded || bytes.empty()) {
    FUZZ_CHECK(text_decoded.has_value() || !bytes.empty());
    return 0;
  }
  FUZZ_CHECK(bytes.size() % 4 == 0);
  const std::size_t padding = bytes.size() - std::min(bytes.find('='), bytes.size());
  FUZZ_CHECK(padding <= 2);
  for (std::size_t i = 0; i < bytes.size() - padding; ++i) {
    FUZZ_CHECK(inAlphabet(bytes[i]));
  }
  for (std::size_t i = bytes.size() - padding; i < bytes.size(); ++i) {
    FUZZ_CHECK(bytes[i] == '=');
  }
  FUZZ_CHECK(text_decoded->size() == bytes.size() / 4 * 3 - padding);
  FUZZ_CHECK(base64Encode(*text_decoded) == bytes);
  return 0;
}
