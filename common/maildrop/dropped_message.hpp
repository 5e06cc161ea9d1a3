// What the server makes of a drop file (drop_file.hpp) before send_email queues it, as
// Postfix's pickup and cleanup do for its maildrop: unqualified addresses get this server's
// domain, a From field is added when the message has none (the user's address, with -F's
// name), and a Received field records the submitting user. Pure: the pickup does the I/O.
#pragma once

#include <upesi/address.hpp>

#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace upesi::maildrop {

struct DroppedMessage {
  Address from;
  std::vector<Address> to;
  std::string message;                     // header and body, LF or CRLF line ends
  nlohmann::json notes;                    // {"local_submission": {"uid": N, "user": "..."}}
  std::vector<std::string> bad_recipients; // recipients left out, each with the reason
};

/// `file` is a whole drop file; `me` this server's name (config/me), which unqualified
/// addresses get as their domain; `max_message_size` smtp.ini's. An error when the file is
/// not a drop file, the message is too large, or no recipient is an address.
Result<DroppedMessage> readDroppedMessage(std::string_view file, const std::string& me,
                                          std::uint64_t max_message_size);

/// The header block of a message a program wrote and where its body starts: the leading lines
/// that are header fields (or fold one); the first other line ends the block. `body` starts
/// after the empty line when there is one.
struct HeaderSplit {
  std::string_view header; // every line ends with its LF (or CRLF)
  std::string_view body;
  bool has_separator = false; // an empty line parted them
};
HeaderSplit splitHeader(std::string_view message);

} // namespace upesi::maildrop
