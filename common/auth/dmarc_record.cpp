#include "common/auth/dmarc_record.hpp"

#include "common/auth/tag_list.hpp"
#include "common/util/ascii.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <limits>

namespace upesi::dmarc {
namespace {

std::string_view trimWsp(std::string_view text) {
  while (!text.empty() && text::isFoldingSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && text::isFoldingSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<Policy> parsePolicy(std::string_view value) {
  const std::string lower = text::toLower(value);
  if (lower == "none") {
    return Policy::None;
  }
  if (lower == "quarantine") {
    return Policy::Quarantine;
  }
  if (lower == "reject") {
    return Policy::Reject;
  }
  return std::nullopt;
}

std::optional<Alignment> parseAlignment(std::string_view value) {
  const std::string lower = text::toLower(value);
  if (lower == "r") {
    return Alignment::Relaxed;
  }
  if (lower == "s") {
    return Alignment::Strict;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parseNumber(std::string_view digits, std::uint64_t max) {
  if (digits.empty() || digits.size() > 20) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : digits) {
    if (!ascii::isDigit(c)) {
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  return value;
}

// RFC 3986 scheme ":" and something after it.
bool looksLikeUri(std::string_view uri) {
  const std::size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == uri.size() ||
      !ascii::isLetter(uri[0])) {
    return false;
  }
  for (std::size_t i = 1; i < colon; ++i) {
    const char c = uri[i];
    if (!ascii::isLetter(c) && !ascii::isDigit(c) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  for (char c : uri) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '!' || c == ',') {
      return false;
    }
  }
  return true;
}

// dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]
std::optional<ReportUri> parseReportUri(std::string_view text) {
  text = trimWsp(text);
  ReportUri result;
  const std::size_t bang = text.find('!');
  std::string_view uri = text.substr(0, bang);
  if (!looksLikeUri(uri)) {
    return std::nullopt;
  }
  result.uri = std::string(uri);
  if (bang != std::string_view::npos) {
    std::string_view size = text.substr(bang + 1);
    result.size_text = text::toLower(size);
    unsigned shift = 0;
    if (!size.empty() && !ascii::isDigit(size.back())) {
      switch (text::toLower(size.back())) {
      case 'k':
        shift = 10;
        break;
      case 'm':
        shift = 20;
        break;
      case 'g':
        shift = 30;
        break;
      case 't':
        shift = 40;
        break;
      default:
        return std::nullopt;
      }
      size.remove_suffix(1);
    }
    auto number = parseNumber(size, std::numeric_limits<std::uint64_t>::max() >> shift);
    if (!number) {
      return std::nullopt;
    }
    result.max_size = *number << shift;
  }
  return result;
}

std::vector<ReportUri> parseReportUris(std::string_view value) {
  std::vector<ReportUri> uris;
  std::size_t start = 0;
  while (start <= value.size() && uris.size() < MaxReportUris) {
    std::size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) {
      comma = value.size();
    }
    if (auto uri = parseReportUri(value.substr(start, comma - start))) {
      uris.push_back(std::move(*uri));
    }
    start = comma + 1;
  }
  return uris;
}

std::vector<std::string> splitColons(std::string_view value) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t colon = value.find(':', start);
    if (colon == std::string_view::npos) {
      colon = value.size();
    }
    std::string_view part = trimWsp(value.substr(start, colon - start));
    if (!part.empty()) {
      parts.push_back(text::toLower(part));
    }
    start = colon + 1;
  }
  return parts;
}

bool isKeyword(std::string_view word) {
  if (word.empty()) {
    return false;
  }
  for (char c : word) {
    if (!ascii::isLetter(c) && !ascii::isDigit(c) && c != '-') {
      return false;
    }
  }
  return true;
}

struct TagValidity {
  bool policy = false;          // a valid p= was seen
  bool subdomain_policy = true; // no sp=, or a valid one
};

// Sets the field of `record` that tag `name` (lower-case) gives; unknown tags are ignored.
void applyTag(Record& record, std::string_view name, std::string_view value,
              TagValidity& validity) {
  if (name == "p") {
    if (auto policy = parsePolicy(value)) {
      record.policy = *policy;
      validity.policy = true;
    }
  } else if (name == "sp") {
    record.subdomain_policy = parsePolicy(value);
    validity.subdomain_policy = record.subdomain_policy.has_value();
  } else if (name == "np") {
    record.nonexistent_policy = parsePolicy(value);
  } else if (name == "adkim") {
    record.dkim_alignment = parseAlignment(value).value_or(Alignment::Relaxed);
  } else if (name == "aspf") {
    record.spf_alignment = parseAlignment(value).value_or(Alignment::Relaxed);
  } else if (name == "pct") {
    auto percent = parseNumber(trimWsp(value), std::numeric_limits<std::uint64_t>::max());
    record.percent = percent && *percent <= 100 ? static_cast<int>(*percent) : 100;
  } else if (name == "rua") {
    record.aggregate_uris = parseReportUris(value);
  } else if (name == "ruf") {
    record.failure_uris = parseReportUris(value);
  } else if (name == "fo") {
    for (std::string& option : splitColons(value)) {
      if (option == "0" || option == "1" || option == "d" || option == "s") {
        record.failure_options.push_back(std::move(option));
      }
    }
  } else if (name == "rf") {
    for (std::string& format : splitColons(value)) {
      if (isKeyword(format)) {
        record.report_formats.push_back(std::move(format));
      }
    }
  } else if (name == "ri") {
    auto interval = parseNumber(trimWsp(value), std::numeric_limits<std::uint32_t>::max());
    record.report_interval = interval ? static_cast<std::uint32_t>(*interval) : 86400;
  }
}

} // namespace

std::string_view policyName(Policy policy) {
  switch (policy) {
  case Policy::None:
    return "none";
  case Policy::Quarantine:
    return "quarantine";
  case Policy::Reject:
    return "reject";
  }
  return "none";
}

char alignmentLetter(Alignment alignment) {
  return alignment == Alignment::Strict ? 's' : 'r';
}

bool isDmarcRecord(std::string_view txt) {
  txt = trimWsp(txt);
  if (txt.empty() || (txt[0] != 'v' && txt[0] != 'V')) {
    return false;
  }
  txt = trimWsp(txt.substr(1));
  if (txt.empty() || txt[0] != '=') {
    return false;
  }
  txt = trimWsp(txt.substr(1));
  if (!txt.starts_with("DMARC1")) {
    return false;
  }
  txt.remove_prefix(6);
  txt = trimWsp(txt);
  return txt.empty() || txt[0] == ';';
}

RecordParse parseRecord(std::string_view txt) {
  RecordParse parse;
  auto fail = [&parse](std::string error) {
    parse.record = Record{};
    parse.error = std::move(error);
    return parse;
  };
  if (txt.size() > MaxRecordLength) {
    return fail(fmt::format("longer than {} bytes", MaxRecordLength));
  }
  if (!isDmarcRecord(txt)) {
    return fail("does not start with v=DMARC1");
  }
  auth::TagList list = auth::parseTagList(txt);
  if (!list.ok()) {
    return fail(list.error);
  }
  // Tag names are case-insensitive in DMARC's ABNF; a tag given twice in any case is an error.
  std::vector<std::pair<std::string, std::string_view>> tags;
  for (const auto& [name, value] : list.tags) {
    std::string lower = text::toLower(name);
    for (const auto& seen : tags) {
      if (seen.first == lower) {
        return fail(fmt::format("the tag {} given twice", lower));
      }
    }
    tags.emplace_back(std::move(lower), value);
  }
  Record& record = parse.record;
  TagValidity validity;
  for (const auto& [name, value] : tags) {
    applyTag(record, name, value, validity);
  }
  if (record.failure_options.empty()) {
    record.failure_options = {"0"};
  }
  if (record.report_formats.empty()) {
    record.report_formats = {"afrf"};
  }
  if (!validity.policy || !validity.subdomain_policy) {
    if (record.aggregate_uris.empty()) {
      return fail(!validity.policy ? "no valid p= (and no valid rua=)"
                                   : "a bad sp= (and no valid rua=)");
    }
    record.policy = Policy::None;
    record.subdomain_policy.reset();
    record.policy_assumed = true;
  }
  return parse;
}

RecordSelection selectRecord(const std::vector<std::string>& txts) {
  RecordSelection selection;
  for (const std::string& txt : txts) {
    if (!isDmarcRecord(txt)) {
      continue;
    }
    if (selection.outcome == RecordSelection::Outcome::Found) {
      selection.outcome = RecordSelection::Outcome::Multiple;
      selection.record.clear();
      return selection;
    }
    selection.outcome = RecordSelection::Outcome::Found;
    selection.record = txt;
  }
  return selection;
}

std::string writeRecord(const Record& record) {
  std::string out = "v=DMARC1";
  if (!record.policy_assumed) {
    out += fmt::format("; p={}", policyName(record.policy));
  }
  if (record.subdomain_policy) {
    out += fmt::format("; sp={}", policyName(*record.subdomain_policy));
  }
  if (record.nonexistent_policy) {
    out += fmt::format("; np={}", policyName(*record.nonexistent_policy));
  }
  out += fmt::format("; adkim={}; aspf={}; pct={}", alignmentLetter(record.dkim_alignment),
                     alignmentLetter(record.spf_alignment), record.percent);
  auto write_uris = [&out](std::string_view tag, const std::vector<ReportUri>& uris) {
    if (uris.empty()) {
      return;
    }
    out += fmt::format("; {}=", tag);
    for (std::size_t i = 0; i < uris.size(); ++i) {
      out += i == 0 ? "" : ",";
      out += uris[i].uri;
      if (uris[i].max_size) {
        out += '!';
        out += uris[i].size_text;
      }
    }
  };
  write_uris("rua", record.aggregate_uris);
  write_uris("ruf", record.failure_uris);
  auto write_list = [&out](std::string_view tag, const std::vector<std::string>& items) {
    out += fmt::format("; {}=", tag);
    for (std::size_t i = 0; i < items.size(); ++i) {
      out += i == 0 ? "" : ":";
      out += items[i];
    }
  };
  write_list("fo", record.failure_options);
  write_list("rf", record.report_formats);
  out += fmt::format("; ri={}", record.report_interval);
  return out;
}

} // namespace upesi::dmarc
