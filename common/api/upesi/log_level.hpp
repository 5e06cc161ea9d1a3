// Haraka's log levels, numbered as Haraka numbers them (lower is more severe).
#pragma once

namespace upesi {

enum class LogLevel : int {
  Emerg = 0,
  Alert = 1,
  Crit = 2,
  Error = 3,
  Warn = 4,
  Notice = 5,
  Info = 6,
  Debug = 7,
  Protocol = 8,
  Data = 9,
};

} // namespace upesi
