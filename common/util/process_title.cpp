#include "common/util/process_title.hpp"

#include <algorithm>
#include <cstring>
#include <sys/prctl.h>
#include <unistd.h>

namespace upesi {
namespace {
char* title_area = nullptr;
std::size_t title_size = 0;
// The environment's new home. setenv() replaces the array with one of its own and drops this
// one; it stays reachable here, where leak checkers look for it.
[[gnu::used]] char** moved_environ = nullptr;
} // namespace

void initProcessTitle(int argc, char** argv) {
  if (argc <= 0 || argv == nullptr || argv[0] == nullptr) {
    return;
  }
  // The argument strings are contiguous; their span is the room for a title.
  char* end = argv[0] + std::strlen(argv[0]);
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == end + 1) {
      end = argv[i] + std::strlen(argv[i]);
    }
  }
  // The environment strings usually follow; as nginx does, they move to the heap and their
  // room joins the title's, so a long title (process_title's counters) is not cut short. The
  // kernel shows a title that runs past the arguments (Linux 5.2 and later).
  if (environ != nullptr && environ[0] == end + 1) {
    std::size_t count = 0;
    while (environ[count] != nullptr) {
      ++count;
    }
    char** moved = new char*[count + 1];
    for (std::size_t i = 0; i < count; ++i) {
      if (environ[i] == end + 1) {
        end = environ[i] + std::strlen(environ[i]);
      }
      moved[i] = ::strdup(environ[i]);
    }
    moved[count] = nullptr;
    moved_environ = moved;
    environ = moved;
  }
  title_area = argv[0];
  title_size = static_cast<std::size_t>(end - argv[0]);
}

void setProcessTitle(const std::string& title) {
  ::prctl(PR_SET_NAME, title.substr(0, 15).c_str(), 0, 0, 0);
  if (title_area == nullptr || title_size == 0) {
    return;
  }
  std::size_t n = std::min(title.size(), title_size);
  std::memcpy(title_area, title.data(), n);
  std::memset(title_area + n, '\0', title_size - n + 1);
}

} // namespace upesi
