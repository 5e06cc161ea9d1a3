// delay_deny: holds the rejections that plugins give before the recipients are known (connect,
// helo, mail, rcpt) and hands them out at rcpt_ok, so that relaying (authenticated) clients
// bypass them and every rejection at least names a recipient in the logs.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace upesi::plugins::delay_deny {

/// Haraka splits the plugin lists on semicolons, commas and blanks.
constexpr std::string_view PluginListSeparators = "; ,\t";

namespace {

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

/// The code of a held rejection, if it is one (notes are shared: do not trust their shape).
std::optional<Code> denyCode(const nlohmann::json& held) {
  if (!held.is_object() || !held.contains("code") || !held["code"].is_number_integer()) {
    return std::nullopt;
  }
  auto code = static_cast<Code>(held["code"].get<int>());
  return isDeny(code) ? std::optional<Code>(code) : std::nullopt;
}

std::vector<std::string> heldMessage(const nlohmann::json& held) {
  std::vector<std::string> lines;
  if (held.contains("msg") && held["msg"].is_array()) {
    for (const auto& line : held["msg"]) {
      if (line.is_string()) {
        lines.push_back(line.get<std::string>());
      }
    }
  }
  return lines;
}

} // namespace

class DelayDeny final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("delay_deny.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Deny, [this](Next next, Connection& c, const HookParams& p) { hold(next, c, p); });
    registrar.registerHook(Hook::RcptOk,
                           [this](Next next, Connection& c, const HookParams&) { apply(next, c); });
    registrar.registerHook(Hook::DataPost, [](Next next, Connection& c, const HookParams&) {
      recordHeader(c);
      next();
    });
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"delay_deny.ini", "ini", {}}};
  }

private:
  void load() {
    auto cfg = host_->config("delay_deny.ini", "ini", {});
    included_.clear();
    excluded_.clear();
    if (!cfg.is_object() || !cfg.contains("main") || !cfg["main"].is_object()) {
      return;
    }
    const auto& main = cfg["main"];
    if (main.contains("included_plugins") && main["included_plugins"].is_string()) {
      included_ =
          text::splitList(main["included_plugins"].get<std::string>(), PluginListSeparators);
    }
    // As in Haraka, an included list makes the excluded one irrelevant.
    if (included_.empty() && main.contains("excluded_plugins") &&
        main["excluded_plugins"].is_string()) {
      excluded_ =
          text::splitList(main["excluded_plugins"].get<std::string>(), PluginListSeparators);
    }
  }

  bool listed(const std::vector<std::string>& list, const DenyInfo& info) const {
    const std::string hook(toString(info.hook));
    return contains(list, info.plugin) || contains(list, info.plugin + ":" + hook) ||
           contains(list, info.plugin + ":" + hook + ":" + info.method);
  }

  void hold(const Next& next, Connection& connection, const HookParams& params) {
    const auto* info = params.deny;
    if (info == nullptr || info->plugin == host_->pluginName()) {
      return next(); // never delay our own rejections
    }
    if (!included_.empty() ? !listed(included_, *info) : listed(excluded_, *info)) {
      return next();
    }
    nlohmann::json* notes = nullptr;
    switch (info->hook) {
    case Hook::LookupRdns:
    case Hook::Connect:
    case Hook::Ehlo:
    case Hook::Helo:
      notes = &connection.notes();
      break;
    case Hook::Mail:
    case Hook::Rcpt:
    case Hook::RcptOk:
      if (connection.transaction() != nullptr) {
        notes = &connection.transaction()->notes();
      }
      break;
    default: // DATA and later: the recipients are known, nothing to wait for
      break;
    }
    if (notes == nullptr) {
      return next();
    }
    (*notes)["delay_deny_pre"].push_back({{"code", static_cast<int>(info->code)},
                                          {"msg", info->message},
                                          {"plugin", info->plugin},
                                          {"method", info->method},
                                          {"hook", std::string(toString(info->hook))}});
    (*notes)["delay_deny_pre_fail"][info->plugin] = 1;
    host_->log(LogLevel::Info,
               fmt::format("delaying {} from {} at {}", toString(info->code), info->plugin,
                           toString(info->hook)),
               &connection);
    next(Code::Ok); // override the rejection for now
  }

  void apply(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    if (connection.relaying()) {
      host_->log(LogLevel::Info, "bypassing all pre-DATA deny: AUTH/RELAY", &connection);
      return next();
    }
    // Connection-level rejections first; they stay, so every recipient gets them.
    auto& conn_pre = connection.notes()["delay_deny_pre"];
    if (conn_pre.is_array()) {
      for (const auto& held : conn_pre) {
        if (auto code = denyCode(held)) {
          return next(*code, heldMessage(held));
        }
      }
    } else {
      connection.notes().erase("delay_deny_pre");
    }
    auto& txn_pre = txn->notes()["delay_deny_pre"];
    if (!txn_pre.is_array()) {
      txn->notes().erase("delay_deny_pre");
      return next();
    }
    for (std::size_t i = 0; i < txn_pre.size(); ++i) {
      auto held = txn_pre[i];
      auto code = denyCode(held);
      if (!code) {
        continue;
      }
      // A rejection of one recipient applies to that recipient only.
      if (held["hook"] == "rcpt" || held["hook"] == "rcpt_ok") {
        txn_pre.erase(i);
      }
      return next(*code, heldMessage(held));
    }
    next();
  }

  /// For relaying clients the held rejections did not apply: name them in the header.
  static void recordHeader(Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return;
    }
    std::vector<std::string> fails;
    for (const auto* notes : {&connection.notes(), &txn->notes()}) {
      if (notes->contains("delay_deny_pre_fail") && (*notes)["delay_deny_pre_fail"].is_object()) {
        for (const auto& [plugin, value] : (*notes)["delay_deny_pre_fail"].items()) {
          if (!contains(fails, plugin)) {
            fails.push_back(plugin);
          }
        }
      }
    }
    if (!fails.empty()) {
      txn->addHeader("X-Haraka-Fail-Pre", fmt::format("{}", fmt::join(fails, " ")));
    }
  }

  Host* host_ = nullptr;
  std::vector<std::string> included_;
  std::vector<std::string> excluded_;
};

} // namespace upesi::plugins::delay_deny

std::unique_ptr<upesi::Plugin> upesi_builtin_delay_deny() {
  return std::make_unique<upesi::plugins::delay_deny::DelayDeny>();
}
