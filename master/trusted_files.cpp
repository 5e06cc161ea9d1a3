#include "master/trusted_files.hpp"

#include <fmt/format.h>

#include <pwd.h>
#include <sys/stat.h>

namespace upesi::master {
namespace fs = std::filesystem;
namespace {

std::string userName(uid_t uid) {
  if (const passwd* p = ::getpwuid(uid); p != nullptr) {
    return p->pw_name;
  }
  return std::to_string(uid);
}

// Follows symbolic links: what is read or loaded is the target.
void checkOne(const fs::path& path, std::vector<std::string>& errors) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return; // gone, or never there: the readers report what they miss
  }
  const char* what = S_ISDIR(st.st_mode) ? "directory" : "file";
  if (st.st_uid != 0) {
    errors.push_back(fmt::format("{}: {} owned by {}, not root: running as root, upesi only "
                                 "trusts config and plugins that root alone can change "
                                 "(chown root)",
                                 path.string(), what, userName(st.st_uid)));
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    errors.push_back(fmt::format("{}: {} writable by {} (mode {:04o}): running as root, upesi "
                                 "only trusts config and plugins that root alone can change "
                                 "(chmod go-w)",
                                 path.string(), what,
                                 (st.st_mode & S_IWOTH) != 0 ? "others" : "its group",
                                 st.st_mode & 07777));
  }
}

} // namespace

std::vector<std::string> checkTrustedFiles(const fs::path& install_dir) {
  std::vector<std::string> errors;
  checkOne(install_dir, errors);
  for (const char* sub : {"config", "plugins"}) {
    auto top = install_dir / sub;
    std::error_code ec;
    if (!fs::is_directory(top, ec)) {
      continue;
    }
    checkOne(top, errors);
    for (auto it = fs::recursive_directory_iterator(top, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      checkOne(it->path(), errors);
    }
  }
  return errors;
}

} // namespace upesi::master
