#include "worker/server/config_watcher.hpp"

#include <filesystem>

namespace upesi::worker {

struct ConfigWatcher::DirWatch {
  UvHandle<uv_fs_event_t> handle; // its data is this DirWatch
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
  for (const auto& dir : dirs_) {
    if (dir->relative_dir == relative_dir) {
      return;
    }
  }
  auto full = config_.configDir() / relative_dir;
  auto dir = std::make_unique<DirWatch>();
  dir->owner = this;
  dir->relative_dir = relative_dir;
  dir->handle.open(loop_, uv_fs_event_init, dir.get());
  if (uv_fs_event_start(dir->handle.get(), onFsEvent, full.c_str(), 0) != 0) {
    return; // not there yet: nothing to watch; a later refresh may find it
  }
  dirs_.push_back(std::move(dir));
}

void ConfigWatcher::onFsEvent(uv_fs_event_t* handle, const char* filename, int /*events*/,
                              int status) {
  auto* dir = static_cast<DirWatch*>(handle->data);
  if (dir == nullptr || status != 0 || filename == nullptr) {
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
