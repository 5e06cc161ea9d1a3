#include "worker/server/config_watcher.hpp"

#include <filesystem>

namespace upesi::worker {

struct ConfigWatcher::DirWatch {
  uv_fs_event_t handle{};
  ConfigWatcher* owner = nullptr;
  std::string relative_dir; // "" for the config directory itself
};

ConfigWatcher::ConfigWatcher(uv_loop_t* loop, config::Config& config,
                             std::chrono::milliseconds debounce)
    : loop_(loop), config_(config), debounce_(debounce) {
  timer_.open(loop_, uv_timer_init, this);
  refresh();
}

ConfigWatcher::~ConfigWatcher() {
  close();
}

void ConfigWatcher::close() {
  for (auto* dir : dirs_) {
    dir->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&dir->handle),
             [](uv_handle_t* h) { delete static_cast<DirWatch*>(h->data); });
  }
  dirs_.clear();
  timer_.reset();
}

void ConfigWatcher::refresh() {
  std::set<std::string> dirs{""};
  for (const auto& name : config_.namesRead()) {
    std::filesystem::path p(name);
    if (!p.is_absolute()) {
      dirs.insert(p.lexically_normal().parent_path().string());
    }
  }
  for (const auto& d : dirs) {
    watchDir(d);
  }
}

void ConfigWatcher::watchDir(const std::string& relative_dir) {
  for (auto* dir : dirs_) {
    if (dir->relative_dir == relative_dir) {
      return;
    }
  }
  auto full = config_.configDir() / relative_dir;
  auto* dir = new DirWatch{};
  dir->owner = this;
  dir->relative_dir = relative_dir;
  dir->handle.data = dir;
  uv_fs_event_init(loop_, &dir->handle);
  if (uv_fs_event_start(&dir->handle, onFsEvent, full.c_str(), 0) != 0) {
    // Not there yet: nothing to watch; a later refresh may find it.
    uv_close(reinterpret_cast<uv_handle_t*>(&dir->handle),
             [](uv_handle_t* h) { delete static_cast<DirWatch*>(h->data); });
    return;
  }
  dirs_.push_back(dir);
}

void ConfigWatcher::onFsEvent(uv_fs_event_t* handle, const char* filename, int /*events*/,
                              int status) {
  auto* dir = static_cast<DirWatch*>(handle->data);
  if (dir->owner == nullptr || status != 0 || filename == nullptr) {
    return;
  }
  std::filesystem::path name = std::filesystem::path(dir->relative_dir) / filename;
  auto* self = dir->owner;
  self->pending_.insert(name.lexically_normal().string());
  uv_timer_start(self->timer_.get(), onTimer, static_cast<std::uint64_t>(self->debounce_.count()),
                 0);
}

void ConfigWatcher::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<ConfigWatcher*>(timer->data);
  if (self != nullptr) {
    self->flush();
  }
}

void ConfigWatcher::flush() {
  auto names = std::move(pending_);
  pending_.clear();
  for (const auto& name : names) {
    config_.fileChanged(name);
  }
}

} // namespace upesi::worker
