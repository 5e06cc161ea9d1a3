#include "common/plugin/replaced_names.hpp"

#include <array>
#include <utility>

namespace upesi::plugin {

std::optional<std::string_view> replacementFor(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 19> Replaced = {{
      {"backscatterer", "dns-list"},
      {"connect.fcrdns", "fcrdns"},
      {"connect.rdns_access", "access"},
      {"data.nomsgid", "headers"},
      {"data.noreceived", "headers"},
      {"data.rfc5322_header_checks", "headers"},
      {"dkim_sign", "dkim"},
      {"dkim_verify", "dkim"},
      {"dnsbl", "dns-list"},
      {"dnswl", "dns-list"},
      {"mail_from.access", "access"},
      {"mail_from.blocklist", "access"},
      {"mail_from.nobounces", "bounce"},
      {"rcpt_to.access", "access"},
      {"rcpt_to.blocklist", "access"},
      {"rdns.regexp", "access"},
      {"relay_acl", "relay"},
      {"relay_all", "relay"},
      {"relay_force_routing", "relay"},
  }};
  for (const auto& [old_name, replacement] : Replaced) {
    if (old_name == name) {
      return replacement;
    }
  }
  return std::nullopt;
}

} // namespace upesi::plugin
