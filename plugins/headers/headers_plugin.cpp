#include "plugins/headers/headers_plugin.hpp"

#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/text.hpp>

#include "common/auth/from_domain.hpp"
#include "common/auth/public_suffix.hpp"
#include "common/config/ini_values.hpp"
#include "plugins/headers/header_checks.hpp"
#include "plugins/support/json_notes.hpp"

#include <fmt/format.h>

#include <chrono>
#include <utility>

namespace upesi::plugins::headers {

using config::iniFlag;
using config::iniInteger;
using config::iniString;

namespace {

// RFC 5322 3.6: the fields that may occur at most once, and those that must occur.
constexpr const char* DefaultSingular =
    "Date,From,Sender,Reply-To,To,Cc,Bcc,Message-Id,In-Reply-To,References,Subject";
constexpr const char* DefaultRequired = "Date,From";

struct PhishTarget {
  std::string brand;
  std::string domain;
  bool whole_word; // phish_targets: the brand as a word; phish_domains (old): the domain
};

// A results value as one string, as JavaScript's String(array) joins it.
std::string joinedValue(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  std::string out;
  if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_string()) {
        out += out.empty() ? item.get<std::string>() : "," + item.get<std::string>();
      }
    }
  }
  return out;
}

std::string firstOf(const nlohmann::json& value) {
  if (value.is_array() && !value.empty() && value.front().is_string()) {
    return value.front().get<std::string>();
  }
  return value.is_string() ? value.get<std::string>() : std::string();
}

bool domainSuffixMatch(const std::string& host, const std::string& domain) {
  if (host.empty() || domain.empty()) {
    return false;
  }
  const auto h = text::toLower(host);
  const auto d = text::toLower(domain);
  return h == d || (h.size() > d.size() && h.ends_with("." + d));
}

class Headers final : public Plugin {
public:
  explicit Headers(HeadersFlavor flavor) : flavor_(std::move(flavor)) {}

  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange(flavor_.config_file, [this] { load(); });
    // Registered always and switched by [check] at call time, so a change needs no restart.
    using Method = void (Headers::*)(const Next&, Connection&, Transaction&);
    const std::pair<const char*, Method> checks[] = {
        {"duplicate_singular", &Headers::duplicateSingular},
        {"missing_required", &Headers::missingRequired},
        {"invalid_return_path", &Headers::invalidReturnPath},
        {"invalid_date", &Headers::invalidDate},
        {"user_agent", &Headers::userAgent},
        {"direct_to_mx", &Headers::directToMx},
        {"from_match", &Headers::fromMatch},
        {"delivered_to", &Headers::deliveredTo},
        {"mailing_list", &Headers::mailingList},
        {"from_phish", &Headers::fromPhish},
    };
    for (const auto& [check, method] : checks) {
      std::string key = check;
      registrar.registerHook(
          Hook::DataPost,
          [this, key, method](Next next, Connection& c, const HookParams&) {
            auto* txn = c.transaction();
            if (txn == nullptr || !iniFlag(cfg_, "check", key)) {
              return next();
            }
            (this->*method)(next, c, *txn);
          },
          0, key);
    }
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{flavor_.config_file, "ini", flavor_.booleans}};
  }

