// RequestParser: HTTP/1.1 requests read from a byte stream, one at a time (pipelined requests
// wait in the caller's buffer), on llhttp (Node's parser) in its strict mode, within limits the
// server sets. A request past a limit fails with the status to answer: 414, 431 or 413; input
// that is not HTTP fails with 400. After a failure the parser takes nothing more: the server
// answers and closes.
//
// Threading: one object per connection, used by its loop thread.
#pragma once

#include <cstddef>
#include <llhttp.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::http {

struct RequestLimits {
  std::size_t max_target = 8 * 1024;        // the request-target ("/path?query")
  std::size_t max_header_bytes = 16 * 1024; // the names and values of all header fields
  std::size_t max_headers = 100;
  std::size_t max_body = 1024 * 1024;
};

struct Request {
  std::string method; // "GET"
  std::string target; // "/metrics?name=x", as sent
  int version_major = 1;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers; // in order, names as sent
  std::string body;                                         // chunked bodies decoded
  bool keep_alive = true; // HTTP/1.1 without "Connection: close", or 1.0 with keep-alive
  bool upgrade = false;   // the bytes after this request are another protocol's

  /// The value of the first field named `name` (any case), or null.
  const std::string* header(std::string_view name) const;
  /// The target before any '?'.
  std::string_view path() const;
  /// The target after the first '?', or empty.
  std::string_view query() const;
};

struct ParseFailure {
  int status = 0;     // the reply: 400, 413, 414 or 431
  std::string reason; // for the log and the reply's body
};

class RequestParser {
public:
  explicit RequestParser(RequestLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  enum class Result {
    NeedMore, // every byte was taken; the request is not complete yet
    Complete, // a request is complete: take() it; bytes past `consumed` were not read
    Failed,   // see failure()
  };
  /// Reads from `bytes`, setting `consumed` to how many it used.
  Result feed(std::string_view bytes, std::size_t& consumed);
  /// The complete request; the parser then reads the next one (unless it was an upgrade).
  Request take();
  const ParseFailure& failure() const { return failure_; }
  /// Some of a request was read and its end was not: the client is in the middle of one.
  bool inRequest() const { return in_request_; }

private:
  static int onMessageBegin(llhttp_t* parser);
  static int onUrl(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeaderField(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeaderValue(llhttp_t* parser, const char* at, std::size_t length);
  static int onHeadersComplete(llhttp_t* parser);
  static int onBody(llhttp_t* parser, const char* at, std::size_t length);
  static int onMessageComplete(llhttp_t* parser);
  static const llhttp_settings_t& settings();

  int refuse(int status, std::string reason);
  bool headerBytesLeft(std::size_t length);

  RequestLimits limits_;
  llhttp_t parser_{};
  Request request_;
  std::size_t header_bytes_ = 0;
  bool in_value_ = false; // the last header callback was a value's
  bool in_request_ = false;
  bool complete_ = false;
  bool paused_ = false; // stopped at the end of a request, to be resumed by the next feed()
  ParseFailure failure_;
};

} // namespace upesi::http
