// The SASL exchange of SMTP AUTH (RFC 4954): PLAIN (with the initial response or after an empty
// 334), LOGIN's two prompts and CRAM-MD5's challenge, fed the client's lines and answering what
// to say next. No socket, no hooks: the session runs the auth hook on the attempt it finishes
// with, and counts failures.
//
// Rules:
//  - A response is base64; "=" is the empty response, "*" cancels (501, not counted as an
//    error). Anything that does not decode ends the exchange with 501.
//  - A response line may be up to 12288 octets, CRLF included (RFC 4954 4). A longer one ends
//    the exchange with 500 and the rest of it, up to its LF, is dropped.
//  - PLAIN's authorization identity must be empty or the user: nobody acts as someone else.
#pragma once

#include <upesi/connection.hpp>

#include "worker/smtp/reply.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace upesi::smtp {

/// A 334 continuation: its text, already base64 (empty for PLAIN's prompt).
struct AuthPrompt {
  std::string text;
};

/// The exchange ended without credentials to check.
struct AuthRefusal {
  Reply reply;
  bool counts_as_error = true; // a client's cancel does not
};

/// What to do after start() or response(): prompt again, check the attempt, or refuse.
using AuthNext = std::variant<AuthPrompt, AuthAttempt, AuthRefusal>;

class AuthExchange {
public:
  /// RFC 4954 4: the longest response line, CRLF included.
  static constexpr std::size_t kMaxResponseLine = 12288;

  /// Begins `mechanism` (any case). `initial_response` is what followed it on the AUTH line;
  /// `cram_challenge` is what CRAM-MD5 sends (cramMd5Challenge()), unused by the others.
  AuthNext start(std::string_view mechanism, std::string_view initial_response,
                 std::string cram_challenge);

  /// The client's line after a 334, without its CRLF.
  AuthNext response(std::string_view line);

  /// True between a 334 prompt and the client's answer to it.
  bool awaitingResponse() const { return step_ != Step::None; }

  /// The longest line the session reads now: a response may be longer than a command.
  std::size_t lineLimit(std::size_t command_line_limit) const;

  /// The response line grew past lineLimit(): ends the exchange; skipLine() then drops the rest.
  AuthRefusal responseTooLong();

  /// True while the rest of an over-long response is being dropped.
  bool skippingLine() const { return skipping_line_; }
  /// How many bytes of `input` belong to the over-long response (all of them until its LF).
  std::size_t skipLine(std::string_view input);

private:
  enum class Step { None, PlainResponse, LoginUser, LoginPassword, CramResponse };

  void end();

  Step step_ = Step::None;
  std::string challenge_;  // CRAM-MD5
  std::string login_user_; // LOGIN, between its two prompts
  bool skipping_line_ = false;
};

} // namespace upesi::smtp
