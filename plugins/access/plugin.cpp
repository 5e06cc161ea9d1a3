// access: Haraka's access lists. "any" blocks a domain (by its organizational domain) wherever
// it shows up: rDNS name, HELO, MAIL FROM, RCPT TO and the From header; the precise lists
// whitelist and blacklist the client (IP and rDNS name), the HELO name, senders and recipients,
// exactly or by anchored regular expressions. A whitelist match always wins.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/auth/from_domain.hpp"
#include "common/util/ip_literal.hpp"
#include "plugins/access/access_config.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::access {

namespace {

bool invalidHost(const std::string& name) {
  return name.empty() || name == "DNSERROR" || name == "Unknown" || name == "NXDOMAIN";
}

std::string_view hookName(Hook hook) {
  switch (hook) {
  case Hook::Connect:
    return "connect";
  case Hook::Helo:
    return "helo";
  case Hook::Ehlo:
    return "ehlo";
  case Hook::Mail:
    return "mail";
  case Hook::Rcpt:
    return "rcpt";
  default:
    return "?";
  }
}

} // namespace

class Access final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    loader_ = std::make_unique<AccessConfigLoader>(host);
    lists_ = loader_->load();
    for (const auto& name : AccessConfigLoader::files()) {
      host.onConfigChange(name, [this] { lists_ = loader_->load(); });
    }
    registrar.registerHook(
        Hook::Connect, [this](Next next, Connection& c, const HookParams&) { rdnsAccess(next, c); },
        0, "rdns_access");
    for (auto hook : {Hook::Helo, Hook::Ehlo}) {
      registrar.registerHook(
          hook, [this](Next next, Connection& c, const HookParams& p) { heloAccess(next, c, p); },
          0, "helo_access");
    }
    registrar.registerHook(
        Hook::Mail,
        [this](Next next, Connection& c, const HookParams& p) { mailFromAccess(next, c, p); }, 0,
        "mail_from_access");
    registrar.registerHook(
        Hook::Rcpt,
        [this](Next next, Connection& c, const HookParams& p) { rcptToAccess(next, c, p); }, 0,
        "rcpt_to_access");
    for (auto hook : {Hook::Connect, Hook::Helo, Hook::Ehlo, Hook::Mail, Hook::Rcpt}) {
      registrar.registerHook(
          hook,
          [this, hook](Next next, Connection& c, const HookParams& p) { any(next, c, p, hook); }, 0,
          "any");
    }
    registrar.registerHook(
        Hook::DataPost, [this](Next next, Connection& c, const HookParams&) { dataAny(next, c); },
        0, "data_any");
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return AccessConfigLoader::iniFiles();
  }

