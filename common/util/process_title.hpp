// The process title ps shows: "upesi: master", "upesi: worker 2 (generation 3)". Rewrites the
// argv area (saved at start) and sets the kernel's short name.
#pragma once

#include <string>

namespace upesi {

/// Call once, first thing in main, with main's arguments (it moves the environment strings, so
/// before anything keeps a getenv() pointer).
void initProcessTitle(int argc, char** argv);
void setProcessTitle(const std::string& title);

} // namespace upesi
