// clamd's answer to zINSTREAM, and what Haraka's clamd plugin does with a virus name: the
// [reject] switches per class of signature (PUA, Encrypted, Phishing...) and clamd.excludes.
// Pure functions, for hostile input too.
#pragma once

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::clamd {

struct ClamdReply {
  enum class Kind { Clean, Found, SizeLimit, Unknown };
  Kind kind = Kind::Unknown;
  std::string virus; ///< Found: the signature's name ("Win.Test.EICAR_HDB-1")
  std::string text;  ///< the answer's last line, NULs and control bytes removed, for logs
};

/// "stream: OK", "stream: NAME FOUND", "INSTREAM size limit exceeded. ERROR", anything else.
ClamdReply parseClamdReply(std::string_view answer);

/// True once the answer holds its terminating NUL (z-commands) or a line end.
bool clamdReplyComplete(std::string_view answer);

/// The [reject] switches named after a class of signature, and the name pattern of each.
struct VirusClass {
  const char* key; ///< the [reject] key: "PUA", "Encrypted", "Broken.Executable"...
  const char* pattern;
};
const std::vector<VirusClass>& virusClasses();

/// clamd.excludes, as Haraka reads it: "*.UNOFFICIAL" or "/regexp/" skips (the message is
/// accepted, with an X-Haraka-Virus header); a leading '!' makes either an exclusion from that
/// (always rejected). Case-insensitive.
struct Excludes {
  std::vector<std::regex> skip;
  std::vector<std::regex> always_reject;
  std::vector<std::string> errors; ///< entries that did not compile
};
Excludes parseExcludes(const std::vector<std::string>& lines);

struct VirusPolicy {
  bool reject_virus = true;
  std::vector<std::string> enabled_classes; ///< [reject] class keys that are true
  Excludes excludes;
};

enum class VirusAction {
  Reject,           ///< DENY: "Message is infected with NAME"
  AcceptWithHeader, ///< accepted with X-Haraka-Virus: NAME
  Accept,           ///< [reject] virus=false
};

VirusAction decideVirus(const VirusPolicy& policy, const std::string& virus);

} // namespace upesi::plugins::clamd
