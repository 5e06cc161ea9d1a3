// Dropping root after the listeners are bound (smtp.ini user/group).
#pragma once

#include "common/util/result.hpp"

#include <string>
#include <sys/types.h>
#include <variant>

namespace upesi::master {

struct ProcessIds {
  uid_t uid;
  gid_t gid;
};

/// The ids smtp.ini user/group name (names or numeric ids; empty: this process's; a user without
/// a group brings their primary group).
Result<ProcessIds> resolveIds(const std::string& user, const std::string& group);

/// Switches to `group` then `user` (names or numeric ids; empty: unchanged). Only root can.
Result<std::monostate> dropPrivileges(const std::string& user, const std::string& group);

} // namespace upesi::master
