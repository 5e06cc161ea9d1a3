#include "common/plugin/plugin_set.hpp"

#include "common/config/text_checks.hpp"
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/builtin_plugins.hpp"
#include "common/plugin/replaced_names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <dlfcn.h>

namespace upesi::plugin {
namespace {

bool isValidPluginName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' ||
           c == '/';
  });
}

std::filesystem::path sharedObjectPath(const std::filesystem::path& install_dir,
                                       const std::string& name) {
  return install_dir / "plugins" / (name + ".so");
}

const BuiltinPlugin* findBuiltin(std::string_view name) {
  for (const auto& b : builtinPlugins()) {
    if (b.name == name) {
      return &b;
    }
  }
  return nullptr;
}

// A shared object does not silently replace the built-in plugin of its name.
std::string builtinClash(const std::filesystem::path& so_path, const std::string& name) {
  return fmt::format("{} has the name of the built-in plugin \"{}\": rename it (and its line in "
                     "config/plugins); a built-in plugin cannot be replaced",
                     so_path.string(), name);
}

// An opened shared object and what it exports, checked against our API version.
struct OpenedLibrary {
  void* handle = nullptr;
  const PluginDescriptor* descriptor = nullptr;
};

Result<OpenedLibrary> openLibrary(const std::filesystem::path& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Error{fmt::format("{}: cannot load: {}", path.string(), why != nullptr ? why : "?")};
  }
  using DescriptorFn = const PluginDescriptor* (*)();
  auto* symbol = ::dlsym(handle, "upesi_plugin_descriptor");
  if (symbol == nullptr) {
    ::dlclose(handle);
    return Error{fmt::format("{}: not an upesi plugin (no upesi_plugin_descriptor; use "
                             "UPESI_PLUGIN)",
                             path.string())};
  }
  auto fn = reinterpret_cast<DescriptorFn>(symbol); // NOLINT: dlsym's documented use
  const PluginDescriptor* descriptor = fn();
  if (descriptor == nullptr || descriptor->api_version != PluginApiVersion) {
    unsigned int version = descriptor == nullptr ? 0U : descriptor->api_version;
    ::dlclose(handle);
    return Error{fmt::format("{}: built for plugin API version {}, this upesi has version {}; "
                             "rebuild the plugin against this version's headers",
                             path.string(), version, PluginApiVersion)};
  }
  if (descriptor->create == nullptr || descriptor->name == nullptr) {
    ::dlclose(handle);
    return Error{fmt::format("{}: incomplete plugin descriptor", path.string())};
  }
  return OpenedLibrary{handle, descriptor};
}

// The line of config/plugins that names `name`, for error messages.
std::size_t lineOf(const config::Config& config, const std::string& name) {
  auto path = config.resolve("plugins");
  if (!path) {
    return 0;
  }
  auto bytes = config::readFileBytes(*path);
  if (!bytes || !bytes->exists) {
    return 0;
  }
  std::size_t found = 0;
  config::forEachLine(bytes->bytes, [&](std::string_view line, std::size_t no) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())) != 0) {
      line.remove_prefix(1);
    }
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())) != 0) {
      line.remove_suffix(1);
    }
    if (found == 0 && line == name) {
      found = no;
    }
  });
  return found;
}

std::chrono::milliseconds pluginTimeout(config::Config& config, const std::string& name) {
  long long fallback = config.getInt("plugin_timeout", 30);
  long long seconds = config.getInt(name + ".timeout", fallback);
  return std::chrono::milliseconds(std::max(0LL, seconds) * 1000);
}

} // namespace

Result<PluginInfo> findPlugin(const std::string& name, const std::filesystem::path& install_dir) {
  if (!isValidPluginName(name)) {
    return Error{fmt::format("\"{}\" is not a valid plugin name", log::escaped(name))};
  }
  if (!install_dir.empty()) {
    auto path = sharedObjectPath(install_dir, name);
    if (std::filesystem::exists(path) && findBuiltin(name) != nullptr) {
      return Error{builtinClash(path, name)};
    }
    if (std::filesystem::exists(path)) {
      auto lib = openLibrary(path);
      if (!lib) {
        return Error{lib.error()};
      }
      PluginInfo info{name, path.string(), lib->descriptor->help ? lib->descriptor->help : ""};
      ::dlclose(lib->handle);
      return info;
    }
  }
  if (const auto* builtin = findBuiltin(name)) {
    return PluginInfo{name, "built-in", std::string(builtin->help)};
  }
  return Error{fmt::format("unknown plugin \"{}\" (not built in, and no {} found)", name,
                           sharedObjectPath(install_dir, name).string())};
}

