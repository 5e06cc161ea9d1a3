#include "plugins/access/access_config.hpp"

#include "common/config/ini_values.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace upesi::plugins::access {

using config::iniFlag;
using config::iniInteger;
using config::iniString;

namespace {

const std::vector<std::string> Booleans = {"+check.any",  "+check.conn", "-check.helo",
                                           "+check.mail", "+check.rcpt", "-rcpt.accept"};

constexpr std::size_t DefaultMaxListEntries = 100000;

PhaseFiles filesFor(const std::string& prefix) {
  return {prefix + ".whitelist", prefix + ".whitelist_regex", prefix + ".blacklist",
          prefix + ".blacklist_regex"};
}

// The ini files of the three plugins access replaced: their [general] deny_msg still counts.
const std::map<std::string, std::string> CompatIniFiles = {{"conn", "connect.rdns_access.ini"},
                                                           {"mail", "mail_from.access.ini"},
                                                           {"rcpt", "rcpt_to.access.ini"}};

} // namespace

const PhaseFiles ConnFiles = filesFor("connect.rdns_access");
const PhaseFiles MailFiles = filesFor("mail_from.access");
const PhaseFiles RcptFiles = filesFor("rcpt_to.access");

std::vector<std::string> AccessConfigLoader::files() {
  std::vector<std::string> names = {"access.ini", DomainsFile, HeloRegexFile};
  for (const auto* phase : {&ConnFiles, &MailFiles, &RcptFiles}) {
    names.insert(names.end(), {phase->white, phase->white_regex, phase->black, phase->black_regex});
  }
  for (const auto& [phase, name] : CompatIniFiles) {
    names.push_back(name);
  }
  return names;
}

std::vector<ConfigFileSpec> AccessConfigLoader::iniFiles() {
  std::vector<ConfigFileSpec> specs = {{"access.ini", "ini", Booleans}};
  for (const auto& [phase, name] : CompatIniFiles) {
    specs.push_back({name, "ini", {}});
  }
  return specs;
}

std::shared_ptr<const AccessConfig> AccessConfigLoader::load() {
  auto cfg = host_.config("access.ini", "ini", Booleans);
  auto lists = std::make_shared<AccessConfig>();
  lists->check_any = iniFlag(cfg, "check", "any");
  lists->check_conn = iniFlag(cfg, "check", "conn");
  lists->check_helo = iniFlag(cfg, "check", "helo");
  lists->check_mail = iniFlag(cfg, "check", "mail");
  lists->check_rcpt = iniFlag(cfg, "check", "rcpt");
  lists->rcpt_accept = iniFlag(cfg, "rcpt", "accept");
  for (const auto& [phase, name] : CompatIniFiles) {
    auto text = iniString(host_.config(name, "ini"), "general", "deny_msg");
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
  lists->suffixes = suffixes_;
  return lists;
}

void AccessConfigLoader::loadSuffixList(const std::string& path) {
  if (path == suffix_path_ && suffixes_) {
    return;
  }
  auto list = auth::PublicSuffixList::load(path);
  if (!list) {
    host_.log(LogLevel::Error, fmt::format("{}; an organizational domain is then the last two "
                                           "labels (install Debian's publicsuffix package)",
                                           list.error()));
    suffixes_ = std::make_shared<auth::PublicSuffixList>();
  } else {
    suffixes_ = std::make_shared<auth::PublicSuffixList>(std::move(*list));
  }
  suffix_path_ = path;
}

std::vector<std::string> AccessConfigLoader::readList(const std::string& name) {
  std::vector<std::string> entries;
  auto list = host_.config(name, "list");
  if (list.is_array()) {
    for (const auto& entry : list) {
      if (entry.is_string()) {
        entries.push_back(entry.get<std::string>());
      }
    }
  }
  if (entries.size() > max_entries_) {
    host_.log(LogLevel::Error, fmt::format("{}: {} entries, only the first {} are used "
                                           "(access.ini [main] max_list_entries)",
                                           name, entries.size(), max_entries_));
  }
  return entries;
}

RegexList AccessConfigLoader::loadRegexList(const std::string& name) {
  auto patterns = readList(name);
  std::vector<RegexList::Problem> problems;
  RegexList list(patterns, max_entries_, problems);
  if (!problems.empty()) {
    std::ifstream file(host_.installDir() / "config" / name);
    std::stringstream text;
    text << file.rdbuf();
    for (const auto& problem : problems) {
      const auto& pattern = patterns[problem.index];
      host_.log(LogLevel::Error,
                fmt::format("config/{}:{}: the regular expression {} is skipped: {}", name,
                            lineOf(text.str(), pattern), pattern, problem.message));
    }
  }
  return list;
}

PhaseLists AccessConfigLoader::loadPhase(const PhaseFiles& files) {
  PhaseLists lists;
  lists.white = ExactList(readList(files.white), max_entries_);
  lists.black = ExactList(readList(files.black), max_entries_);
  lists.white_regex = loadRegexList(files.white_regex);
  lists.black_regex = loadRegexList(files.black_regex);
  return lists;
}

} // namespace upesi::plugins::access
