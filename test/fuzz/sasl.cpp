// The server side of SMTP AUTH (common/smtp/sasl_server): a client's base64 response decoded
// (common/util/base64) and read as PLAIN or CRAM-MD5.
//
// Input: the base64 text the client sends after "334".
//
// Invariants: PLAIN credentials never hold a NUL and, written back as "\0user\0password", read
// back the same (an authzid must equal the user); CRAM-MD5 credentials are a user and 32
// lower-case hex digits that read back the same; constantTimeEquals agrees with ==.
#include "common/smtp/sasl_server.hpp"
#include "common/util/base64.hpp"
#include "test/fuzz/fuzz_check.hpp"

using namespace upesi;
using namespace upesi::smtp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::asView(data, size);
  const auto decoded = base64Decode(text);
  // The parsers also see the raw bytes: a mechanism's response is bytes whatever carried it.
  for (const std::string_view response : {decoded ? std::string_view(*decoded) : text, text}) {
    if (auto plain = parsePlainResponse(response)) {
      FUZZ_CHECK(plain->user.find('\0') == std::string::npos);
      FUZZ_CHECK(plain->password.find('\0') == std::string::npos);
      FUZZ_CHECK(plain->digest.empty());
      std::string again_text;
      again_text += '\0';
      again_text += plain->user;
      again_text += '\0';
      again_text += plain->password;
      auto again = parsePlainResponse(again_text);
      FUZZ_CHECK(again.ok() && again->user == plain->user && again->password == plain->password);
      auto with_authzid = parsePlainResponse(plain->user + again_text);
      FUZZ_CHECK(with_authzid.ok() && with_authzid->user == plain->user);
      FUZZ_CHECK(response.size() >= plain->user.size() + plain->password.size() + 2);
    }
    if (auto cram = parseCramMd5Response(response)) {
      FUZZ_CHECK(!cram->user.empty());
      FUZZ_CHECK(cram->digest.size() == 32);
      for (char c : cram->digest) {
        FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
      }
      auto again = parseCramMd5Response(cram->user + " " + cram->digest);
      FUZZ_CHECK(again.ok() && again->user == cram->user && again->digest == cram->digest);
    }
  }
  const std::size_t half = text.size() / 2;
  FUZZ_CHECK(constantTimeEquals(text.substr(0, half), text.substr(half, half)) ==
             (text.substr(0, half) == text.substr(half, half)));
  return 0;
}