private:
  void load() {
    cfg_ = host_->config(flavor_.config_file, "ini", flavor_.booleans);
    targets_.clear();
    if (cfg_.contains("phish_domains") && cfg_["phish_domains"].is_object()) {
      host_->log(LogLevel::Error, "deprecated setting, update headers.ini per the README");
      for (const auto& [domain, unused] : cfg_["phish_domains"].items()) {
        auto dot = domain.rfind('.');
        targets_.push_back({dot == std::string::npos ? domain : domain.substr(0, dot),
                            text::toLower(domain), false});
      }
    }
    if (cfg_.contains("phish_targets") && cfg_["phish_targets"].is_object()) {
      for (const auto& [brand, domain] : cfg_["phish_targets"].items()) {
        if (domain.is_string()) {
          targets_.push_back(
              {text::toLower(brand), text::toLower(domain.get<std::string>()), true});
        }
      }
    }
    const auto path =
        iniString(cfg_, "main", "public_suffix_list", std::string(auth::DebianPublicSuffixList));
    if (path != list_path_) {
      auto list = auth::PublicSuffixList::load(path);
      if (!list) {
        host_->log(LogLevel::Error, fmt::format("{}; organizational domains fall back to the "
                                                "last two labels",
                                                list.error()));
        list_ = std::make_shared<auth::PublicSuffixList>();
      } else {
        list_ = std::make_shared<auth::PublicSuffixList>(std::move(*list));
      }
      list_path_ = path;
    }
  }

  std::vector<std::string> listKey(const char* key, const char* fallback) const {
    const auto& value = config::iniValue(cfg_, "main", key);
    return text::splitList(value.is_string() ? value.get<std::string>() : fallback, ",");
  }

  long long days(const char* key, long long fallback) const {
    return iniInteger(cfg_, "main", key).value_or(fallback);
  }

  std::string orgDomain(const std::string& domain) const {
    return list_->organizationalDomain(domain);
  }

  void duplicateSingular(const Next& next, Connection&, Transaction& txn) {
    const auto& name = host_->pluginName();
    std::vector<std::string> failures;
    for (const auto& header : listKey("singular", DefaultSingular)) {
      if (txn.headers(header).size() > 1) {
        txn.results().add(name, {{"fail", "duplicate:" + header}});
        failures.push_back(header);
      }
    }
    if (failures.empty()) {
      txn.results().add(name, {{"pass", "duplicate"}});
      return next();
    }
    if (iniFlag(cfg_, "reject", "duplicate_singular")) {
      return next(Code::Deny, fmt::format("Only one {} header allowed. See RFC 5322, Section 3.6",
                                          failures.front()));
    }
    next();
  }

  void missingRequired(const Next& next, Connection&, Transaction& txn) {
    const auto& name = host_->pluginName();
    std::vector<std::string> failures;
    for (const auto& header : listKey("required", DefaultRequired)) {
      if (txn.headers(header).empty()) {
        txn.results().add(name, {{"fail", "missing:" + header}});
        failures.push_back(header);
      }
    }
    if (failures.empty()) {
      txn.results().add(name, {{"pass", "missing"}});
      return next();
    }
    if (iniFlag(cfg_, "reject", "missing_required")) {
      return next(Code::Deny, fmt::format("Required header '{}' missing", failures.front()));
    }
    next();
  }

  // RFC 5321 4.4: the final delivery adds Return-Path; a sender should not.
  void invalidReturnPath(const Next& next, Connection& connection, Transaction& txn) {
    const auto& name = host_->pluginName();
    if (!txn.headers("Return-Path").empty()) {
      if (connection.relaying()) {
        txn.results().add(name, {{"fail", "Return-Path"}});
        if (iniFlag(cfg_, "reject", "invalid_return_path")) {
          return next(Code::Deny, "outgoing mail must not have a Return-Path header (RFC 5321)");
        }
        return next();
      }
      txn.removeHeader("Return-Path"); // from the internet: not trusted, dropped
    }
    txn.results().add(name, {{"pass", "Return-Path"}});
    next();
  }

  void invalidDate(const Next& next, Connection&, Transaction& txn) {
    auto dates = txn.headers("Date");
    if (dates.empty()) {
      return next(); // missing_required's business
    }
    const auto& name = host_->pluginName();
    const bool reject = iniFlag(cfg_, "reject", "invalid_date");
    auto when = parseDate(dates.front());
    if (!when) {
      txn.results().add(name, {{"fail", flavor_.unparsable_result}});
      return reject ? next(Code::Deny, flavor_.unparsable_reply) : next();
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const long long future_days = days("date_future_days", 2);
    const long long past_days = days("date_past_days", 15);
    if (future_days > 0 && *when > now + future_days * 86400) {
      txn.results().add(name, {{"fail", "invalid_date(future)"}});
      return reject ? next(Code::Deny, "The Date header is too far in the future") : next();
    }
    if (past_days > 0 && *when < now - past_days * 86400) {
      txn.results().add(name, {{"fail", "invalid_date(past)"}});
      return reject ? next(Code::Deny, "The Date header is too old") : next();
    }
    txn.results().add(name, {{"pass", "invalid_date"}});
    next();
  }

  HeaderLookup lookup(Transaction& txn) const {
    return [&txn](std::string_view name) { return std::string(text::trim(txn.header(name))); };
  }

  void userAgent(const Next& next, Connection&, Transaction& txn) {
    const auto& name = host_->pluginName();
    auto found = userAgents(lookup(txn));
    for (const auto& ua : found) {
      txn.results().add(name, {{"pass", ua}});
    }
    if (found.empty()) {
      txn.results().add(name, {{"fail", "UA"}});
    }
    next();
  }

  // Real mail has passed at least two hops (MUA → its MTA → us) unless it was submitted here.
  void directToMx(const Next& next, Connection& connection, Transaction& txn) {
    const auto& name = host_->pluginName();
    if (!connection.authUser().empty()) {
      txn.results().add(name, {{"skip", "direct-to-mx(auth)"}});
      return next();
    }
    const auto count = txn.headers("Received").size();
    if (count == 0) {
      txn.results().add(name, {{"fail", "direct-to-mx(none)"}});
    } else if (count < 2) {
      txn.results().add(name, {{"fail", fmt::format("direct-to-mx(too few Received({}))", count)}});
    } else {
      txn.results().add(name, {{"pass", fmt::format("direct-to-mx({})", count)}});
    }
    next();
  }

  // The first address of the From field, or why there is none ("missing", "rfc_violation",
  // "unparsable").
  std::pair<std::optional<dmarc::Mailbox>, std::string> fromAddress(Transaction& txn) const {
    const auto from = txn.header("From");
    if (text::trim(from).empty()) {
      return {std::nullopt, "missing"};
    }
    auto list = dmarc::parseMailboxList(from);
    if (!list.ok()) {
      return {std::nullopt, "rfc_violation"};
    }
    if (list.mailboxes.empty()) {
      return {std::nullopt, "unparsable"};
    }
    return {list.mailboxes.front(), ""};
  }

  void fromMatch(const Next& next, Connection& connection, Transaction& txn) {
    const auto& name = host_->pluginName();
    const Address& envelope = txn.mailFrom();
    if (envelope.is_null) {
      txn.results().add(name, {{"fail", "from_match(null)"}});
      return next();
    }
    auto [mailbox, problem] = fromAddress(txn);
    if (!mailbox) {
      txn.results().add(name, {{"fail", fmt::format("from_match({})", problem)}});
      return next();
    }
    const std::string header_address = mailbox->local_part + "@" + mailbox->domain;
    if (text::toLower(envelope.address()) == text::toLower(header_address)) {
      txn.results().add(name, {{"pass", "from_match"}});
      return next();
    }
    const auto env_domain = orgDomain(envelope.host);
    const auto msg_domain = orgDomain(mailbox->domain);
    if (!env_domain.empty() && env_domain == msg_domain) {
      std::string extra = "domain";
      const auto fcrdns = firstOf(member(connection.results().get("fcrdns"), "fcrdns"));
      if (domainSuffixMatch(fcrdns, msg_domain)) {
        extra += ",fcrdns";
      }
      const auto& helo = member(connection.results().get("helo.checks"), "helo_host");
      if (helo.is_string() && domainSuffixMatch(helo.get<std::string>(), msg_domain)) {
        extra += ",helo";
      }
      txn.results().add(name, {{"pass", fmt::format("from_match({})", extra)}});
      return next();
    }
    txn.results().add(name, {{"fail", fmt::format("from_match({} / {})", env_domain, msg_domain)}});
    next();
  }

  // A message arriving with Delivered-To naming its own recipient is looping back.
  void deliveredTo(const Next& next, Connection&, Transaction& txn) {
    const auto delivered = std::string(text::trim(txn.header("Delivered-To")));
    if (delivered.empty()) {
      return next();
    }
    for (const auto& rcpt : txn.rcptTo()) {
      if (!text::equalsIgnoreCase(rcpt.address(), delivered)) {
        continue;
      }
      txn.results().add(host_->pluginName(), {{"fail", "delivered_to"}});
      if (iniFlag(cfg_, "reject", "delivered_to")) {
        return next(Code::Deny, "Invalid Delivered-To header content");
      }
    }
    next();
  }

  void mailingList(const Next& next, Connection&, Transaction& txn) {
    const auto& name = host_->pluginName();
    auto found = mailingListManagers(lookup(txn));
    for (const auto& mlm : found) {
      txn.results().add(name, {{"pass", fmt::format("MLM({})", mlm)}});
    }
    if (found.empty()) {
      txn.results().add(name, {{"msg", "not MLM"}});
    }
    next();
  }

  // Whether SPF, DKIM or the client's forward-confirmed name vouch for `domain`.
  bool authenticatedAs(const std::string& domain, Connection& connection, Transaction& txn) const {
    for (const auto* results : {&txn.results(), &connection.results()}) {
      if (containsNoCase(joinedValue(member(results->get("spf"), "pass")), domain) ||
          containsNoCase(joinedValue(member(results->get("dkim"), "pass")), domain)) {
        return true;
      }
    }
    const auto& dkim_notes = member(txn.notes(), "dkim_results");
    if (dkim_notes.is_array()) {
      for (const auto& entry : dkim_notes) {
        if (member(entry, "result") == "pass" &&
            containsNoCase(joinedValue(member(entry, "domain")), domain)) {
          return true;
        }
      }
    }
    const auto fcrdns = firstOf(member(connection.results().get("fcrdns"), "fcrdns"));
    return !fcrdns.empty() && orgDomain(fcrdns) == domain;
  }

  void fromPhish(const Next& next, Connection& connection, Transaction& txn) {
    const auto& name = host_->pluginName();
    const auto from = txn.header("From");
    if (text::trim(from).empty()) {
      txn.results().add(name, {{"skip", "from_phish(missing)"}});
      return next();
    }
    auto [mailbox, problem] = fromAddress(txn);
    if (!mailbox) {
      txn.results().add(name, {{"fail", "from_phish(unparseable)"}});
      return next();
    }
    const auto from_domain = orgDomain(mailbox->domain);
    const auto folded = normalizeLookalikes(from);
    for (const auto& target : targets_) {
      const bool named = target.whole_word ? containsWord(folded, target.brand)
                                           : containsNoCase(folded, target.domain);
      if (!named || authenticatedAs(target.domain, connection, txn) ||
          from_domain == target.domain) {
        continue;
      }
      txn.results().add(name, {{"fail", fmt::format("from_phish({})", target.brand)},
                               {"msg", fmt::format("'{}' found when domain is '{}' instead of '{}'",
                                                   target.brand, from_domain, target.domain)}});
      if (iniFlag(cfg_, "reject", "from_phish")) {
        return next(Code::Deny,
                    fmt::format("Phishing message appears to impersonate {}", target.domain));
      }
      return next();
    }
    txn.results().add(name, {{"pass", "from_phish"}});
    next();
  }

  HeadersFlavor flavor_;
  Host* host_ = nullptr;
  nlohmann::json cfg_;
  std::vector<PhishTarget> targets_;
  std::shared_ptr<auth::PublicSuffixList> list_ = std::make_shared<auth::PublicSuffixList>();
  std::string list_path_;
};

} // namespace

HeadersFlavor harakaFlavor() {
  return {"headers.ini",
          {"+check.duplicate_singular", "+check.missing_required", "+check.invalid_return_path",
           "+check.invalid_date", "+check.user_agent", "+check.direct_to_mx", "+check.from_match",
           "+check.delivered_to", "+check.mailing_list", "+check.from_phish",
           "-reject.duplicate_singular", "-reject.missing_required", "-reject.invalid_return_path",
           "-reject.invalid_date", "+reject.delivered_to", "-reject.from_phish"},
          "invalid_date(unparseable)",
          "The Date header could not be parsed"};
}

std::unique_ptr<Plugin> makeHeadersPlugin(HeadersFlavor flavor) {
  return std::make_unique<Headers>(std::move(flavor));
}

} // namespace upesi::plugins::headers