std::vector<PluginInfo> availablePlugins(const std::filesystem::path& install_dir) {
  std::vector<PluginInfo> out;
  for (const auto& b : builtinPlugins()) {
    out.push_back({std::string(b.name), "built-in", std::string(b.help)});
  }
  std::error_code ec;
  auto dir = install_dir / "plugins";
  if (!install_dir.empty() && std::filesystem::is_directory(dir, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        break;
      }
      if (it->path().extension() != ".so") {
        continue;
      }
      auto rel = std::filesystem::relative(it->path(), dir, ec).replace_extension().string();
      out.push_back({rel, it->path().string(), ""});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const PluginInfo& a, const PluginInfo& b) { return a.name < b.name; });
  return out;
}

Result<std::unique_ptr<PluginSet>> PluginSet::load(config::Config& config,
                                                   const std::filesystem::path& install_dir,
                                                   ProcessServices& services) {
  auto names = config.get("plugins", config::ConfigType::List);
  if (!names) {
    return Error{names.error()};
  }
  std::unique_ptr<PluginSet> set(new PluginSet());
  auto plugins_file = config.resolve("plugins");
  std::string where = plugins_file ? plugins_file->string() : "plugins";
  std::size_t order = 0;
  for (const auto& entry : *names) {
    auto name = entry.get<std::string>();
    auto fail = [&, as_listed = name](const std::string& why) {
      return Error{fmt::format("{}:{}: {}", where, lineOf(config, as_listed), why)};
    };
    if (!isValidPluginName(name)) {
      return fail(fmt::format("\"{}\" is not a valid plugin name", log::escaped(name)));
    }
    auto listed = [&set](const std::string& plugin) {
      return std::any_of(set->plugins_.begin(), set->plugins_.end(),
                         [&](const LoadedPlugin& p) { return p.info.name == plugin; });
    };
    if (listed(name)) {
      return fail(fmt::format("plugin \"{}\" is listed twice", name));
    }
    auto so_path = sharedObjectPath(install_dir, name);
    bool have_so = std::filesystem::exists(so_path);
    if (auto replacement = replacementFor(name); replacement && !have_so && !findBuiltin(name)) {
      // As Haraka: the old name loads its successor (which reads its own config files).
      const std::string successor(*replacement);
      log::notice({"", name}, "{} has been replaced by '{}'. Please update {}", name, successor,
                  where);
      if (listed(successor) || std::find(names->begin(), names->end(), successor) != names->end()) {
        continue; // loaded once, where it is (or was) listed
      }
      name = successor;
      so_path = sharedObjectPath(install_dir, name);
      have_so = std::filesystem::exists(so_path);
    }
    LoadedPlugin loaded;
    if (have_so && findBuiltin(name) != nullptr) {
      return fail(builtinClash(so_path, name));
    }
    if (have_so) {
      auto lib = openLibrary(so_path);
      if (!lib) {
        return fail(lib.error());
      }
      set->libraries_.push_back(lib->handle);
      loaded.info = {name, so_path.string(), lib->descriptor->help ? lib->descriptor->help : ""};
      loaded.instance = lib->descriptor->create();
    } else if (const auto* builtin = findBuiltin(name)) {
      loaded.info = {name, "built-in", std::string(builtin->help)};
      loaded.instance = builtin->create();
    } else {
      return fail(
          fmt::format("unknown plugin \"{}\" (not built in, and no {})", name, so_path.string()));
    }
    loaded.host = std::make_unique<PluginHost>(name, config, install_dir, services);
    HookTable::PluginRegistrar registrar(set->hooks_, name, order++, pluginTimeout(config, name));
    try {
      loaded.instance->registerHooks(*loaded.host, registrar);
    } catch (const std::exception& e) {
      return fail(fmt::format("plugin \"{}\" failed to register: {}", name, e.what()));
    }
    set->plugins_.push_back(std::move(loaded));
  }
  return set;
}

void PluginSet::shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  for (auto it = plugins_.rbegin(); it != plugins_.rend(); ++it) {
    try {
      it->instance->shutdown();
    } catch (const std::exception& e) {
      log::crit({"", it->info.name}, "shutdown threw: {}", e.what());
    }
  }
}

PluginSet::~PluginSet() {
  shutdown();
  // Instances and hook functions first: their code lives in the libraries.
  hooks_ = HookTable();
  plugins_.clear();
  for (void* handle : libraries_) {
    ::dlclose(handle);
  }
}

} // namespace upesi::plugin
