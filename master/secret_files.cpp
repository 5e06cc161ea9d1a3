#include "master/secret_files.hpp"

#include "common/config/http_config.hpp"
#include "common/tls/tls_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sys/stat.h>

namespace upesi::master {
namespace fs = std::filesystem;
namespace {

// Follows symbolic links: the target is what gets read.
void checkOne(const fs::path& path, const char* holds, std::optional<gid_t> server_gid,
              std::vector<std::string>& warnings) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return; // the readers report a missing file where it matters
  }
  const char* who = nullptr;
  const char* fix = nullptr;
  if ((st.st_mode & S_IROTH) != 0) {
    who = "others";
    fix = "chmod o-r";
  } else if ((st.st_mode & S_IRGRP) != 0 && st.st_gid != server_gid) {
    who = "its group";
    fix = "chmod g-r, or chgrp it to the group upesi runs as";
  }
  if (who != nullptr) {
    warnings.push_back(fmt::format("{}: holds {} but is readable by {} (mode {:04o}): {}",
                                   path.string(), holds, who, st.st_mode & 07777, fix));
  }
}

} // namespace

std::vector<std::string> checkSecretFiles(config::Config& config, std::optional<gid_t> server_gid) {
  std::vector<std::string> warnings;
  if (auto path = config.resolve("auth_flat_file.ini")) {
    checkOne(*path, "passwords", server_gid, warnings);
  }
  if (auto http = config.get("http.ini", config::ConfigType::Ini, config::HttpIniBooleans);
      http && (*http)["main"].contains("token")) {
    if (auto path = config.resolve("http.ini")) {
      checkOne(*path, "the HTTP API's token", server_gid, warnings);
    }
  }
  // A tls.ini that does not read is reported as an error; its default names are still checked.
  auto tls = tls::readTlsConfig(config);
  tls::TlsConfig settings = tls ? *tls : tls::TlsConfig{};
  std::vector<std::string> keys = {settings.server.key};
  if (settings.outbound.key != settings.server.key) {
    keys.push_back(settings.outbound.key);
  }
  for (const auto& key : keys) {
    if (auto path = config.resolve(key)) {
      checkOne(*path, "a private key", server_gid, warnings);
    }
  }
  // Each SNI file holds its key next to its chain.
  if (auto dir = config.resolve(settings.sni_dir)) {
    std::error_code ec;
    std::vector<fs::path> pems;
    for (auto it = fs::directory_iterator(*dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      if (it->path().extension() == ".pem") {
        pems.push_back(it->path());
      }
    }
    std::sort(pems.begin(), pems.end());
    for (const auto& pem : pems) {
      checkOne(pem, "a private key", server_gid, warnings);
    }
  }
  return warnings;
}

} // namespace upesi::master
