#include "common/config/config.hpp"

#include "common/config/formats.hpp"
#include "common/config/text_checks.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::config {

Result<FileBytes> readFileBytes(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return FileBytes{};
    }
    return Error{fmt::format("{}: {}", path.string(), std::strerror(errno))};
  }
  FileBytes out{true, {}};
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Error{fmt::format("{}: is a directory", path.string())};
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno;
      ::close(fd);
      return Error{fmt::format("{}: {}", path.string(), std::strerror(err))};
    }
    if (n == 0) {
      break;
    }
    if (out.bytes.size() + static_cast<std::size_t>(n) > MaxConfigFileBytes) {
      ::close(fd);
      return Error{
          fmt::format("{}: file is larger than {} bytes", path.string(), MaxConfigFileBytes)};
    }
    out.bytes.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Config::Config(std::filesystem::path config_dir, std::filesystem::path defaults_dir)
    : config_dir_(std::move(config_dir)), defaults_dir_(std::move(defaults_dir)) {}

Result<std::filesystem::path> Config::resolve(const std::string& name) const {
  std::filesystem::path p(name);
  if (p.is_absolute()) {
    return p;
  }
  auto normal = p.lexically_normal();
  if (name.empty() || normal.empty() || *normal.begin() == "..") {
    return Error{fmt::format("config name \"{}\" leaves the config directory", name)};
  }
  return config_dir_ / normal;
}

std::string Config::cacheKey(const std::string& name, ConfigType type, const ReadOptions& o) {
  std::string key = fmt::format("{}\x1f{}", name, toString(type));
  for (const auto& b : o.booleans) {
    key += '\x1f';
    key += b;
  }
  for (const auto& layer : o.layers) {
    key += "\x1f@";
    key += layer.string();
  }
  return key;
}

void Config::reportError(const std::string& message) const {
  if (on_error_) {
    on_error_(message);
  }
}

Result<nlohmann::json> Config::load(const std::string& name, ConfigType type,
                                    const ReadOptions& options) const {
  auto path = resolve(name);
  if (!path) {
    return Error{path.error()};
  }
  auto booleans = parseBooleanDecls(options.booleans);
  nlohmann::json merged = emptyConfig(type);
  bool mergeable = type == ConfigType::Ini || type == ConfigType::Json || type == ConfigType::Yaml;

  std::vector<std::filesystem::path> layers;
  if (!defaults_dir_.empty() && !std::filesystem::path(name).is_absolute()) {
    layers.push_back(defaults_dir_ / std::filesystem::path(name).lexically_normal());
  }
  layers.insert(layers.end(), options.layers.begin(), options.layers.end());
  layers.push_back(*path);

  for (const auto& file : layers) {
    auto bytes = readFileBytes(file);
    if (!bytes) {
      return Error{bytes.error()};
    }
    if (!bytes->exists) {
      continue;
    }
    auto parsed = parseConfig(type, bytes->bytes, file.string(), booleans);
    if (!parsed) {
      return Error{parsed.error()};
    }
    if (mergeable) {
      deepMerge(merged, *parsed);
    } else {
      merged = std::move(parsed).value();
    }
  }
  if (type == ConfigType::Ini) {
    applyBooleanDefaults(merged, booleans);
  }
  return merged;
}

Result<nlohmann::json> Config::get(const std::string& name, ConfigType type,
                                   const ReadOptions& options) {
  auto key = cacheKey(name, type, options);
  if (auto it = cache_.find(key); it != cache_.end()) {
    return it->second.value;
  }
  auto loaded = load(name, type, options);
  if (!loaded) {
    return loaded;
  }
  cache_[key] = Entry{name, type, options, *loaded};
  return loaded;
}

std::string Config::getString(const std::string& name, const std::string& fallback) {
  auto v = get(name, ConfigType::Value);
  if (!v) {
    reportError(v.error());
    return fallback;
  }
  if (v->is_string()) {
    return v->get<std::string>();
  }
  if (v->is_number()) {
    return v->dump();
  }
  return fallback;
}

long long Config::getInt(const std::string& name, long long fallback) {
  auto v = get(name, ConfigType::Value);
  if (!v) {
    reportError(v.error());
    return fallback;
  }
  if (v->is_number_integer()) {
    return v->get<long long>();
  }
  return fallback;
}

std::vector<std::string> Config::getList(const std::string& name) {
  auto v = get(name, ConfigType::List);
  if (!v) {
    reportError(v.error());
    return {};
  }
  return v->get<std::vector<std::string>>();
}

nlohmann::json Config::getIni(const std::string& name, const ReadOptions& options) {
  auto v = get(name, ConfigType::Ini, options);
  if (!v) {
    reportError(v.error());
    nlohmann::json empty = emptyConfig(ConfigType::Ini);
    applyBooleanDefaults(empty, parseBooleanDecls(options.booleans));
    return empty;
  }
  return *v;
}

void Config::onChange(const std::string& name, ChangeCallback callback) {
  callbacks_.emplace(name, std::move(callback));
}

void Config::fileChanged(const std::string& name) {
  bool changed = false;
  for (auto& [key, entry] : cache_) {
    if (entry.name != name) {
      continue;
    }
    auto fresh = load(entry.name, entry.type, entry.options);
    if (!fresh) {
      reportError(fmt::format("{} (keeping the previous version)", fresh.error()));
      continue;
    }
    if (*fresh != entry.value) {
      entry.value = std::move(fresh).value();
      changed = true;
    }
  }
  if (!changed) {
    return;
  }
  auto [first, last] = callbacks_.equal_range(name);
  std::vector<ChangeCallback> to_call;
  for (auto it = first; it != last; ++it) {
    to_call.push_back(it->second);
  }
  for (auto& cb : to_call) {
    cb(name);
  }
}

std::vector<std::string> Config::namesRead() const {
  std::vector<std::string> names;
  for (const auto& [key, entry] : cache_) {
    names.push_back(entry.name);
  }
  return names;
}

} // namespace upesi::config
