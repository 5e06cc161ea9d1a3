#include "common/redis/lua_script.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cassert>

namespace upesi::redis {

LuaScript::LuaScript(std::string text) : source(std::move(text)) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const int ok = EVP_Digest(source.data(), source.size(), digest, &length, EVP_sha1(), nullptr);
  assert(ok == 1);
  (void)ok;
  sha1.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    sha1 += fmt::format("{:02x}", digest[i]);
  }
}

} // namespace upesi::redis
