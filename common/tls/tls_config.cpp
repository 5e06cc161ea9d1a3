#include "common/tls/tls_config.hpp"

#include "common/config/ini_locate.hpp"
#include "common/smtp/address_parser.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

namespace upesi::tls {
namespace {

using nlohmann::json;

// A scalar, or every element of a `key[]=` array, as strings.
std::vector<std::string> stringList(const json& v) {
  std::vector<std::string> out;
  auto add = [&](const json& x) {
    if (x.is_string()) {
      // "a,b" and "a b" both list several, as Haraka's list options do.
      for (auto& item : text::splitList(x.get<std::string>(), ",; ")) {
        out.push_back(std::move(item));
      }
    } else if (x.is_number_integer()) {
      out.push_back(std::to_string(x.get<long long>()));
    }
  };
  if (v.is_array()) {
    for (const auto& x : v) {
      add(x);
    }
  } else {
    add(v);
  }
  return out;
}

Result<std::vector<std::uint16_t>> portList(config::Config& config, const json& section,
                                            const char* key) {
  std::vector<std::uint16_t> ports;
  if (!section.contains(key)) {
    return ports;
  }
  for (const auto& item : stringList(section[key])) {
    char* end = nullptr;
    long port = std::strtol(item.c_str(), &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
      return Error{fmt::format("{}: {} must list port numbers, not \"{}\"",
                               config::iniKeyLocation(config, "tls.ini", "main", key), key, item)};
    }
    ports.push_back(static_cast<std::uint16_t>(port));
  }
  return ports;
}

Result<bool> readSide(config::Config& config, const json& section, const char* name,
                      TlsSideConfig& side) {
  auto text = [&](const char* key, std::string& out) -> Result<bool> {
    if (!section.contains(key) || section[key].is_null()) {
      return true;
    }
    if (!section[key].is_string()) {
      return Error{fmt::format("{}: {} must be text",
                               config::iniKeyLocation(config, "tls.ini", name, key), key)};
    }
    out = section[key].get<std::string>();
    return true;
  };
  for (auto [key, out] : {std::pair{"key", &side.key},
                          {"cert", &side.cert},
                          {"dhparam", &side.dhparam},
                          {"ca", &side.ca},
                          {"ciphers", &side.ciphers},
                          {"ciphersuites", &side.ciphersuites},
                          {"minVersion", &side.min_version}}) {
    if (auto ok = text(key, *out); !ok) {
      return ok;
    }
  }
  if (tlsVersionFromName(side.min_version) == 0) {
    return Error{fmt::format(
        "{}: minVersion must be TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3, not \"{}\"",
        config::iniKeyLocation(config, "tls.ini", name, "minVersion"), side.min_version)};
  }
  side.honor_cipher_order = section.value("honorCipherOrder", side.honor_cipher_order);
  side.request_cert = section.value("requestCert", side.request_cert);
  side.reject_unauthorized = section.value("rejectUnauthorized", side.reject_unauthorized);
  return true;
}

// A section listing hosts as keys ("[no_tls_hosts]\n192.0.2.1\n10.0.0.0/8").
std::vector<std::string> sectionKeys(const json& ini, const char* name) {
  std::vector<std::string> out;
  if (ini.contains(name) && ini[name].is_object()) {
    for (const auto& [key, value] : ini[name].items()) {
      out.push_back(key);
    }
  }
  return out;
}

// [outbound.policy]: "example.com = secure" lines; a key that is no domain name, or a level
// Postfix does not know, is an error at its line.
Result<std::map<std::string, OutboundTlsLevel>> destinationPolicy(config::Config& config,
                                                                  const json& ini) {
  std::map<std::string, OutboundTlsLevel> out;
  if (!ini.contains("outbound.policy") || !ini["outbound.policy"].is_object()) {
    return out;
  }
  for (const auto& item : ini["outbound.policy"].items()) {
    // Not a structured binding: clang 14 (the fuzz build) lets no lambda capture one.
    const std::string& key = item.key();
    const json& value = item.value();
    auto where = [&] { return config::iniKeyLocation(config, "tls.ini", "outbound.policy", key); };
    std::string domain = text::toLower(key);
    std::string_view name = domain;
    if (!name.empty() && name.front() == '.') {
      name.remove_prefix(1);
    }
    if (!smtp::isDomain(name)) {
      return Error{
          fmt::format("{}: [outbound.policy] \"{}\" is not a domain name (\"example.com\", "
                      "or \".example.com\" for its subdomains)",
                      where(), key)};
    }
    const std::string level_name = value.is_string() ? text::toLower(value.get<std::string>()) : "";
    auto level = outboundTlsLevelFromName(level_name);
    if (!level) {
      return Error{fmt::format("{}: [outbound.policy] {} = {}: the level must be none, may, "
                               "dane, encrypt, verify or secure",
                               where(), key,
                               value.is_string() ? value.get<std::string>() : value.dump())};
    }
    out[domain] = *level;
  }
  return out;
}

} // namespace

std::optional<OutboundTlsLevel> outboundTlsLevelFromName(const std::string& name) {
  static const std::pair<const char*, OutboundTlsLevel> names[] = {
      {"none", OutboundTlsLevel::None},     {"may", OutboundTlsLevel::May},
      {"dane", OutboundTlsLevel::Dane},     {"encrypt", OutboundTlsLevel::Encrypt},
      {"verify", OutboundTlsLevel::Verify}, {"secure", OutboundTlsLevel::Secure}};
  for (const auto& [text, level] : names) {
    if (name == text) {
      return level;
    }
  }
  return std::nullopt;
}

const char* toString(OutboundTlsLevel level) {
  switch (level) {
  case OutboundTlsLevel::None:
    return "none";
  case OutboundTlsLevel::May:
    return "may";
  case OutboundTlsLevel::Dane:
    return "dane";
  case OutboundTlsLevel::Encrypt:
    return "encrypt";
  case OutboundTlsLevel::Verify:
    return "verify";
  case OutboundTlsLevel::Secure:
    return "secure";
  }
  return "?";
}

int tlsVersionFromName(const std::string& name) {
  if (name == "TLSv1" || name == "TLSv1.0") {
    return TLS1_VERSION;
  }
  if (name == "TLSv1.1") {
    return TLS1_1_VERSION;
  }
  if (name == "TLSv1.2") {
    return TLS1_2_VERSION;
  }
  if (name == "TLSv1.3") {
    return TLS1_3_VERSION;
  }
  return 0;
}

Result<TlsConfig> readTlsConfig(config::Config& config) {
  auto ini = config.get("tls.ini", config::ConfigType::Ini, TlsIniBooleans);
  if (!ini) {
    return Error{ini.error()};
  }
  TlsConfig out;
  const json empty = json::object();
  const json& main = ini->contains("main") ? (*ini)["main"] : empty;
  if (auto ok = readSide(config, main, "main", out.server); !ok) {
    return Error{ok.error()};
  }
  // [outbound] starts from [main] (Haraka), without the server-only client-certificate request.
  out.outbound = out.server;
  out.outbound.request_cert = false;
  out.outbound.reject_unauthorized = false;
  if (ini->contains("outbound")) {
    if (auto ok = readSide(config, (*ini)["outbound"], "outbound", out.outbound); !ok) {
      return Error{ok.error()};
    }
    const auto& ob = (*ini)["outbound"];
    if (ob.contains("force_tls_hosts")) {
      out.force_tls_hosts = stringList(ob["force_tls_hosts"]);
    }
    if (ob.contains("no_tls_hosts")) {
      out.outbound_no_tls_hosts = stringList(ob["no_tls_hosts"]);
    }
    out.outbound_fallback_to_plain = ob.value("fallback_to_plain", true);
    out.outbound_mta_sts = ob.value("mta_sts", true);
    out.outbound_tls_rpt = ob.value("tls_rpt", true);
    if (ob.contains("tls_rpt_from") && ob["tls_rpt_from"].is_string()) {
      out.outbound_tls_rpt_from = ob["tls_rpt_from"].get<std::string>();
    }
    if (ob.contains("dane")) {
      const std::string dane = ob["dane"].is_string() ? ob["dane"].get<std::string>() : "";
      if (dane != "opportunistic" && dane != "off") {
        return Error{fmt::format("{}: [outbound] dane = {}: it must be opportunistic or off",
                                 config::iniKeyLocation(config, "tls.ini", "outbound", "dane"),
                                 ob["dane"].is_string() ? dane : ob["dane"].dump())};
      }
      out.outbound_dane = dane == "opportunistic";
    }
  }
  auto no_starttls = portList(config, main, "no_starttls_ports");
  if (!no_starttls) {
    return Error{no_starttls.error()};
  }
  out.no_starttls_ports = *no_starttls;
  auto require_authorized = portList(config, main, "requireAuthorized");
  if (!require_authorized) {
    return Error{require_authorized.error()};
  }
  out.require_authorized_ports = *require_authorized;
  out.no_tls_hosts = sectionKeys(*ini, "no_tls_hosts");
  auto policy = destinationPolicy(config, *ini);
  if (!policy) {
    return Error{policy.error()};
  }
  out.outbound_policy = std::move(*policy);
  return out;
}

} // namespace upesi::tls
