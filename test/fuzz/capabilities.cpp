// The SMTP client's reading of an EHLO reply (common/smtp_client/capabilities): the lines a
// remote server lists after its greeting.
//
// Input: the reply's lines, as the reply parser leaves them (code and separator gone), one a
// line (LF).
//
// Invariants: every line after the first is listed as an extension, as sent; the AUTH
// mechanisms are upper-cased, each once, none empty nor holding a space; a size limit only with
// SIZE; keywords are read in any case (the lines upper-cased give the same capabilities).
#include "common/smtp_client/capabilities.hpp"

#include "test/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <string>
#include <vector>

using namespace upesi::smtp_client;

namespace {

ServerReply replyOf(std::string_view input) {
  ServerReply reply{.code = 250, .enhanced = {}, .lines = {}};
  std::size_t start = 0;
  for (;;) {
    const auto end = input.find('\n', start);
    reply.lines.emplace_back(input.substr(start, end - start));
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return reply;
}

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return text;
}

bool sameCapabilities(const Capabilities& a, const Capabilities& b) {
  return a.esmtp == b.esmtp && a.pipelining == b.pipelining && a.size == b.size &&
         a.size_limit == b.size_limit && a.eight_bit_mime == b.eight_bit_mime &&
         a.smtputf8 == b.smtputf8 && a.starttls == b.starttls &&
         a.enhanced_status_codes == b.enhanced_status_codes && a.dsn == b.dsn &&
         a.requiretls == b.requiretls && a.mt_priority == b.mt_priority && a.auth == b.auth;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ServerReply reply = replyOf(upesi::fuzz::asView(data, size));
  const Capabilities caps = parseCapabilities(reply);

  FUZZ_CHECK(caps.esmtp);
  FUZZ_CHECK(caps.extensions.size() + 1 == reply.lines.size());
  FUZZ_CHECK(std::equal(caps.extensions.begin(), caps.extensions.end(), reply.lines.begin() + 1));
  FUZZ_CHECK(caps.size || caps.size_limit == 0);
  for (std::size_t i = 0; i < caps.auth.size(); ++i) {
    const std::string& mechanism = caps.auth[i];
    FUZZ_CHECK(!mechanism.empty());
    FUZZ_CHECK(mechanism == upper(mechanism));
    FUZZ_CHECK(mechanism.find(' ') == std::string::npos);
    FUZZ_CHECK(std::count(caps.auth.begin(), caps.auth.end(), mechanism) == 1);
  }

  ServerReply shouted = reply;
  for (auto& line : shouted.lines) {
    line = upper(std::move(line));
  }
  FUZZ_CHECK(sameCapabilities(parseCapabilities(shouted), caps));
  return 0;
}
