// aliases: rewrites or drops recipients at the rcpt hook from aliases.json, as Haraka's aliases
// plugin does, with the differences its README names (a dropped recipient drops only itself;
// list aliases are bounded by the recipient limit).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/config/ini_values.hpp"
#include "common/smtp/address_parser.hpp"
#include "plugins/aliases/alias_table.hpp"
#include "plugins/support/json_notes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::aliases {
namespace {

constexpr long long DefaultMaxRecipients = 1000; // smtp.ini [main] max_recipients's default

// Transaction notes: addresses dropped (removed at queue time) and the further targets of the
// list alias of the recipient being checked (added once it is accepted).
constexpr const char* DroppedNote = "aliases_dropped";
constexpr const char* PendingNote = "aliases_pending";

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += out.empty() ? item : "," + item;
  }
  return out;
}

} // namespace

class Aliases final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("aliases.json", [this] { load(); });
    host.onConfigChange("aliases", [this] { load(); });
    host.onConfigChange("smtp.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Rcpt, [this](Next next, Connection& c, const HookParams& p) { rcpt(next, c, p); }, 0,
        "aliases");
    // Last on rcpt_ok: a list alias grows the list only for a recipient every plugin accepted.
    registrar.registerHook(
        Hook::RcptOk, [this](Next next, Connection& c, const HookParams& p) { expand(next, c, p); },
        100, "expand");
    // First on queue: dropped recipients leave before any queue plugin sees the list.
    auto queue = [this](Next next, Connection& c, const HookParams&) { dropMarked(next, c); };
    registrar.registerHook(Hook::Queue, queue, -100, "discard");
    registrar.registerHook(Hook::QueueOutbound, queue, -100, "discard");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"aliases.json", "json", {}}};
  }

