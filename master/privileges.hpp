// Dropping root after the listeners are bound (smtp.ini user/group).
#pragma once

#include "common/util/result.hpp"

#include <string>
#include <variant>

namespace upesi::master {

/// Switches to `group` then `user` (names or numeric ids; empty: unchanged). Only root can.
Result<std::monostate> dropPrivileges(const std::string& user, const std::string& group);

} // namespace upesi::master
