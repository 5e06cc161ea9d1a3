#include "plugins/milter/filter_socket.hpp"

#include "common/util/ip_literal.hpp"

#include <fmt/format.h>

#include <charconv>

namespace upesi::plugins::milter {
namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

bool parsePort(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

} // namespace

Result<FilterSocket> parseFilterSocket(std::string_view spec) {
  spec = trimmed(spec);
  FilterSocket socket;
  socket.text = std::string(spec);
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) {
    return Error{fmt::format("\"{}\" is not inet:HOST:PORT or unix:/path", spec)};
  }
  const auto kind = spec.substr(0, colon);
  const auto rest = spec.substr(colon + 1);
  if (kind == "unix" || kind == "local") {
    if (rest.empty()) {
      return Error{fmt::format("\"{}\" names no socket file", spec)};
    }
    socket.unix_path = true;
    socket.path = std::string(rest);
    return socket;
  }
  if (kind != "inet" && kind != "inet6") {
    return Error{fmt::format("\"{}\": unknown socket type \"{}\"", spec, kind)};
  }
  std::string_view host;
  std::string_view port;
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    port = rest.substr(0, at); // Sendmail: PORT@HOST
    host = rest.substr(at + 1);
  } else if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return Error{fmt::format("\"{}\": expected [ADDRESS]:PORT", spec)};
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto last = rest.rfind(':');
    if (last == std::string_view::npos) {
      return Error{fmt::format("\"{}\" names no port", spec)};
    }
    host = rest.substr(0, last);
    port = rest.substr(last + 1);
  }
  if (!parsePort(port, socket.port)) {
    return Error{fmt::format("\"{}\": \"{}\" is not a port number", spec, port)};
  }
  if (host == "localhost") {
    host = kind == "inet6" ? "::1" : "127.0.0.1";
  }
  if (!isIpLiteral(std::string(host))) {
    return Error{
        fmt::format("\"{}\": \"{}\" is not an IP address (names are not looked up)", spec, host)};
  }
  socket.ip = std::string(host);
  return socket;
}

} // namespace upesi::plugins::milter
