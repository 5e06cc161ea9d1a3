// The signing keys of an install, laid out as Haraka's dkim plugin lays them out:
//
//   config/dkim/<domain>/private           the PEM private key (RSA or Ed25519)
//   config/dkim/<domain>/selector          its selector
//   config/dkim/<domain>/ed25519.private   a second key, so a domain can sign with both
//   config/dkim/<domain>/ed25519.selector    algorithms at once (RFC 8463 section 4)
//   config/dkim.private.key                the default key, with dkim.ini [sign] domain and
//                                          selector, for mail of domains without a directory
#pragma once

#include "common/auth/dkim_signer.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dkim {

/// Reads a file under config/ by its relative name ("dkim/example.com/private"); nullopt when
/// it does not exist.
using ConfigReader = std::function<std::optional<std::string>(const std::string& relative)>;

struct DefaultKeySettings {
  std::string domain;   // dkim.ini [sign] domain
  std::string selector; // dkim.ini [sign] selector
};

/// A config file's lines as Host::config and config::Config read the "data" type (null or empty
/// when the file is missing).
using ConfigLinesReader = std::function<nlohmann::json(const std::string& relative)>;

class KeyStore {
public:
  /// What the dkim plugin signs with, and what `upesi --check` checks: the keys under
  /// `config_dir`, with dkim.ini's [sign] domain, selector and min_key_bits (`dkim_ini` as read).
  static KeyStore loadConfigured(const std::filesystem::path& config_dir,
                                 const nlohmann::json& dkim_ini, const ConfigLinesReader& lines);

  /// Loads every key. A key that cannot be used is left out and named in errors() with its
  /// file; the rest load.
  static KeyStore load(const std::filesystem::path& config_dir, const ConfigReader& read,
                       const DefaultKeySettings& defaults, int minimum_rsa_bits = MinimumRsaBits);

  /// The keys that sign mail from `domain`: those of its own directory, else of the nearest
  /// parent domain's, else the default key (Haraka#1548); empty when there are none.
  const std::vector<SigningKey>& keysFor(std::string_view domain) const;

  const std::vector<std::string>& errors() const { return errors_; }
  /// The relative names of the files read, to watch for changes.
  const std::vector<std::string>& files() const { return files_; }
  std::size_t domainCount() const { return by_domain_.size(); }

private:
  void loadPair(const ConfigReader& read, const std::string& domain, const std::string& key_file,
                const std::string& selector_file, int minimum_rsa_bits, bool required);

  std::map<std::string, std::vector<SigningKey>, std::less<>> by_domain_;
  std::vector<SigningKey> default_keys_;
  std::vector<std::string> errors_;
  std::vector<std::string> files_;
};

} // namespace upesi::dkim
