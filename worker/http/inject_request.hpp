// The body of POST /api/v1/inject, checked and turned into what Host::sendEmail takes:
//
//   {"from": "a@b" | "" (the null sender <>),
//    "to": ["x@y", ...],                          1..max_recipients (smtp.ini)
//    "message": "full RFC 5322 text"              or, instead of message,
//    "headers": {"Subject": "..."} | [["Subject", "..."], ...], "body": "text",
//    "notes": {...}}                              optional: the transaction's notes
//
// Pure: no I/O. The body is anyone's who holds the token: every field is checked, and an error
// is a sentence for the client's 400.
#pragma once

#include <upesi/address.hpp>

#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::worker::http {

struct InjectRequest {
  Address from;
  std::vector<Address> to;
  std::string message; ///< header and body; LF or CRLF line ends (sendEmail makes them CRLF)
  nlohmann::json notes = nlohmann::json::object();
};

Result<InjectRequest> parseInjectRequest(std::string_view body, std::size_t max_recipients);

} // namespace upesi::worker::http
