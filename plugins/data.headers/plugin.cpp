// data.headers: the old name of the headers plugin. It reads data.headers.ini with its own
// defaults (see README.md) and records its results under "data.headers", as it always has.
#include "plugins/headers/headers_plugin.hpp"

std::unique_ptr<upesi::Plugin> upesi_builtin_data_headers() {
  return upesi::plugins::headers::makeHeadersPlugin(
      {"data.headers.ini",
       {"+check.duplicate_singular", "+check.missing_required", "-check.invalid_date",
        "+reject.duplicate_singular", "-reject.missing_required", "-reject.invalid_date"},
       "invalid_date(unparsable)",
       "The Date header is not a valid date"});
}