private:
  void load() {
    auto json = host_->config("aliases.json", "json");
    if (json.is_null() || (json.is_object() && json.empty())) {
      json = host_->config("aliases", "json"); // Haraka's older name
    }
    std::vector<std::string> problems;
    table_ = AliasTable::fromJson(json, problems);
    for (const auto& problem : problems) {
      host_->log(LogLevel::Warn, problem);
    }
    auto smtp = host_->config("smtp.ini", "ini");
    max_recipients_ =
        config::iniInteger(smtp, "main", "max_recipients").value_or(DefaultMaxRecipients);
    host_->log(LogLevel::Debug, fmt::format("{} aliases loaded", table_.size()));
  }

  void rcpt(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr) {
      return next();
    }
    txn->notes().erase(PendingNote); // left by a recipient that was refused after its alias
    const Address& rcpt = *params.address;
    auto match = table_.lookup(rcpt.user, rcpt.host);
    if (!match) {
      return next();
    }
    const auto& name = host_->pluginName();
    const std::string address = rcpt.address();
    if (match->entry->action == "drop") {
      host_->log(LogLevel::Info, fmt::format("marking {} for drop", address), &connection);
      auto& dropped = txn->notes()[DroppedNote];
      dropped.push_back(address);
      txn->results().add(name, {{"pass", "drop"}});
      txn->results().push(name, {{"drop", address}});
      return next();
    }
    if (match->entry->action != "alias") {
      host_->log(LogLevel::Info, fmt::format("unknown action: {}", match->entry->action),
                 &connection);
      txn->results().add(name, {{"err", fmt::format("unknown action: {}", match->entry->action)}});
      return next();
    }
    if (!match->entry->has_to) {
      host_->log(LogLevel::Info,
                 fmt::format("alias failed for {}, no \"to\" field in alias config", match->key),
                 &connection);
      txn->results().add(name, {{"err", fmt::format("no to for {}", match->key)}});
      return next();
    }
    std::vector<Address> targets;
    for (const auto& target : aliasTargets(*match->entry, rcpt.host)) {
      auto parsed = smtp::parsePath("<" + target + ">", smtp::PathKind::Forward);
      if (!parsed) {
        host_->log(LogLevel::Warn,
                   fmt::format("alias {}: target {} is not an address: {}", match->key, target,
                               parsed.error()),
                   &connection);
        continue;
      }
      targets.push_back(std::move(*parsed));
    }
    if (targets.empty()) {
      txn->results().add(name, {{"err", fmt::format("no valid target for {}", match->key)}});
      return next();
    }
    std::vector<std::string> shown;
    for (const auto& target : targets) {
      shown.push_back(target.address());
    }
    host_->log(LogLevel::Info,
               fmt::format("aliasing {} to {} (key {}, form {})", address, joined(shown),
                           match->key, keyFormName(match->form)),
               &connection);
    const std::string sent_host = rcpt.host;
    // The recipient becomes the first target, for the rcpt plugins after this one too
    // (Haraka's params[0]): rcpt_to.in_host_list then judges the target, not the alias.
    if (params.recipient != nullptr) {
      *params.recipient = targets.front();
    }
    if (targets.size() > 1) {
      nlohmann::json pending = nlohmann::json::array();
      for (std::size_t i = 1; i < targets.size(); ++i) {
        pending.push_back(targets[i].address());
      }
      // rcpt_ok sees the recipient as rewritten.
      txn->notes()[PendingNote] = {{"for", targets.front().address()}, {"targets", pending}};
    }
    if (!targets.front().host.empty() && targets.front().host != sent_host &&
        !truthy(member(member(txn->notes(), "queue"), "wants")) &&
        (!txn->notes().contains("queue") || txn->notes()["queue"].is_object())) {
      txn->notes()["queue"]["wants"] = "outbound"; // another domain: delivered, not forwarded
    }
    txn->notes()["forward"] = true;
    txn->results().add(name, {{"pass", "alias"}});
    txn->results().push(name, {{"alias", fmt::format("{}>{}", address, joined(shown))}});
    next();
  }

  void expand(const Next& next, Connection& connection, const HookParams& params) {
    auto* txn = connection.transaction();
    if (txn == nullptr || params.address == nullptr || !txn->notes().contains(PendingNote)) {
      return next();
    }
    nlohmann::json pending = std::move(txn->notes()[PendingNote]);
    txn->notes().erase(PendingNote);
    if (pending.value("for", "") != params.address->address()) {
      return next();
    }
    auto& list = txn->rcptTo();
    std::size_t skipped = 0;
    for (const auto& target : pending["targets"]) {
      auto parsed = smtp::parsePath("<" + target.get<std::string>() + ">", smtp::PathKind::Forward);
      if (!parsed || std::find(list.begin(), list.end(), *parsed) != list.end()) {
        continue; // already a recipient: once is enough
      }
      if (static_cast<long long>(list.size()) >= max_recipients_) {
        ++skipped;
        continue;
      }
      list.push_back(std::move(*parsed));
    }
    if (skipped > 0) {
      host_->log(LogLevel::Warn,
                 fmt::format("alias for {}: {} targets left out, the transaction holds {} "
                             "recipients at most",
                             params.address->address(), skipped, max_recipients_),
                 &connection);
      txn->results().add(host_->pluginName(),
                         {{"msg", fmt::format("{} targets over max_recipients", skipped)}});
    }
    next();
  }

  void dropMarked(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr || !txn->notes().contains(DroppedNote)) {
      return next();
    }
    const auto& dropped = txn->notes()[DroppedNote];
    auto& list = txn->rcptTo();
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&dropped](const Address& rcpt) {
                                return std::find(dropped.begin(), dropped.end(), rcpt.address()) !=
                                       dropped.end();
                              }),
               list.end());
    if (!list.empty()) {
      return next();
    }
    // Every recipient was dropped: accepted and thrown away, as Haraka's queue/discard does.
    host_->log(LogLevel::Info, "discarding message", &connection);
    txn->results().add(host_->pluginName(), {{"pass", "discarded"}});
    next(Code::Ok);
  }

  Host* host_ = nullptr;
  AliasTable table_;
  long long max_recipients_ = DefaultMaxRecipients;
};

} // namespace upesi::plugins::aliases

std::unique_ptr<upesi::Plugin> upesi_builtin_aliases() {
  return std::make_unique<upesi::plugins::aliases::Aliases>();
}
