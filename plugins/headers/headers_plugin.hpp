// The headers plugin's checks, shared by `headers` (headers.ini, Haraka's defaults) and the old
// name `data.headers` (data.headers.ini, its own documented defaults).
#pragma once

#include <upesi/plugin.hpp>

#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::headers {

struct HeadersFlavor {
  std::string config_file;
  std::vector<std::string> booleans; ///< the checks' defaults, as ini booleans
  std::string unparsable_result;     ///< the invalid_date fail result of an unparsable Date
  std::string unparsable_reply;
};

HeadersFlavor harakaFlavor();

std::unique_ptr<Plugin> makeHeadersPlugin(HeadersFlavor flavor);

} // namespace upesi::plugins::headers
