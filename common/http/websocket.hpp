// WebSocketEngine: the server side of one RFC 6455 connection after its 101, without I/O. The
// owner feeds it the client's bytes and writes out the bytes it produces; the engine reads
// frames (any split of the input gives the same events), answers pings, enforces the protocol
// and the message size limit, and runs the closing handshake.
//
// Memory is bounded: the partial frame header, one control frame's payload (125 bytes) and the
// message being read (at most `max_message`; a frame that would take it past the limit is
// refused from its header, before its payload is read).
//
// Threading: one object per connection, used by its loop thread. The callbacks may call the
// send functions and close(), but not feed(), and must not destroy the engine.
#pragma once

#include "common/util/utf8_validator.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace upesi::http {

/// Close codes (RFC 6455 section 7.4.1).
namespace close_code {
inline constexpr std::uint16_t Normal = 1000;
inline constexpr std::uint16_t GoingAway = 1001;
inline constexpr std::uint16_t ProtocolError = 1002;
inline constexpr std::uint16_t NoStatus = 1005; // a close frame without a code; never sent
inline constexpr std::uint16_t InvalidData = 1007;
inline constexpr std::uint16_t TooBig = 1009;
} // namespace close_code

/// A code a close frame may carry: 1000-1003, 1007-1014 (1012-1014 were registered with IANA
/// after RFC 6455), 3000-4999 (registered and private use).
bool isValidCloseCode(std::uint16_t code);

struct WebSocketLimits {
  std::size_t max_message = 1024 * 1024; // a larger message closes the connection with 1009
};

struct WebSocketCallbacks {
  /// A complete message; text is valid UTF-8.
  std::function<void(std::string payload, bool binary)> message;
  /// Bytes to send to the peer, one whole frame per call.
  std::function<void(std::string bytes)> output;
  /// Once: the closing handshake is over, or the peer broke the protocol (our close frame with
  /// `code` was output first). Nothing follows it; flush the output, then close the
  /// connection. `code` is the peer's (NoStatus when its close had none) or ours on an error.
  std::function<void(std::uint16_t code, std::string reason)> closed;
};

class WebSocketEngine {
public:
  explicit WebSocketEngine(WebSocketCallbacks callbacks, WebSocketLimits limits = {});
  WebSocketEngine(const WebSocketEngine&) = delete;
  WebSocketEngine& operator=(const WebSocketEngine&) = delete;

  /// Reads the client's next bytes. Does nothing once closed.
  void feed(std::string_view bytes);

  // Sending; ignored once our close frame is out. Text must be UTF-8.
  void sendText(std::string_view text);
  void sendBinary(std::string_view bytes);
  /// A payload past 125 bytes is cut to 125, the most a control frame holds.
  void ping(std::string_view payload = {});
  /// Sends our close frame, once, and waits for the peer's; the owner applies a timeout. A code
  /// that may not be sent (NoStatus, 1006, ...) sends a close without a code; the reason is
  /// cut to 123 bytes at a character boundary.
  void close(std::uint16_t code = close_code::Normal, std::string_view reason = {});

  bool closeSent() const { return close_sent_; }
  bool isClosed() const { return closed_; }

private:
  bool readHeader(std::string_view& bytes);
  bool checkStart();
  bool checkLength();
  void readPayload(std::string_view bytes);
  void growMessage(std::size_t needed);
  void finishFrame();
  void finishClose();
  bool fail(std::uint16_t code, std::string reason); // false, for `return fail(...)`
  void sendFrame(std::uint8_t opcode, std::string_view payload);
  void sendClose(std::uint16_t code, std::string_view reason);

  WebSocketCallbacks callbacks_;
  WebSocketLimits limits_;

  // The frame being read.
  std::array<std::uint8_t, 14> header_{}; // 2 + 8 (length) + 4 (mask key) at most
  std::size_t header_size_ = 0;
  std::size_t header_needed_ = 2;
  std::size_t extended_ = 0; // length bytes after the first two: 0, 2 or 8
  bool in_header_ = true;
  bool fin_ = false;
  std::uint8_t opcode_ = 0;
  std::uint64_t length_ = 0;
  std::uint64_t remaining_ = 0; // payload bytes still to read
  std::uint64_t offset_ = 0;    // payload bytes read, for the mask
  std::array<char, 125> control_{};
  std::size_t control_size_ = 0;

  // The message being read, possibly over several frames.
  bool message_open_ = false;
  bool message_binary_ = false;
  std::string message_;
  Utf8Validator utf8_;

  bool close_sent_ = false;
  bool closed_ = false;
  bool feeding_ = false;
};

} // namespace upesi::http
