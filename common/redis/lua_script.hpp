// A Lua script run with EVALSHA: the source and its SHA-1, which is the name Redis caches it by.
#pragma once

#include <string>

namespace upesi::redis {

struct LuaScript {
  explicit LuaScript(std::string source);

  std::string source;
  std::string sha1; // lowercase hex, as SCRIPT LOAD answers
};

} // namespace upesi::redis
