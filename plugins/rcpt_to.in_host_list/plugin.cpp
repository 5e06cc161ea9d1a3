// rcpt_to.in_host_list: accepts recipients whose domain this server serves (config/host_list,
// config/host_list_regex), optionally only the mailboxes listed in config/local_mailboxes, and
// lets relaying clients send from a local domain to anywhere.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include <fmt/format.h>

#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins::rcpt_to_in_host_list {
namespace {

std::vector<std::string> asStrings(const nlohmann::json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const auto& item : list) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

} // namespace

class InHostList final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    loadHostList();
    loadHostListRegex();
    loadSettings();
    loadMailboxes();
    host.onConfigChange("host_list", [this] { loadHostList(); });
    host.onConfigChange("host_list_regex", [this] { loadHostListRegex(); });
    host.onConfigChange("rcpt_to.in_host_list.ini", [this] { loadSettings(); });
    host.onConfigChange("local_mailboxes", [this] { loadMailboxes(); });
    registrar.registerHook(Hook::Mail, [this](Next next, Connection& c, const HookParams& p) {
      hookMail(next, c, p);
    });
    registrar.registerHook(Hook::Rcpt, [this](Next next, Connection& c, const HookParams& p) {
      hookRcpt(next, c, p);
    });
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"host_list", "list", {}},
            {"host_list_regex", "list", {}},
            {"rcpt_to.in_host_list.ini", "ini", {}},
            {"local_mailboxes", "list", {}}};
  }

  /// True if `domain` (any case) is listed or matches one of the patterns.
  bool isLocal(std::string_view domain) const {
    auto lower = text::toLower(domain);
    if (domains_.count(lower) != 0) {
      return true;
    }
    for (const auto& pattern : patterns_) {
      if (std::regex_match(lower, pattern)) {
        return true;
      }
    }
    return false;
  }

private:
  void loadHostList() {
    domains_.clear();
    primary_.clear();
    for (const auto& domain : asStrings(host_->config("host_list", "list", {}))) {
      if (primary_.empty()) {
        primary_ = text::toLower(domain);
      }
      domains_.insert(text::toLower(domain));
    }
    host_->log(LogLevel::Info, fmt::format("loaded {} domains from host_list", domains_.size()));
  }

  void loadHostListRegex() {
    patterns_.clear();
    for (const auto& source : asStrings(host_->config("host_list_regex", "list", {}))) {
      // Anchored as Haraka anchors the joined list: ^(?:a|b|c)$, case-insensitive.
      try {
        patterns_.emplace_back("^(?:" + source + ")$",
                               std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
      } catch (const std::regex_error& e) {
        host_->log(LogLevel::Error, fmt::format("host_list_regex: ignoring bad pattern \"{}\": {}",
                                                source, e.what()));
      }
    }
  }

  void loadSettings() {
    auto cfg = host_->config("rcpt_to.in_host_list.ini", "ini", {});
    std::string mode = "any";
    if (cfg.is_object() && cfg.contains("main") && cfg["main"].is_object() &&
        cfg["main"].contains("mailboxes") && cfg["main"]["mailboxes"].is_string()) {
      mode = text::toLower(cfg["main"]["mailboxes"].get<std::string>());
    }
    if (mode != "any" && mode != "listed") {
      // Fail closed: a typo must not turn a restricted server into a mailbox factory.
      host_->log(LogLevel::Error,
                 fmt::format("rcpt_to.in_host_list.ini mailboxes={}: not any or listed; using "
                             "listed",
                             mode));
      mode = "listed";
    }
    listed_only_ = mode == "listed";
  }

  void loadMailboxes() {
    mailboxes_.clear();
    for (const auto& entry : asStrings(host_->config("local_mailboxes", "list", {}))) {
      if (entry.find('@') == std::string::npos) {
        host_->log(
            LogLevel::Error,
            fmt::format("local_mailboxes: ignoring \"{}\": not user@domain or @domain", entry));
        continue;
      }
      mailboxes_.insert(text::toLower(entry));
    }
  }

  /// With mailboxes=listed: postmaster (RFC 5321 4.5.1), a listed address, or any address of a
  /// domain listed as "@domain". Local parts compare case-insensitively, as they are delivered.
  bool isKnownMailbox(const Address& address) const {
    if (!listed_only_) {
      return true;
    }
    const auto user = text::toLower(address.user);
    const auto host = text::toLower(address.host);
    return user == "postmaster" || mailboxes_.count(user + "@" + host) != 0 ||
           mailboxes_.count("@" + host) != 0;
  }

  void hookMail(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (params.address->is_null || params.address->host.empty()) {
      txn->results().add(name, {{"skip", "mail_from.null"}});
      return next();
    }
    if (isLocal(params.address->host)) {
      txn->results().add(name, {{"pass", "mail_from"}});
      txn->notes()["local_sender"] = true;
      return next();
    }
    txn->results().add(name, {{"msg", "mail_from!local"}});
    next();
  }

  void hookRcpt(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (params.address->host.empty()) {
      if (text::toLower(params.address->user) == "postmaster") {
        return acceptPostmaster(next, *txn, *params.address);
      }
      txn->results().add(name, {{"fail", "rcpt!domain"}});
      return next();
    }
    if (isLocal(params.address->host)) {
      if (!isKnownMailbox(*params.address)) {
        txn->results().add(name, {{"fail", "rcpt!mailbox"}});
        return next(Code::Deny,
                    fmt::format("Mailbox {} does not exist here", params.address->format()));
      }
      txn->results().add(name, {{"pass", "rcpt_to"}});
      return next(Code::Ok);
    }
    // A relaying client sending from a local domain may send to any recipient.
    const auto& local_sender = txn->notes()["local_sender"];
    if (connection.relaying() && local_sender.is_boolean() && local_sender.get<bool>()) {
      txn->results().add(name, {{"pass", "relaying local_sender"}});
      return next(Code::Ok);
    }
    // Neither end is local: another rcpt plugin may still vouch for the recipient.
    txn->results().add(name, {{"msg", "rcpt!local"}});
    next();
  }

  /// RFC 5321 4.5.1: <Postmaster> without a domain must be accepted; it is delivered to
  /// postmaster of the primary domain (the first of host_list, or `me`).
  void acceptPostmaster(const Next& next, Transaction& txn, const Address& bare) {
    Address routed;
    routed.user = "postmaster";
    routed.host = primary_.empty() ? text::toLower(host_->me()) : primary_;
    routed.original_host = routed.host;
    routed.original = routed.address();
    auto& list = txn.rcptTo();
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      if (*it == bare) {
        *it = routed;
        break;
      }
    }
    txn.results().add(host_->pluginName(), {{"pass", "rcpt_to postmaster"}});
    next(Code::Ok);
  }

  Host* host_ = nullptr;
  std::string primary_; // the first domain of host_list
  std::set<std::string> domains_;
  std::vector<std::regex> patterns_;
  bool listed_only_ = false;        // mailboxes=listed
  std::set<std::string> mailboxes_; // "user@domain" and "@domain", lower-cased
};

} // namespace upesi::plugins::rcpt_to_in_host_list

std::unique_ptr<upesi::Plugin> upesi_builtin_rcpt_to_in_host_list() {
  return std::make_unique<upesi::plugins::rcpt_to_in_host_list::InHostList>();
}
