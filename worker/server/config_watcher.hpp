// ConfigWatcher: inotify (through libuv) on the install's config directories. A change to a file
// that was read is debounced, then Config::fileChanged re-reads it and calls back whoever read it.
//
// Threading: the loop's thread. The watcher must be closed (or destroyed) before its loop is.
#pragma once

#include "common/config/config.hpp"
#include "common/util/uv_handle.hpp"

#include <uv.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace upesi::worker {

class ConfigWatcher {
public:
  ConfigWatcher(uv_loop_t* loop, config::Config& config,
                std::chrono::milliseconds debounce = std::chrono::milliseconds(500));
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  /// Watches the directories of every name the config has read so far (call again after new
  /// names are read; directories already watched are kept).
  void refresh();
  void close();

private:
  struct DirWatch;
  static void onFsEvent(uv_fs_event_t* handle, const char* filename, int events, int status);
  static void onTimer(uv_timer_t* timer);
  void watchDir(const std::string& relative_dir);
  void flush();

  uv_loop_t* loop_;
  config::Config& config_;
  std::chrono::milliseconds debounce_;
  std::vector<std::unique_ptr<DirWatch>> dirs_;
  UvHandle<uv_timer_t> timer_;
  std::set<std::string> pending_;
};

} // namespace upesi::worker
