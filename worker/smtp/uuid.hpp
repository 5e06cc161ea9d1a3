// Connection uuids as Haraka forms them: an upper-case RFC 4122 version 4 uuid; a transaction
// is "<connection uuid>.<n>".
#pragma once

#include <string>

namespace upesi::smtp {

/// A random upper-case v4 uuid (getrandom, so forked workers never repeat each other).
std::string newUuid();

} // namespace upesi::smtp
