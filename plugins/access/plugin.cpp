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
#include "common/auth/public_suffix.hpp"
#include "common/config/ini_values.hpp"
#include "common/util/ip_literal.hpp"
#include "plugins/access/access_lists.hpp"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace upesi::plugins::access {

using config::iniFlag;
using config::iniInteger;
using config::iniString;

namespace {

const std::vector<std::string> Booleans = {"+check.any",  "+check.conn", "-check.helo",
                                           "+check.mail", "+check.rcpt", "-rcpt.accept"};

constexpr std::size_t DefaultMaxListEntries = 100000;

const char* const DomainsFile = "access.domains";
const char* const HeloRegexFile = "helo.checks.regexps";

// The precise lists of one phase.
struct PhaseFiles {
  std::string white, white_regex, black, black_regex;
};

PhaseFiles filesFor(const std::string& prefix) {
  return {prefix + ".whitelist", prefix + ".whitelist_regex", prefix + ".blacklist",
          prefix + ".blacklist_regex"};
}

const PhaseFiles ConnFiles = filesFor("connect.rdns_access");
const PhaseFiles MailFiles = filesFor("mail_from.access");
const PhaseFiles RcptFiles = filesFor("rcpt_to.access");

// The ini files of the three plugins access replaced: their [general] deny_msg still counts.
const std::map<std::string, std::string> CompatIniFiles = {{"conn", "connect.rdns_access.ini"},
                                                           {"mail", "mail_from.access.ini"},
                                                           {"rcpt", "rcpt_to.access.ini"}};

struct PhaseLists {
  ExactList white, black;
  RegexList white_regex, black_regex;
};

// Everything one load read; replaced whole on a change, so a hook sees one consistent set.
struct Lists {
  bool check_any = true, check_conn = true, check_helo = false, check_mail = true,
       check_rcpt = true, rcpt_accept = false;
  std::map<std::string, std::string> deny_msg = {{"conn", "You are not allowed to connect"},
                                                 {"helo", "That HELO is not allowed to connect"},
                                                 {"mail", "That sender cannot send mail here"},
                                                 {"rcpt", "That recipient is not allowed"}};
  PhaseLists conn, mail, rcpt;
  RegexList helo_black_regex;
  DomainList domains;
};

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
    load();
    for (const auto& name : watchedFiles()) {
      host.onConfigChange(name, [this] { load(); });
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
    std::vector<ConfigFileSpec> files = {{"access.ini", "ini", Booleans}};
    for (const auto& [phase, name] : CompatIniFiles) {
      files.push_back({name, "ini", {}});
    }
    return files;
  }

private:
  std::vector<std::string> watchedFiles() const {
    std::vector<std::string> names = {"access.ini", DomainsFile, HeloRegexFile};
    for (const auto* files : {&ConnFiles, &MailFiles, &RcptFiles}) {
      names.insert(names.end(),
                   {files->white, files->white_regex, files->black, files->black_regex});
    }
    for (const auto& [phase, name] : CompatIniFiles) {
      names.push_back(name);
    }
    return names;
  }

  void load() {
    auto cfg = host_->config("access.ini", "ini", Booleans);
    auto lists = std::make_shared<Lists>();
    lists->check_any = iniFlag(cfg, "check", "any");
    lists->check_conn = iniFlag(cfg, "check", "conn");
    lists->check_helo = iniFlag(cfg, "check", "helo");
    lists->check_mail = iniFlag(cfg, "check", "mail");
    lists->check_rcpt = iniFlag(cfg, "check", "rcpt");
    lists->rcpt_accept = iniFlag(cfg, "rcpt", "accept");
    for (const auto& [phase, name] : CompatIniFiles) {
      auto text = iniString(host_->config(name, "ini"), "general", "deny_msg");
      if (!text.empty()) {
        lists->deny_msg[phase] = text;
      }
    }
    for (auto& [phase, text] : lists->deny_msg) {
      text = iniString(cfg, "deny_msg", phase, text);
    }
    auto max = iniInteger(cfg, "main", "max_list_entries");
    max_entries_ = max && *max > 0 ? static_cast<std::size_t>(*max) : DefaultMaxListEntries;
    loadSuffixList(
        iniString(cfg, "main", "public_suffix_list", std::string(auth::DebianPublicSuffixList)));

    lists->conn = loadPhase(ConnFiles);
    lists->mail = loadPhase(MailFiles);
    lists->rcpt = loadPhase(RcptFiles);
    lists->helo_black_regex = loadRegexList(HeloRegexFile);
    auto suffixes = suffixes_;
    lists->domains = DomainList(
        readList(DomainsFile),
        [suffixes](std::string_view name) { return suffixes->organizationalDomain(name); },
        max_entries_);
    lists_ = std::move(lists);
  }

  void loadSuffixList(const std::string& path) {
    if (path == suffix_path_ && suffixes_) {
      return;
    }
    auto list = auth::PublicSuffixList::load(path);
    if (!list) {
      host_->log(LogLevel::Error, fmt::format("{}; an organizational domain is then the last two "
                                              "labels (install Debian's publicsuffix package)",
                                              list.error()));
      suffixes_ = std::make_shared<auth::PublicSuffixList>();
    } else {
      suffixes_ = std::make_shared<auth::PublicSuffixList>(std::move(*list));
    }
    suffix_path_ = path;
  }

  std::vector<std::string> readList(const std::string& name) {
    std::vector<std::string> entries;
    auto list = host_->config(name, "list");
    if (list.is_array()) {
      for (const auto& entry : list) {
        if (entry.is_string()) {
          entries.push_back(entry.get<std::string>());
        }
      }
    }
    if (entries.size() > max_entries_) {
      host_->log(LogLevel::Error, fmt::format("{}: {} entries, only the first {} are used "
                                              "(access.ini [main] max_list_entries)",
                                              name, entries.size(), max_entries_));
    }
    return entries;
  }

  RegexList loadRegexList(const std::string& name) {
    auto patterns = readList(name);
    std::vector<RegexList::Problem> problems;
    RegexList list(patterns, max_entries_, problems);
    if (!problems.empty()) {
      std::ifstream file(host_->installDir() / "config" / name);
      std::stringstream text;
      text << file.rdbuf();
      for (const auto& problem : problems) {
        const auto& pattern = patterns[problem.index];
        host_->log(LogLevel::Error,
                   fmt::format("config/{}:{}: the regular expression {} is skipped: {}", name,
                               lineOf(text.str(), pattern), pattern, problem.message));
      }
    }
    return list;
  }

  PhaseLists loadPhase(const PhaseFiles& files) {
    PhaseLists lists;
    lists.white = ExactList(readList(files.white), max_entries_);
    lists.black = ExactList(readList(files.black), max_entries_);
    lists.white_regex = loadRegexList(files.white_regex);
    lists.black_regex = loadRegexList(files.black_regex);
    return lists;
  }

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
    const auto org_domain = suffixes_->organizationalDomain(domain);
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
    const auto org_domain = suffixes_->organizationalDomain(text::toLower(first.domain));
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
  std::shared_ptr<const Lists> lists_;
  std::size_t max_entries_ = DefaultMaxListEntries;
  std::shared_ptr<auth::PublicSuffixList> suffixes_;
  std::string suffix_path_;
};

} // namespace upesi::plugins::access

std::unique_ptr<upesi::Plugin> upesi_builtin_access() {
  return std::make_unique<upesi::plugins::access::Access>();
}
