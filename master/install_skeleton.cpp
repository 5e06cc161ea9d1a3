#include "master/install_skeleton.hpp"

#include "common/util/paths.hpp"

#include <fmt/format.h>

#include <fstream>
#include <unistd.h>

namespace upesi::master {
namespace fs = std::filesystem;
namespace {

// Run as root, upesi refuses config that others may write, whatever the umask was.
void removeGroupAndOtherWrite(const fs::path& path) {
  std::error_code ec;
  fs::permissions(path, fs::perms::group_write | fs::perms::others_write, fs::perm_options::remove,
                  ec);
}

} // namespace

Result<std::vector<std::string>> installSkeleton(const fs::path& dir) {
  std::vector<std::string> created;
  std::error_code ec;
  auto skeleton = defaultsDir() / "skeleton";
  if (!fs::is_directory(skeleton, ec)) {
    return Error{fmt::format("the shipped skeleton {} is missing", skeleton.string())};
  }
  // queue/, maildrop/ (local programs' mail, from sendmail) and the state outbound keeps
  // (fetched MTA-STS policies, TLS report counts) are the directories the server writes.
  for (const char* sub : {".", "config", "plugins", "queue", "maildrop", "mta-sts", "tls-rpt"}) {
    auto path = (dir / sub).lexically_normal();
    if (!fs::exists(path, ec)) {
      if (!fs::create_directories(path, ec)) {
        return Error{fmt::format("{}: {}", path.string(), ec.message())};
      }
      removeGroupAndOtherWrite(path);
      created.push_back(path.string());
    }
  }
  for (auto it = fs::recursive_directory_iterator(skeleton, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      return Error{fmt::format("{}: {}", skeleton.string(), ec.message())};
    }
    auto target = dir / fs::relative(it->path(), skeleton);
    if (it->is_directory()) {
      if (fs::create_directories(target, ec)) {
        removeGroupAndOtherWrite(target);
      }
      continue;
    }
    if (fs::exists(target, ec)) {
      continue;
    }
    if (!fs::copy_file(it->path(), target, ec)) {
      return Error{fmt::format("{}: {}", target.string(), ec.message())};
    }
    removeGroupAndOtherWrite(target);
    created.push_back(target.string());
  }
  // `me` is this machine's name, as Haraka's -i writes it.
  auto me = dir / "config" / "me";
  if (!fs::exists(me, ec)) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
      std::snprintf(host, sizeof host, "localhost");
    }
    std::ofstream out(me);
    out << host << '\n';
    if (!out) {
      return Error{fmt::format("{}: cannot write", me.string())};
    }
    removeGroupAndOtherWrite(me);
    created.push_back(me.string());
  }
  return created;
}

} // namespace upesi::master
