// Response: what the HTTP server answers, and its bytes on the wire (HTTP/1.1, with
// Content-Length, Date left out: nothing here is cached).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::http {

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers; // besides Content-Length, Connection
  std::string body;

  /// A plain-text answer ("404 Not Found\n" when `text` is empty).
  static Response text(int status, std::string_view text = {});
  Response& header(std::string name, std::string value);
};

/// "Not Found" for 404; "Unknown" for a code this server never sends.
std::string_view reasonPhrase(int status);

/// The status line, the headers (a field with CR, LF or NUL in it, or a name with ':', is left
/// out: it would split the response), Content-Length (left out for 1xx, 204 and 304) and
/// Connection: close when `closing`, then the body (left out when `head_only`, for HEAD).
std::string serialize(const Response& response, bool closing, bool head_only = false);

/// The head of a streamed response (its body is ignored): chunked when `chunked`, else the body
/// runs to the connection's close (for HTTP/1.0 clients).
std::string serializeStreamHead(const Response& head, bool closing, bool chunked);
/// One piece of a chunked body; an empty piece is left out (it would end the body).
std::string chunk(std::string_view piece);
inline constexpr std::string_view LastChunk = "0\r\n\r\n";

} // namespace upesi::http
