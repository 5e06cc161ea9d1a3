#include "common/http/response_parser.hpp"

#include <upesi/text.hpp>

#include <fmt/format.h>

namespace upesi::http {

namespace {

ResponseParser& responseOwner(llhttp_t* parser) {
  return *static_cast<ResponseParser*>(parser->data);
}

bool interim(const llhttp_t* parser) {
  return parser->status_code >= 100 && parser->status_code < 200 && parser->status_code != 101;
}

} // namespace

const std::string* ClientResponse::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (text::equalsIgnoreCase(field, name)) {
      return &value;
    }
  }
  return nullptr;
}

const llhttp_settings_t& ResponseParser::settings() {
  static const llhttp_settings_t table = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_status = onStatus;
    s.on_header_field = onHeaderField;
    s.on_header_value = onHeaderValue;
    s.on_headers_complete = onHeadersComplete;
    s.on_body = onBody;
    s.on_message_complete = onMessageComplete;
    return s;
  }();
  return table;
}

ResponseParser::ResponseParser(ResponseLimits limits, bool head_request)
    : limits_(limits), head_request_(head_request) {
  llhttp_init(&parser_, HTTP_RESPONSE, &settings());
  parser_.data = this;
}

ResponseParser::Result ResponseParser::feed(std::string_view bytes) {
  if (!error_.empty()) {
    return Result::Failed;
  }
  if (complete_) {
    return Result::Complete; // bytes after the response are not ours to read
  }
  return afterExecute(llhttp_execute(&parser_, bytes.data(), bytes.size()));
}

ResponseParser::Result ResponseParser::finish() {
  if (!error_.empty()) {
    return Result::Failed;
  }
  if (complete_) {
    return Result::Complete;
  }
  const llhttp_errno_t rc = llhttp_finish(&parser_);
  if (!complete_ && error_.empty()) {
    // llhttp calls a cut body an invalid EOF state; say what happened instead.
    error_ = response_.status == 0 ? "the connection closed before a response"
                                   : "the connection closed before the response ended";
    return Result::Failed;
  }
  return afterExecute(rc);
}

ResponseParser::Result ResponseParser::afterExecute(llhttp_errno_t rc) {
  if (rc == HPE_OK) {
    return complete_ ? Result::Complete : Result::NeedMore;
  }
  if (rc == HPE_PAUSED && complete_) {
    return Result::Complete;
  }
  if (error_.empty()) {
    error_ = fmt::format("bad response: {} ({})", llhttp_get_error_reason(&parser_),
                         llhttp_errno_name(rc));
  }
  return Result::Failed;
}

int ResponseParser::refuse(std::string reason) {
  error_ = std::move(reason);
  return HPE_USER;
}

bool ResponseParser::headerBytesLeft(std::size_t length) {
  header_bytes_ += length;
  return header_bytes_ <= limits_.max_header_bytes;
}

int ResponseParser::onStatus(llhttp_t* parser, const char* at, std::size_t length) {
  ResponseParser& self = responseOwner(parser);
  if (!self.headerBytesLeft(length)) {
    return self.refuse(
        fmt::format("header longer than {} bytes in all", self.limits_.max_header_bytes));
  }
  self.response_.reason.append(at, length);
  return 0;
}

int ResponseParser::onHeaderField(llhttp_t* parser, const char* at, std::size_t length) {
  ResponseParser& self = responseOwner(parser);
  auto& headers = self.response_.headers;
  if (headers.empty() || self.in_value_) {
    if (headers.size() >= self.limits_.max_headers) {
      return self.refuse(fmt::format("more than {} header fields", self.limits_.max_headers));
    }
    headers.emplace_back();
    self.in_value_ = false;
  }
  if (!self.headerBytesLeft(length)) {
    return self.refuse(
        fmt::format("header longer than {} bytes in all", self.limits_.max_header_bytes));
  }
  headers.back().first.append(at, length);
  return 0;
}

int ResponseParser::onHeaderValue(llhttp_t* parser, const char* at, std::size_t length) {
  ResponseParser& self = responseOwner(parser);
  if (!self.headerBytesLeft(length)) {
    return self.refuse(
        fmt::format("header longer than {} bytes in all", self.limits_.max_header_bytes));
  }
  self.in_value_ = true;
  if (self.response_.headers.empty()) {
    self.response_.headers.emplace_back();
  }
  self.response_.headers.back().second.append(at, length);
  return 0;
}

int ResponseParser::onHeadersComplete(llhttp_t* parser) {
  ResponseParser& self = responseOwner(parser);
  self.response_.status = parser->status_code;
  if (interim(parser)) {
    return 0;
  }
  if ((parser->flags & F_CONTENT_LENGTH) != 0 && parser->content_length > self.limits_.max_body &&
      !self.head_request_) {
    return self.refuse(fmt::format("body longer than {} bytes", self.limits_.max_body));
  }
  return self.head_request_ ? 1 : 0; // 1: no body follows
}

int ResponseParser::onBody(llhttp_t* parser, const char* at, std::size_t length) {
  ResponseParser& self = responseOwner(parser);
  if (self.response_.body.size() + length > self.limits_.max_body) {
    return self.refuse(fmt::format("body longer than {} bytes", self.limits_.max_body));
  }
  self.response_.body.append(at, length);
  return 0;
}

int ResponseParser::onMessageComplete(llhttp_t* parser) {
  ResponseParser& self = responseOwner(parser);
  if (interim(parser)) {
    // 100 Continue and the like: the final response follows on the same stream.
    self.response_ = {};
    self.header_bytes_ = 0;
    self.in_value_ = false;
    return 0;
  }
  self.complete_ = true;
  return HPE_PAUSED;
}

} // namespace upesi::http
