// The watch page's files, served by the plugin itself: nothing is loaded from elsewhere.
#pragma once

#include <string_view>

namespace upesi::plugins::watch {

struct Asset {
  std::string_view type;
  std::string_view body;
};

/// The file at `name` under /watch/ ("" is the page), or null.
const Asset* findAsset(std::string_view name);

} // namespace upesi::plugins::watch
