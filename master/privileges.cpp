#include "master/privileges.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace upesi::master {
namespace {

bool parseId(const std::string& text, unsigned int& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

} // namespace

Result<ProcessIds> resolveIds(const std::string& user, const std::string& group) {
  ProcessIds ids{::getuid(), ::getgid()};
  if (!group.empty()) {
    unsigned int id = 0;
    if (parseId(group, id)) {
      ids.gid = id;
    } else if (const struct group* g = ::getgrnam(group.c_str()); g != nullptr) {
      ids.gid = g->gr_gid;
    } else {
      return Error{fmt::format("smtp.ini group: no group \"{}\"", group)};
    }
  }
  if (!user.empty()) {
    unsigned int id = 0;
    if (parseId(user, id)) {
      ids.uid = id;
    } else if (const passwd* p = ::getpwnam(user.c_str()); p != nullptr) {
      ids.uid = p->pw_uid;
      if (group.empty()) {
        ids.gid = p->pw_gid;
      }
    } else {
      return Error{fmt::format("smtp.ini user: no user \"{}\"", user)};
    }
  }
  return ids;
}

Result<std::monostate> dropPrivileges(const std::string& user, const std::string& group) {
  if (user.empty() && group.empty()) {
    return std::monostate{};
  }
  auto ids = resolveIds(user, group);
  if (!ids) {
    return Error{ids.error()};
  }
  const gid_t gid = ids->gid;
  const uid_t uid = ids->uid;
  if (::setgroups(0, nullptr) != 0 && errno != EPERM) {
    return Error{fmt::format("setgroups: {}", std::strerror(errno))};
  }
  if (::setgid(gid) != 0) {
    return Error{fmt::format("setgid({}): {}", gid, std::strerror(errno))};
  }
  if (::setuid(uid) != 0) {
    return Error{fmt::format("setuid({}): {}", uid, std::strerror(errno))};
  }
  return std::monostate{};
}

} // namespace upesi::master
