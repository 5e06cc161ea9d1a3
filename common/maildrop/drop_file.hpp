// A message a local program handed to `sendmail`, as it waits in the maildrop directory for the
// server to queue it (Postfix's maildrop: the message is safe before any server runs).
//
// The file is text: a fixed first line, the envelope one field a line, an empty line, then the
// message as the program gave it (LF or CRLF line ends, not dot-stuffed):
//
//   UPESI-DROP 1
//   uid 1000
//   user alice
//   from alice                 the sender as given (-f) or the login name; empty: <>
//   name Alice Liddell         -F, for a From field the server adds (optional)
//   to bob@example.org         one line per recipient, unqualified ones allowed
//
// Unqualified addresses ("root") get the server's domain when it reads the file.
#pragma once

#include "common/util/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::maildrop {

/// Bounds on what a drop file's envelope may hold (the message has smtp.ini's own).
constexpr std::size_t MaxEnvelopeBytes = 1024 * 1024;
constexpr std::size_t MaxRecipients = 10000;
constexpr std::size_t MaxFieldBytes = 1000;

struct Envelope {
  unsigned long uid = 0;
  std::string user;      // the submitting user's login name
  std::string from;      // as given; empty: the null sender
  std::string full_name; // -F; empty: none
  std::vector<std::string> to;

  bool operator==(const Envelope&) const = default;
};

/// The envelope block, empty line included; an error when a field holds CR, LF or NUL, is
/// longer than MaxFieldBytes, or there are no recipients or more than MaxRecipients.
Result<std::string> serializeEnvelope(const Envelope& envelope);

struct DropFile {
  Envelope envelope;
  std::size_t message_offset = 0; // where the message starts in the file's bytes
};

/// Reads a drop file's envelope; `bytes` is the whole file (or at least its envelope).
Result<DropFile> parseDropFile(std::string_view bytes);

/// Drop files are written under a temporary name and renamed to a finished one, which is all
/// the server picks up: "d.<seconds>.<pid>.<random>" and "t.<pid>.<random>".
bool isFinishedName(std::string_view name);
bool isTemporaryName(std::string_view name);

} // namespace upesi::maildrop
