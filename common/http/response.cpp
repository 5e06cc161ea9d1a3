#include "common/http/response.hpp"

#include <fmt/format.h>

namespace upesi::http {

namespace {

// A field a plugin built from what a client sent must not split the response.
bool safeField(std::string_view name, std::string_view value) {
  return !name.empty() && name.find_first_of(":\r\n") == std::string_view::npos &&
         value.find_first_of("\r\n") == std::string_view::npos &&
         name.find('\0') == std::string_view::npos && value.find('\0') == std::string_view::npos;
}

} // namespace

std::string_view reasonPhrase(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 426:
    return "Upgrade Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  default:
    return "Unknown";
  }
}

Response Response::text(int status, std::string_view text) {
  Response response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  response.body =
      text.empty() ? fmt::format("{} {}\n", status, reasonPhrase(status)) : std::string(text);
  return response;
}

Response& Response::header(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

namespace {

std::string statusAndFields(const Response& response) {
  std::string out =
      fmt::format("HTTP/1.1 {} {}\r\n", response.status, reasonPhrase(response.status));
  for (const auto& [name, value] : response.headers) {
    if (!safeField(name, value)) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  return out;
}

} // namespace

std::string serialize(const Response& response, bool closing, bool head_only) {
  std::string out = statusAndFields(response);
  const bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
  if (!bodiless) {
    out += fmt::format("Content-Length: {}\r\n", response.body.size());
  }
  if (closing) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  if (!bodiless && !head_only) {
    out += response.body;
  }
  return out;
}

std::string serializeStreamHead(const Response& head, bool closing, bool chunked) {
  std::string out = statusAndFields(head);
  if (chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  if (closing) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  return out;
}

std::string chunk(std::string_view piece) {
  if (piece.empty()) {
    return {};
  }
  std::string out = fmt::format("{:x}\r\n", piece.size());
  out += piece;
  out += "\r\n";
  return out;
}

} // namespace upesi::http
