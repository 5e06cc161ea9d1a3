#include "worker/http/inject_request.hpp"

#include "common/mail/header.hpp"
#include "common/smtp/address_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace upesi::worker::http {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::string_view, 6> Fields = {"from",    "to",   "message",
                                                    "headers", "body", "notes"};

// A value is one line: CR or LF would start a field (or the body) of the caller's choosing.
bool isFieldValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

Result<Address> parseAddress(const Json& value, smtp::PathKind kind, const std::string& field) {
  if (!value.is_string()) {
    return Error{fmt::format("\"{}\" must be a string", field)};
  }
  const auto& text = value.get_ref<const std::string&>();
  if (kind == smtp::PathKind::Reverse && (text.empty() || text == "<>")) {
    Address null_path;
    null_path.original = "<>";
    null_path.is_null = true;
    return null_path;
  }
  auto parsed = smtp::parsePath(text, kind);
  if (!parsed) {
    return Error{fmt::format("\"{}\" is not an address: {}", field, parsed.error())};
  }
  if (kind == smtp::PathKind::Forward && parsed->host.empty()) {
    return Error{fmt::format("\"{}\" has no domain", field)};
  }
  return parsed;
}

Result<std::string> headerLine(const Json& name, const Json& value) {
  if (!name.is_string() || !value.is_string()) {
    return Error{"a header's name and value must be strings"};
  }
  const auto& n = name.get_ref<const std::string&>();
  const auto& v = value.get_ref<const std::string&>();
  if (!mail::Header::validName(n)) { // RFC 5322 3.6.8
    return Error{"a header name must be printable ASCII without ':' or spaces"};
  }
  if (!isFieldValue(v)) {
    return Error{fmt::format("the value of header \"{}\" holds CR, LF or NUL", n)};
  }
  return fmt::format("{}: {}\r\n", n, v);
}

Result<std::string> composeMessage(const Json& headers, const Json& body) {
  if (!body.is_string()) {
    return Error{"\"body\" must be a string (with \"headers\")"};
  }
  std::string message;
  auto add = [&message](const Json& name, const Json& value) -> Result<std::monostate> {
    auto line = headerLine(name, value);
    if (!line) {
      return Error{line.error()};
    }
    message += *line;
    return std::monostate{};
  };
  if (headers.is_object()) {
    for (const auto& [name, value] : headers.items()) {
      if (auto added = add(name, value); !added) {
        return Error{added.error()};
      }
    }
  } else if (headers.is_array()) {
    for (const auto& pair : headers) {
      if (!pair.is_array() || pair.size() != 2) {
        return Error{"\"headers\" as an array holds [name, value] pairs"};
      }
      if (auto added = add(pair[0], pair[1]); !added) {
        return Error{added.error()};
      }
    }
  } else {
    return Error{"\"headers\" must be an object or an array of [name, value] pairs"};
  }
  if (message.empty()) {
    return Error{"\"headers\" is empty"};
  }
  message += "\r\n";
  message += body.get_ref<const std::string&>();
  return message;
}

} // namespace

Result<InjectRequest> parseInjectRequest(std::string_view body, std::size_t max_recipients) {
  Json json = Json::parse(body, nullptr, false);
  if (json.is_discarded()) {
    return Error{"the body is not JSON"};
  }
  if (!json.is_object()) {
    return Error{"the body must be a JSON object"};
  }
  for (const auto& [key, value] : json.items()) {
    if (std::find(Fields.begin(), Fields.end(), key) == Fields.end()) {
      return Error{fmt::format("unknown field \"{}\"", key)};
    }
  }
  InjectRequest request;
  if (!json.contains("from")) {
    return Error{"\"from\" is missing (\"\" for the null sender)"};
  }
  auto from = parseAddress(json["from"], smtp::PathKind::Reverse, "from");
  if (!from) {
    return Error{from.error()};
  }
  request.from = std::move(*from);

  if (!json.contains("to")) {
    return Error{"\"to\" is missing"};
  }
  const Json& to = json["to"];
  if (!to.is_array() || to.empty()) {
    return Error{"\"to\" must be a non-empty array of addresses"};
  }
  if (to.size() > max_recipients) {
    return Error{fmt::format("\"to\" has {} recipients; at most {}", to.size(), max_recipients)};
  }
  for (std::size_t i = 0; i < to.size(); ++i) {
    auto rcpt = parseAddress(to[i], smtp::PathKind::Forward, fmt::format("to[{}]", i));
    if (!rcpt) {
      return Error{rcpt.error()};
    }
    request.to.push_back(std::move(*rcpt));
  }

  const bool has_message = json.contains("message");
  const bool has_parts = json.contains("headers") || json.contains("body");
  if (has_message == has_parts) {
    return Error{"give either \"message\" or \"headers\" and \"body\""};
  }
  if (has_message) {
    if (!json["message"].is_string() || json["message"].get_ref<const std::string&>().empty()) {
      return Error{"\"message\" must be a non-empty string"};
    }
    request.message = json["message"].get<std::string>();
  } else {
    if (!json.contains("headers") || !json.contains("body")) {
      return Error{"\"headers\" and \"body\" go together"};
    }
    auto message = composeMessage(json["headers"], json["body"]);
    if (!message) {
      return Error{message.error()};
    }
    request.message = std::move(*message);
  }

  if (json.contains("notes")) {
    if (!json["notes"].is_object()) {
      return Error{"\"notes\" must be a JSON object"};
    }
    request.notes = json["notes"];
  }
  return request;
}

} // namespace upesi::worker::http
