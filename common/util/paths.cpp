#include "common/util/paths.hpp"

#include <cstdlib>

#include "build_info.hpp"

namespace upesi {

std::filesystem::path defaultsDir() {
  if (const char* env = std::getenv("UPESI_DEFAULTS_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(UPESI_INSTALLED_ETC, ec)) {
    return UPESI_INSTALLED_ETC;
  }
  return UPESI_SOURCE_ETC;
}

} // namespace upesi
