#include "common/metrics/labels.hpp"

#include "common/config/text_checks.hpp"

#include <vector>

namespace upesi::metrics {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

bool nameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool nameChar(char c) {
  return nameStart(c) || (c >= '0' && c <= '9');
}

} // namespace

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t len = config::utf8SequenceLength(value.substr(i));
      if (len == 0) {
        out += kReplacement;
      } else {
        out += value.substr(i, len);
        i += len - 1;
      }
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string labelPair(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  out += escapeLabelValue(value);
  out += '"';
  return out;
}

bool wellFormedLabels(std::string_view labels) {
  if (!config::isValidUtf8(labels)) {
    return false;
  }
  std::vector<std::string_view> names;
  std::size_t i = 0;
  for (;;) {
    const std::size_t name_start = i;
    if (i >= labels.size() || !nameStart(labels[i])) {
      return false;
    }
    while (i < labels.size() && nameChar(labels[i])) {
      ++i;
    }
    std::string_view name = labels.substr(name_start, i - name_start);
    // "le" is the histogram's own bucket label; "__" names are Prometheus's.
    if (name == "le" || name.starts_with("__")) {
      return false;
    }
    for (std::string_view seen : names) {
      if (seen == name) {
        return false;
      }
    }
    names.push_back(name);
    if (labels.substr(i, 2) != "=\"") {
      return false;
    }
    i += 2;
    for (;; ++i) {
      if (i >= labels.size() || labels[i] == '\n') {
        return false;
      }
      if (labels[i] == '"') {
        break;
      }
      if (labels[i] == '\\') {
        ++i;
        if (i >= labels.size() || (labels[i] != '\\' && labels[i] != '"' && labels[i] != 'n')) {
          return false;
        }
      }
    }
    ++i; // the closing quote
    if (i == labels.size()) {
      return true;
    }
    if (labels[i] != ',') {
      return false;
    }
    ++i;
  }
}

BoundedLabel::BoundedLabel(std::size_t limit, std::string other)
    : limit_(limit), other_(std::move(other)) {}

std::string_view BoundedLabel::admit(std::string_view value) {
  if (auto it = admitted_.find(std::string(value)); it != admitted_.end()) {
    return *it;
  }
  if (admitted_.size() >= limit_) {
    return other_;
  }
  return *admitted_.insert(std::string(value)).first;
}

} // namespace upesi::metrics
