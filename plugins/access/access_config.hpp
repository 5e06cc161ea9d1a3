// What the access plugin reads: access.ini, the list files and the deny_msg of the plugins it
// replaced, loaded into one AccessConfig. A hook holds the AccessConfig it started with, and a
// change on disk loads a new one whole.
#pragma once

#include <upesi/host.hpp>
#include <upesi/plugin.hpp>

#include "common/auth/public_suffix.hpp"
#include "plugins/access/access_lists.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::access {

inline constexpr const char* DomainsFile = "access.domains";
inline constexpr const char* HeloRegexFile = "helo.checks.regexps";

/// The precise list files of one phase.
struct PhaseFiles {
  std::string white, white_regex, black, black_regex;
};

extern const PhaseFiles ConnFiles;
extern const PhaseFiles MailFiles;
extern const PhaseFiles RcptFiles;

struct PhaseLists {
  ExactList white, black;
  RegexList white_regex, black_regex;
};

struct AccessConfig {
  bool check_any = true, check_conn = true, check_helo = false, check_mail = true,
       check_rcpt = true, rcpt_accept = false;
  std::map<std::string, std::string> deny_msg = {{"conn", "You are not allowed to connect"},
                                                 {"helo", "That HELO is not allowed to connect"},
                                                 {"mail", "That sender cannot send mail here"},
                                                 {"rcpt", "That recipient is not allowed"}};
  PhaseLists conn, mail, rcpt;
  RegexList helo_black_regex;
  DomainList domains;
  std::shared_ptr<const auth::PublicSuffixList> suffixes;
};

class AccessConfigLoader {
public:
  explicit AccessConfigLoader(Host& host) : host_(host) {}

  /// Reads everything; problems (a regex that does not compile, a list too long, no Public
  /// Suffix List) are logged.
  std::shared_ptr<const AccessConfig> load();

  /// Every file load() reads, to watch for changes.
  static std::vector<std::string> files();
  /// access.ini and the replaced plugins' ini files, for `upesi --check`.
  static std::vector<ConfigFileSpec> iniFiles();

private:
  void loadSuffixList(const std::string& path);
  std::vector<std::string> readList(const std::string& name);
  RegexList loadRegexList(const std::string& name);
  PhaseLists loadPhase(const PhaseFiles& files);

  Host& host_;
  std::size_t max_entries_ = 0;
  std::shared_ptr<const auth::PublicSuffixList> suffixes_; // kept: it is large to read again
  std::string suffix_path_;
};

} // namespace upesi::plugins::access
