// Config: Haraka's `<root>/config/<name>` files over shipped defaults, cached per process.
//
// A name is looked up in the install's config directory and in the defaults directory (and in
// the extra layers a read asks for, between the two). For ini, json and yaml the files are
// merged key by key (the install wins); for the flat formats the install's file replaces the
// default one. Results are cached until the file changes (see
// ConfigWatcher) or the cache is cleared. A file that fails to parse is an error naming file and
// line; once a file has parsed, a later broken version keeps the last good one.
//
// Threading: one instance per process, used from one thread.
#pragma once

#include "common/config/config_type.hpp"
#include "common/config/ini_parser.hpp"
#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace upesi::config {

struct ReadOptions {
  /// For ini: the keys to read as booleans, in haraka-config's notation ("+main.enabled").
  std::vector<std::string> booleans;
  /// Files read over the shipped default and under the install's file, lowest first: a
  /// plugin's own defaults, a base plugin's config (see PluginHost).
  std::vector<std::filesystem::path> layers;
};

class Config {
public:
  using ChangeCallback = std::function<void(const std::string& name)>;
  using ErrorCallback = std::function<void(const std::string& message)>;

  /// `config_dir` is `<root>/config`; `defaults_dir` holds the shipped defaults (may be empty).
  Config(std::filesystem::path config_dir, std::filesystem::path defaults_dir);

  /// Reads `name` as `type`, from the cache when it is fresh. Errors name file and line.
  Result<nlohmann::json> get(const std::string& name, ConfigType type,
                             const ReadOptions& options = {});

  /// As get(), with the type taken from the name's extension (else value).
  Result<nlohmann::json> get(const std::string& name) { return get(name, inferConfigType(name)); }

  // Conveniences for core and plugins: on a parse error they log through the error callback
  // and return the fallback.
  std::string getString(const std::string& name, const std::string& fallback = {});
  long long getInt(const std::string& name, long long fallback);
  std::vector<std::string> getList(const std::string& name);
  nlohmann::json getIni(const std::string& name, const ReadOptions& options = {});

  /// Calls `callback` whenever `name` changed on disk and re-read cleanly.
  void onChange(const std::string& name, ChangeCallback callback);
  void setErrorCallback(ErrorCallback callback) { on_error_ = std::move(callback); }

  /// Called by the watcher: re-reads every cached entry of `name`; a broken file keeps the old
  /// value and reports the error.
  void fileChanged(const std::string& name);

  /// Names read so far (so the watcher knows which directories matter).
  std::vector<std::string> namesRead() const;

  void clearCache() { cache_.clear(); }

  const std::filesystem::path& configDir() const { return config_dir_; }
  const std::filesystem::path& defaultsDir() const { return defaults_dir_; }

  /// The path that a name resolves to in the install (even if it does not exist), or an error
  /// if the name tries to leave the config directory.
  Result<std::filesystem::path> resolve(const std::string& name) const;

private:
  struct Entry {
    std::string name;
    ConfigType type;
    ReadOptions options;
    nlohmann::json value;
  };

  Result<nlohmann::json> load(const std::string& name, ConfigType type,
                              const ReadOptions& options) const;
  static std::string cacheKey(const std::string& name, ConfigType type, const ReadOptions& o);
  void reportError(const std::string& message) const;

  std::filesystem::path config_dir_;
  std::filesystem::path defaults_dir_;
  std::map<std::string, Entry> cache_;
  std::multimap<std::string, ChangeCallback> callbacks_;
  ErrorCallback on_error_;
};

/// Reads a whole file; a missing file is std::nullopt-like: ok() with `exists=false`.
struct FileBytes {
  bool exists = false;
  std::string bytes;
};
Result<FileBytes> readFileBytes(const std::filesystem::path& path);

} // namespace upesi::config
