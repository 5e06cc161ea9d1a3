#include "common/http/request_parser.hpp"

#include <upesi/text.hpp>

#include <fmt/format.h>

namespace upesi::http {

namespace {

RequestParser& owner(llhttp_t* parser) {
  return *static_cast<RequestParser*>(parser->data);
}

} // namespace

const std::string* Request::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (text::equalsIgnoreCase(field, name)) {
      return &value;
    }
  }
  return nullptr;
}

std::string_view Request::path() const {
  const std::string_view whole(target);
  return whole.substr(0, whole.find('?'));
}

std::string_view Request::query() const {
  const auto mark = target.find('?');
  return mark == std::string::npos ? std::string_view() : std::string_view(target).substr(mark + 1);
}

const llhttp_settings_t& RequestParser::settings() {
  static const llhttp_settings_t table = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = onMessageBegin;
    s.on_url = onUrl;
    s.on_header_field = onHeaderField;
    s.on_header_value = onHeaderValue;
    s.on_headers_complete = onHeadersComplete;
    s.on_body = onBody;
    s.on_message_complete = onMessageComplete;
    return s;
  }();
  return table;
}

RequestParser::RequestParser(RequestLimits limits) : limits_(limits) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
}

RequestParser::Result RequestParser::feed(std::string_view bytes, std::size_t& consumed) {
  consumed = 0;
  if (failure_.status != 0) {
    return Result::Failed;
  }
  if (complete_) {
    return Result::Complete; // take() first
  }
  if (paused_) {
    llhttp_resume(&parser_);
    paused_ = false;
  }
  const llhttp_errno_t rc = llhttp_execute(&parser_, bytes.data(), bytes.size());
  if (rc == HPE_OK) {
    consumed = bytes.size();
    return Result::NeedMore;
  }
  if ((rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) && complete_) {
    consumed = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - bytes.data());
    paused_ = rc == HPE_PAUSED;
    return Result::Complete;
  }
  if (failure_.status == 0) {
    failure_ = {400, fmt::format("bad request: {} ({})", llhttp_get_error_reason(&parser_),
                                 llhttp_errno_name(rc))};
  }
  return Result::Failed;
}

Request RequestParser::take() {
  complete_ = false;
  header_bytes_ = 0;
  in_value_ = false;
  return std::exchange(request_, {});
}

int RequestParser::refuse(int status, std::string reason) {
  failure_ = {status, std::move(reason)};
  return HPE_USER;
}

bool RequestParser::headerBytesLeft(std::size_t length) {
  header_bytes_ += length;
  return header_bytes_ <= limits_.max_header_bytes;
}

int RequestParser::onMessageBegin(llhttp_t* parser) {
  owner(parser).in_request_ = true;
  return 0;
}

int RequestParser::onUrl(llhttp_t* parser, const char* at, std::size_t length) {
  RequestParser& self = owner(parser);
  if (self.request_.target.size() + length > self.limits_.max_target) {
    return self.refuse(414,
                       fmt::format("request target longer than {} bytes", self.limits_.max_target));
  }
  self.request_.target.append(at, length);
  return 0;
}

int RequestParser::onHeaderField(llhttp_t* parser, const char* at, std::size_t length) {
  RequestParser& self = owner(parser);
  auto& headers = self.request_.headers;
  if (headers.empty() || self.in_value_) {
    if (headers.size() >= self.limits_.max_headers) {
      return self.refuse(431, fmt::format("more than {} header fields", self.limits_.max_headers));
    }
    headers.emplace_back();
    self.in_value_ = false;
  }
  if (!self.headerBytesLeft(length)) {
    return self.refuse(431, fmt::format("header fields longer than {} bytes in all",
                                        self.limits_.max_header_bytes));
  }
  headers.back().first.append(at, length);
  return 0;
}

int RequestParser::onHeaderValue(llhttp_t* parser, const char* at, std::size_t length) {
  RequestParser& self = owner(parser);
  if (!self.headerBytesLeft(length)) {
    return self.refuse(431, fmt::format("header fields longer than {} bytes in all",
                                        self.limits_.max_header_bytes));
  }
  self.in_value_ = true;
  if (self.request_.headers.empty()) {
    self.request_.headers.emplace_back(); // llhttp names a field before its value
  }
  self.request_.headers.back().second.append(at, length);
  return 0;
}

int RequestParser::onHeadersComplete(llhttp_t* parser) {
  RequestParser& self = owner(parser);
  Request& request = self.request_;
  request.method = llhttp_method_name(static_cast<llhttp_method_t>(parser->method));
  request.version_major = parser->http_major;
  request.version_minor = parser->http_minor;
  request.keep_alive = llhttp_should_keep_alive(parser) != 0;
  request.upgrade = parser->upgrade != 0;
  if ((parser->flags & F_CONTENT_LENGTH) != 0 && parser->content_length > self.limits_.max_body) {
    // Refused before the body is read: the client may be waiting for 100-continue.
    return self.refuse(413, fmt::format("body longer than {} bytes", self.limits_.max_body));
  }
  return 0;
}

int RequestParser::onBody(llhttp_t* parser, const char* at, std::size_t length) {
  RequestParser& self = owner(parser);
  if (self.request_.body.size() + length > self.limits_.max_body) {
    return self.refuse(413, fmt::format("body longer than {} bytes", self.limits_.max_body));
  }
  self.request_.body.append(at, length);
  return 0;
}

int RequestParser::onMessageComplete(llhttp_t* parser) {
  RequestParser& self = owner(parser);
  self.complete_ = true;
  self.in_request_ = false;
  return self.request_.upgrade ? 0 : HPE_PAUSED; // llhttp stops after an upgrade by itself
}

} // namespace upesi::http
