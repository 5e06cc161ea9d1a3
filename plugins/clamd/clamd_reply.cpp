#include "plugins/clamd/clamd_reply.hpp"

#include <algorithm>
#include <utility>

namespace upesi::plugins::clamd {
namespace {

// "*" and "?" as wildcards, every other character as itself.
std::string wildcardToRegex(std::string_view glob) {
  std::string out = "^";
  for (char c : glob) {
    if (c == '*') {
      out += ".*";
    } else if (c == '?') {
      out += '.';
    } else if (std::string_view("\\^$.|+()[]{}/-").find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out + "$";
}

bool matchesAny(const std::vector<std::regex>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::regex& re) { return std::regex_search(name, re); });
}

} // namespace

ClamdReply parseClamdReply(std::string_view answer) {
  // The last non-empty line, as Haraka keeps the last line it read.
  std::string last;
  std::string current;
  for (char c : answer) {
    if (c == '\0' || c == '\n' || c == '\r') {
      if (!current.empty()) {
        last = std::exchange(current, {});
      }
    } else if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7F) {
      current += c;
    }
  }
  if (!current.empty()) {
    last = std::move(current);
  }
  ClamdReply reply;
  reply.text = last;
  if (last.starts_with("stream: OK")) {
    reply.kind = ClamdReply::Kind::Clean;
  } else if (last.size() > 14 && last.starts_with("stream: ") && last.ends_with(" FOUND")) {
    const auto name = std::string_view(last).substr(8, last.size() - 8 - 6);
    if (!name.empty() && name.find(' ') == std::string_view::npos) {
      reply.kind = ClamdReply::Kind::Found;
      reply.virus = std::string(name);
    }
  } else if (last.find("size limit exceeded") != std::string::npos) {
    reply.kind = ClamdReply::Kind::SizeLimit;
  }
  return reply;
}

bool clamdReplyComplete(std::string_view answer) {
  return answer.find('\0') != std::string_view::npos || answer.find('\n') != std::string_view::npos;
}

const std::vector<VirusClass>& virusClasses() {
  static const std::vector<VirusClass> classes = {
      {"Broken.Executable", "^Broken\\.Executable\\.?"},
      {"Encrypted", "^Encrypted\\."},
      {"PUA", "^PUA\\."},
      {"Structured", "^Heuristics\\.Structured\\."},
      {"OLE2", "^Heuristics\\.OLE2\\.ContainsMacros"},
      {"Safebrowsing", "^Heuristics\\.Safebrowsing\\."},
      {"Phishing", "^Heuristics\\.Phishing\\."},
      {"UNOFFICIAL", "\\.UNOFFICIAL$"},
  };
  return classes;
}

Excludes parseExcludes(const std::vector<std::string>& lines) {
  Excludes excludes;
  for (const auto& line : lines) {
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const bool negated = line.front() == '!';
    std::string_view entry = std::string_view(line).substr(negated ? 1 : 0);
    std::string pattern;
    if (entry.size() >= 2 && entry.front() == '/') {
      entry.remove_prefix(1);
      if (entry.back() == '/') {
        entry.remove_suffix(1);
      }
      pattern = std::string(entry);
    } else {
      pattern = wildcardToRegex(entry);
    }
    try {
      std::regex re(pattern, std::regex::ECMAScript | std::regex::icase);
      (negated ? excludes.always_reject : excludes.skip).push_back(std::move(re));
    } catch (const std::regex_error& error) {
      excludes.errors.push_back(line + ": " + error.what());
    }
  }
  return excludes;
}

VirusAction decideVirus(const VirusPolicy& policy, const std::string& virus) {
  // A class whose [reject] switch is off lets its signatures through, marked. As in Haraka,
  // this applies only while at least one class switch is on.
  if (!policy.enabled_classes.empty()) {
    bool in_class = false;
    bool enabled = false;
    for (const auto& vc : virusClasses()) {
      if (std::regex_search(virus, std::regex(vc.pattern))) {
        in_class = true;
        enabled = enabled || std::find(policy.enabled_classes.begin(), policy.enabled_classes.end(),
                                       vc.key) != policy.enabled_classes.end();
      }
    }
    if (in_class && !enabled) {
      return VirusAction::AcceptWithHeader;
    }
  }
  if (!policy.reject_virus) {
    return VirusAction::Accept;
  }
  if (matchesAny(policy.excludes.always_reject, virus)) {
    return VirusAction::Reject;
  }
  if (matchesAny(policy.excludes.skip, virus)) {
    return VirusAction::AcceptWithHeader;
  }
  return VirusAction::Reject;
}

} // namespace upesi::plugins::clamd
