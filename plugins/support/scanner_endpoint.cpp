#include "plugins/support/scanner_endpoint.hpp"

#include <fmt/format.h>

#include <charconv>

namespace upesi::plugins {
namespace {

Result<std::uint16_t> parsePort(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535) {
    return Error{fmt::format("bad port in '{}'", whole)};
  }
  return static_cast<std::uint16_t>(value);
}

} // namespace

std::string ScannerEndpoint::text() const {
  if (isUnix()) {
    return path;
  }
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

Result<ScannerEndpoint> parseScannerEndpoint(std::string_view text, std::uint16_t default_port) {
  ScannerEndpoint endpoint;
  endpoint.port = default_port;
  if (text.empty()) {
    return Error{"empty address"};
  }
  if (text.front() == '/') {
    endpoint.path = std::string(text);
    return endpoint;
  }
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close == 1) {
      return Error{fmt::format("bad IPv6 address in '{}'", text)};
    }
    endpoint.host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Error{fmt::format("unexpected text after ']' in '{}'", text)};
      }
      auto port = parsePort(rest.substr(1), text);
      if (!port) {
        return Error{port.error()};
      }
      endpoint.port = *port;
    }
    return endpoint;
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
    endpoint.host = std::string(text); // a name, IPv4, or a bare IPv6 address
    return endpoint;
  }
  if (colon == 0) {
    return Error{fmt::format("no host in '{}'", text)};
  }
  endpoint.host = std::string(text.substr(0, colon));
  auto port = parsePort(text.substr(colon + 1), text);
  if (!port) {
    return Error{port.error()};
  }
  endpoint.port = *port;
  return endpoint;
}

std::vector<std::string> splitScannerList(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ',' || c == ';' || c == ' ' || c == '\t') {
      if (!current.empty()) {
        out.push_back(std::exchange(current, {}));
      }
    } else {
      current += c;
    }
  }
  if (!current.empty()) {
    out.push_back(std::move(current));
  }
  return out;
}

} // namespace upesi::plugins