private:
  // Adds to results and, as Haraka's emit does, logs what was added.
  void record(Results& results, const nlohmann::json& values, Connection& connection,
              bool emit = true) {
    results.add(host_->pluginName(), values);
    if (emit) {
      std::string line;
      for (const auto& [key, value] : values.items()) {
        line += (line.empty() ? "" : "; ") + key + ": " +
                (value.is_string() ? value.get<std::string>() : value.dump());
      }
      host_->log(LogLevel::Info, line, &connection);
    }
  }

  // The file of `lists` that lists `value` ("" if none): the exact list, then the regex list.
  static std::string listedIn(const ExactList& exact, const RegexList& regex,
                              const std::string& exact_file, const std::string& regex_file,
                              std::string_view value) {
    if (exact.contains(value)) {
      return exact_file;
    }
    return regex.match(value) != nullptr ? regex_file : std::string();
  }

  void rdnsAccess(const Next& next, Connection& connection) {
    auto lists = lists_;
    if (!lists->check_conn) {
      return next();
    }
    const auto& remote = connection.remote();
    auto& results = connection.results();
    for (bool white : {true, false}) {
      for (const auto* name : {&remote.ip, &remote.host}) {
        if (name->empty()) {
          continue;
        }
        const auto value = text::toLower(*name);
        auto file = white ? listedIn(lists->conn.white, lists->conn.white_regex, ConnFiles.white,
                                     ConnFiles.white_regex, value)
                          : listedIn(lists->conn.black, lists->conn.black_regex, ConnFiles.black,
                                     ConnFiles.black_regex, value);
        if (file.empty()) {
          continue;
        }
        if (white) {
          record(results, {{"whitelist", true}, {"pass", file}}, connection);
          return next();
        }
        record(results, {{"fail", file}}, connection);
        return next(Code::DenyDisconnect,
                    fmt::format("{} [{}] {}", remote.host, remote.ip, lists->deny_msg.at("conn")));
      }
    }
    record(results, {{"msg", "unlisted(conn)"}}, connection, false);
    next();
  }

  void heloAccess(const Next& next, Connection& connection, const HookParams& params) {
    auto lists = lists_;
    if (!lists->check_helo) {
      return next();
    }
    if (lists->helo_black_regex.match(params.host) != nullptr) {
      record(connection.results(), {{"fail", HeloRegexFile}}, connection);
      return next(Code::Deny, fmt::format("{} {}", params.host, lists->deny_msg.at("helo")));
    }
    record(connection.results(), {{"msg", "unlisted(helo)"}}, connection, false);
    next();
  }

  void mailFromAccess(const Next& next, Connection& connection, const HookParams& params) {
    auto lists = lists_;
    auto* txn = connection.transaction();
    if (!lists->check_mail || txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto sender = params.address->address();
    if (sender.empty()) {
      record(txn->results(), {{"skip", "null sender"}}, connection);
      return next();
    }
    addressAccess(next, connection, *txn, lists->mail, MailFiles, sender,
                  lists->deny_msg.at("mail"), "mail", Code::Cont);
  }

  void rcptToAccess(const Next& next, Connection& connection, const HookParams& params) {
    auto lists = lists_;
    auto* txn = connection.transaction();
    if (!lists->check_rcpt || txn == nullptr || params.address == nullptr) {
      return next();
    }
    const auto recipient = params.address->address();
    if (recipient.empty()) {
      record(txn->results(), {{"skip", "null rcpt"}}, connection);
      return next();
    }
    addressAccess(next, connection, *txn, lists->rcpt, RcptFiles, recipient,
                  lists->deny_msg.at("rcpt"), "rcpt", lists->rcpt_accept ? Code::Ok : Code::Cont);
  }

  void addressAccess(const Next& next, Connection& connection, Transaction& txn,
                     const PhaseLists& lists, const PhaseFiles& files, const std::string& address,
                     const std::string& deny_msg, const std::string& phase, Code on_white) {
    auto file = listedIn(lists.white, lists.white_regex, files.white, files.white_regex, address);
    if (!file.empty()) {
      record(txn.results(), {{"pass", file}}, connection);
      return next(on_white);
    }
    file = listedIn(lists.black, lists.black_regex, files.black, files.black_regex, address);
    if (!file.empty()) {
      record(txn.results(), {{"fail", file}}, connection);
      return next(Code::Deny, fmt::format("{} {}", address, deny_msg));
    }
    record(txn.results(), {{"msg", fmt::format("unlisted({})", phase)}}, connection, false);
    next();
  }

  // The name the "any" check looks at on `hook`, or "" when there is none.
  static std::string anyDomain(Hook hook, Connection& connection, const HookParams& params) {
    switch (hook) {
    case Hook::Connect:
      return invalidHost(connection.remote().host) ? std::string()
                                                   : text::toLower(connection.remote().host);
    case Hook::Helo:
    case Hook::Ehlo: {
      std::string helo(params.host);
      if (helo.empty() || helo.front() == '[' || isIpLiteral(helo)) {
        return {};
      }
      return text::toLower(helo);
    }
    case Hook::Mail:
    case Hook::Rcpt:
      return params.address != nullptr ? params.address->host : std::string();
    default:
      return {};
    }
  }

  void any(const Next& next, Connection& connection, const HookParams& params, Hook hook) {
    auto lists = lists_;
    if (!lists->check_any) {
      return next();
    }
    const auto domain = anyDomain(hook, connection, params);
    if (domain.empty()) {
      return next();
    }
    auto& results = connection.results();
    if (domain.find('.') == std::string::npos) {
      record(results, {{"fail", "invalid domain: " + domain}}, connection);
      return next();
    }
    const auto org_domain = lists->suffixes->organizationalDomain(domain);
    if (org_domain.empty()) {
      return next();
    }
    std::string address;
    if ((hook == Hook::Mail || hook == Hook::Rcpt) && params.address != nullptr) {
      address = params.address->address();
    }
    switch (lists->domains.check(address, domain, org_domain)) {
    case DomainList::Verdict::Whitelisted:
      record(results,
             {{"pass", fmt::format("{}:{}", hookName(hook), DomainsFile)}, {"whitelist", true}},
             connection);
      return next();
    case DomainList::Verdict::Blacklisted:
      record(results,
             {{"fail", fmt::format("{}({})", DomainsFile, org_domain)}, {"blacklist", true}},
             connection);
      return next(Code::Deny, "You are not welcome here.");
    case DomainList::Verdict::Unlisted:
      break;
    }
    record(results, {{"msg", fmt::format("unlisted({}:any)", hookName(hook))}}, connection, false);
    next();
  }

  void dataAny(const Next& next, Connection& connection) {
    auto lists = lists_;
    auto* txn = connection.transaction();
    if (!lists->check_any || txn == nullptr) {
      return next();
    }
    const auto from = txn->headers("From");
    if (from.empty()) {
      record(txn->results(), {{"fail", "data(missing_from)"}}, connection, false);
      return next();
    }
    auto mailboxes = dmarc::parseMailboxList(from.front());
    if (!mailboxes.ok() || mailboxes.mailboxes.empty()) {
      record(txn->results(), {{"fail", fmt::format("data(unparsable_from:{})", from.front())}},
             connection, false);
      return next();
    }
    const auto& first = mailboxes.mailboxes.front();
    const auto org_domain = lists->suffixes->organizationalDomain(text::toLower(first.domain));
    if (org_domain.empty()) {
      record(txn->results(),
             {{"fail", fmt::format("data(no_od_from:{}@{})", first.local_part, first.domain)}},
             connection, false);
      return next();
    }
    auto& results = connection.results();
    switch (lists->domains.checkOrgDomain(org_domain)) {
    case DomainList::Verdict::Whitelisted:
      record(results, {{"pass", DomainsFile}, {"whitelist", true}}, connection);
      return next();
    case DomainList::Verdict::Blacklisted:
      record(results,
             {{"fail", fmt::format("{}({})", DomainsFile, org_domain)}, {"blacklist", true}},
             connection);
      return next(Code::Deny, "Email from that domain is not accepted here.");
    case DomainList::Verdict::Unlisted:
      break;
    }
    record(results, {{"msg", "unlisted(any)"}}, connection, false);
    next();
  }

  Host* host_ = nullptr;
  std::unique_ptr<AccessConfigLoader> loader_;
  std::shared_ptr<const AccessConfig> lists_;
};

} // namespace upesi::plugins::access

std::unique_ptr<upesi::Plugin> upesi_builtin_access() {
  return std::make_unique<upesi::plugins::access::Access>();
}
