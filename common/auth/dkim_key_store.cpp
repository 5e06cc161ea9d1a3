#include "common/auth/dkim_key_store.hpp"

#include <upesi/text.hpp>

#include "common/config/ini_values.hpp"

#include <fmt/format.h>

namespace upesi::dkim {
namespace {

const std::vector<SigningKey> NoKeys;

std::string firstLine(const std::string& text) {
  auto end = text.find_first_of("\r\n");
  return std::string(text::trim(std::string_view(text).substr(0, end)));
}

} // namespace

void KeyStore::loadPair(const ConfigReader& read, const std::string& domain,
                        const std::string& key_file, const std::string& selector_file,
                        int minimum_rsa_bits, bool required) {
  auto pem = read(key_file);
  if (!pem) {
    if (required) {
      errors_.push_back(fmt::format("config/{}: missing", key_file));
    }
    return;
  }
  files_.push_back(key_file);
  auto selector_text = read(selector_file);
  if (!selector_text || firstLine(*selector_text).empty()) {
    errors_.push_back(fmt::format("config/{}: missing or empty (the selector of config/{})",
                                  selector_file, key_file));
    return;
  }
  files_.push_back(selector_file);
  auto load = loadSigningKey(*pem, domain, firstLine(*selector_text), minimum_rsa_bits);
  if (!load.ok()) {
    errors_.push_back(fmt::format("config/{}: {}", key_file, load.error));
    return;
  }
  auto& keys = domain.empty() ? default_keys_ : by_domain_[domain];
  keys.push_back(std::move(*load.key));
}

KeyStore KeyStore::load(const std::filesystem::path& config_dir, const ConfigReader& read,
                        const DefaultKeySettings& defaults, int minimum_rsa_bits) {
  KeyStore store;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(config_dir / "dkim", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) {
      continue;
    }
    const std::string domain = text::toLower(it->path().filename().string());
    const std::string base = "dkim/" + it->path().filename().string() + "/";
    store.loadPair(read, domain, base + "private", base + "selector", minimum_rsa_bits, true);
    store.loadPair(read, domain, base + "ed25519.private", base + "ed25519.selector",
                   minimum_rsa_bits, false);
  }
  if (auto pem = read("dkim.private.key")) {
    store.files_.push_back("dkim.private.key");
    if (defaults.domain.empty() || defaults.selector.empty()) {
      store.errors_.push_back("config/dkim.private.key: dkim.ini [sign] domain and selector "
                              "must name its domain and selector");
    } else {
      auto load =
          loadSigningKey(*pem, text::toLower(defaults.domain), defaults.selector, minimum_rsa_bits);
      if (load.ok()) {
        store.default_keys_.push_back(std::move(*load.key));
      } else {
        store.errors_.push_back(fmt::format("config/dkim.private.key: {}", load.error));
      }
    }
  }
  return store;
}

KeyStore KeyStore::loadConfigured(const std::filesystem::path& config_dir,
                                  const nlohmann::json& dkim_ini, const ConfigLinesReader& lines) {
  auto read = [&lines](const std::string& name) -> std::optional<std::string> {
    auto found = lines(name);
    if (!found.is_array() || found.empty()) {
      return std::nullopt;
    }
    std::string text;
    for (const auto& line : found) {
      text += (line.is_string() ? line.get<std::string>() : line.dump()) + "\n";
    }
    return text;
  };
  const DefaultKeySettings defaults{config::iniString(dkim_ini, "sign", "domain"),
                                    config::iniString(dkim_ini, "sign", "selector")};
  const auto bits = config::iniInteger(dkim_ini, "sign", "min_key_bits").value_or(MinimumRsaBits);
  return load(config_dir, read, defaults, static_cast<int>(bits));
}

const std::vector<SigningKey>& KeyStore::keysFor(std::string_view domain) const {
  std::string name = text::toLower(domain);
  while (!name.empty()) {
    if (auto it = by_domain_.find(name); it != by_domain_.end() && !it->second.empty()) {
      return it->second;
    }
    auto dot = name.find('.');
    if (dot == std::string::npos) {
      break;
    }
    name.erase(0, dot + 1);
  }
  return default_keys_.empty() ? NoKeys : default_keys_;
}

} // namespace upesi::dkim
