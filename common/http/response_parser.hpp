// ResponseParser: one HTTP/1.1 response read from a byte stream, on llhttp in response mode
// (strict, as the request parser), within limits the client sets. Interim 1xx responses are
// read and dropped; the final one is kept: status, header fields, and the body (Content-Length,
// chunked, or up to the end of the connection) decoded and bounded. A response past a limit or
// that is not HTTP fails; the parser then takes nothing more.
//
// Threading: one object per exchange, used by its loop thread.
#pragma once

#include <cstddef>
#include <llhttp.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::http {

struct ResponseLimits {
  std::size_t max_header_bytes = 32 * 1024; // names and values of all header fields
  std::size_t max_headers = 100;
  std::size_t max_body = 1024 * 1024;
};

struct ClientResponse {
  int status = 0;
  std::string reason;                                       // "OK", as sent
  std::vector<std::pair<std::string, std::string>> headers; // in order, names as sent
  std::string body;                                         // chunked bodies decoded

  /// The value of the first field named `name` (any case), or null.
  const std::string* header(std::string_view name) const;
};

class ResponseParser {
public:
  /// `head_request`: the response to a HEAD has no body, whatever its Content-Length says.
  explicit ResponseParser(ResponseLimits limits = {}, bool head_request = false);
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  enum class Result {
    NeedMore, // every byte was taken; the response is not complete yet
    Complete, // the final response is complete: take() it
    Failed,   // see error()
  };
  Result feed(std::string_view bytes);
  /// The peer closed its side: completes a body that runs to the end of the connection, fails
  /// any other response cut short.
  Result finish();
  ClientResponse take() { return std::exchange(response_, {}); }
  const std::string& error() const { return error_; }

private:
  static int onStatus(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeaderField(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeaderValue(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeadersComplete(llhttp_t* parser);
  static int onBody(llhttp_t* parser, const char* at, std::size_t length);
  static int onMessageComplete(llhttp_t* parser);
  static const llhttp_settings_t& settings();

  int refuse(std::string reason);
  bool headerBytesLeft(std::size_t length);
  Result afterExecute(llhttp_errno_t rc);

  ResponseLimits limits_;
  bool head_request_;
  llhttp_t parser_{};
  ClientResponse response_;
  std::size_t header_bytes_ = 0;
  bool in_value_ = false;
  bool complete_ = false;
  std::string error_;
};

} // namespace upesi::http
