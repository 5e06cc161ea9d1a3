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

Result<std::monostate> dropPrivileges(const std::string& user, const std::string& group) {
  if (user.empty() && group.empty()) {
    return std::monostate{};
  }
  gid_t gid = ::getgid();
  uid_t uid = ::getuid();
  if (!group.empty()) {
    unsigned int id = 0;
    if (parseId(group, id)) {
      gid = id;
    } else if (const struct group* g = ::getgrnam(group.c_str()); g != nullptr) {
      gid = g->gr_gid;
    } else {
      return Error{fmt::format("smtp.ini group: no group \"{}\"", group)};
    }
  }
  if (!user.empty()) {
    unsigned int id = 0;
    if (parseId(user, id)) {
      uid = id;
    } else if (const passwd* p = ::getpwnam(user.c_str()); p != nullptr) {
      uid = p->pw_uid;
      if (group.empty()) {
        gid = p->pw_gid;
      }
    } else {
      return Error{fmt::format("smtp.ini user: no user \"{}\"", user)};
    }
  }
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
