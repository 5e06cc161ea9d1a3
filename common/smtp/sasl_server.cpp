#include "common/smtp/sasl_server.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <chrono>

namespace upesi::smtp {

Result<SaslCredentials> parsePlainResponse(std::string_view decoded) {
  auto first = decoded.find('\0');
  auto second = first == std::string_view::npos ? first : decoded.find('\0', first + 1);
  if (second == std::string_view::npos ||
      decoded.find('\0', second + 1) != std::string_view::npos) {
    return Error{"PLAIN response is not authzid NUL user NUL password"};
  }
  SaslCredentials c;
  std::string_view authzid = decoded.substr(0, first);
  c.user = std::string(decoded.substr(first + 1, second - first - 1));
  c.password = std::string(decoded.substr(second + 1));
  if (!authzid.empty() && authzid != c.user) {
    return Error{"authorization identity differs from the user"};
  }
  return c;
}

Result<SaslCredentials> parseCramMd5Response(std::string_view decoded) {
  auto space = decoded.rfind(' ');
  if (space == std::string_view::npos || space == 0) {
    return Error{"CRAM-MD5 response is not user SP digest"};
  }
  SaslCredentials c;
  c.user = std::string(decoded.substr(0, space));
  for (char ch : decoded.substr(space + 1)) {
    bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    if (!hex) {
      return Error{"CRAM-MD5 digest is not hexadecimal"};
    }
    c.digest += ch >= 'A' && ch <= 'F' ? static_cast<char>(ch + 32) : ch;
  }
  if (c.digest.size() != 32) {
    return Error{"CRAM-MD5 digest is not 16 bytes"};
  }
  return c;
}

std::string cramMd5Challenge(std::string_view host) {
  unsigned char random[8];
  RAND_bytes(random, sizeof random);
  std::uint64_t r = 0;
  for (unsigned char b : random) {
    r = r << 8 | b;
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return fmt::format("<{}.{}@{}>", r, now, host);
}

std::string cramMd5Digest(std::string_view challenge, std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_md5(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(challenge.data()), challenge.size(), md, &len);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", md[i]);
  }
  return hex;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

} // namespace upesi::smtp
