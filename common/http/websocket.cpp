#include "common/http/websocket.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace upesi::http {

namespace {

namespace opcode {
constexpr std::uint8_t Continuation = 0x0;
constexpr std::uint8_t Text = 0x1;
constexpr std::uint8_t Binary = 0x2;
constexpr std::uint8_t Close = 0x8;
constexpr std::uint8_t Ping = 0x9;
constexpr std::uint8_t Pong = 0xA;
} // namespace opcode

constexpr std::size_t MaxControlPayload = 125;

bool isControl(std::uint8_t code) {
  return (code & 0x8) != 0;
}

} // namespace

bool isValidCloseCode(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

WebSocketEngine::WebSocketEngine(WebSocketCallbacks callbacks, WebSocketLimits limits)
    : callbacks_(std::move(callbacks)), limits_(limits) {
  assert(callbacks_.message && callbacks_.output && callbacks_.closed);
}

void WebSocketEngine::feed(std::string_view bytes) {
  assert(!feeding_ && "feed() called from one of the engine's callbacks");
  feeding_ = true;
  while (!closed_) {
    if (in_header_ && !readHeader(bytes)) {
      break;
    }
    const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
    readPayload(bytes.substr(0, length));
    bytes.remove_prefix(length);
    if (closed_ || remaining_ > 0) {
      break; // refused, or the rest of the payload is still to come
    }
    finishFrame(); // also a frame with no payload, as soon as its header is in
  }
  feeding_ = false;
}

// Collects the header one byte at a time (14 bytes at most), checking each part as soon as it
// is in, so that an error is found at the same byte however the input was split.
bool WebSocketEngine::readHeader(std::string_view& bytes) {
  while (header_size_ < header_needed_) {
    if (bytes.empty()) {
      return false;
    }
    header_[header_size_++] = static_cast<std::uint8_t>(bytes.front());
    bytes.remove_prefix(1);
    if (header_size_ == 2 && !checkStart()) {
      return false;
    }
    if (extended_ > 0 && header_size_ == 2 + extended_ && !checkLength()) {
      return false;
    }
  }
  in_header_ = false;
  remaining_ = length_;
  offset_ = 0;
  control_size_ = 0;
  return true;
}

bool WebSocketEngine::checkStart() {
  fin_ = (header_[0] & 0x80) != 0;
  opcode_ = header_[0] & 0x0F;
  const std::uint8_t short_length = header_[1] & 0x7F;
  if ((header_[0] & 0x70) != 0) {
    return fail(close_code::ProtocolError, "reserved bits set"); // no extension was negotiated
  }
  if (opcode_ > opcode::Binary && (opcode_ < opcode::Close || opcode_ > opcode::Pong)) {
    return fail(close_code::ProtocolError, fmt::format("unknown opcode {}", opcode_));
  }
  if ((header_[1] & 0x80) == 0) {
    return fail(close_code::ProtocolError, "unmasked frame from the client");
  }
  if (isControl(opcode_)) {
    if (!fin_) {
      return fail(close_code::ProtocolError, "fragmented control frame");
    }
    if (short_length > MaxControlPayload) {
      return fail(close_code::ProtocolError, "control frame over 125 bytes");
    }
  } else if (opcode_ == opcode::Continuation) {
    if (!message_open_) {
      return fail(close_code::ProtocolError, "continuation frame without a message");
    }
  } else {
    if (message_open_) {
      return fail(close_code::ProtocolError, "new message inside a fragmented one");
    }
    message_open_ = true;
    message_binary_ = opcode_ == opcode::Binary;
    utf8_.reset();
  }
  extended_ = short_length == 126 ? 2 : short_length == 127 ? 8 : 0;
  header_needed_ = 2 + extended_ + 4; // every client frame has a mask key
  if (extended_ == 0) {
    length_ = short_length;
    return checkLength();
  }
  return true;
}

bool WebSocketEngine::checkLength() {
  if (extended_ > 0) {
    if (extended_ == 8 && (header_[2] & 0x80) != 0) {
      return fail(close_code::ProtocolError, "frame length with its top bit set");
    }
    length_ = 0;
    for (std::size_t i = 0; i < extended_; ++i) {
      length_ = (length_ << 8) | header_[2 + i];
    }
  }
  // Refused from the header: a message past the limit is never buffered.
  if (!isControl(opcode_) && length_ > limits_.max_message - message_.size()) {
    return fail(close_code::TooBig, fmt::format("message over {} bytes", limits_.max_message));
  }
  return true;
}

void WebSocketEngine::readPayload(std::string_view bytes) {
  char* data = nullptr;
  if (isControl(opcode_)) {
    data = control_.data() + control_size_; // fits: the header said at most 125 bytes
    std::copy(bytes.begin(), bytes.end(), data);
    control_size_ += bytes.size();
  } else {
    const std::size_t start = message_.size();
    if (start + bytes.size() > message_.capacity()) {
      growMessage(start + bytes.size());
    }
    message_.append(bytes);
    data = message_.data() + start;
  }
  const std::uint8_t* mask = header_.data() + 2 + extended_;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    data[i] = static_cast<char>(data[i] ^ mask[(offset_ + i) & 3]);
  }
  offset_ += bytes.size();
  remaining_ -= bytes.size();
  if (!isControl(opcode_) && !message_binary_ &&
      !utf8_.feed(std::string_view(data, bytes.size()))) {
    fail(close_code::InvalidData, "invalid UTF-8 in a text message");
  }
}

// Doubles, as a string does, but never past the limit (checkLength() keeps `needed` within it).
// A fresh string, because reserve() on a full one may double past what it was asked for.
void WebSocketEngine::growMessage(std::size_t needed) {
  std::string grown;
  grown.reserve(std::min(std::max(2 * message_.capacity(), needed), limits_.max_message));
  grown.append(message_);
  message_.swap(grown);
}

void WebSocketEngine::finishFrame() {
  in_header_ = true;
  header_size_ = 0;
  header_needed_ = 2;
  extended_ = 0;
  switch (opcode_) {
  case opcode::Ping:
    if (!close_sent_) {
      sendFrame(opcode::Pong, std::string_view(control_.data(), control_size_));
    }
    return;
  case opcode::Pong:
    return;
  case opcode::Close:
    finishClose();
    return;
  default:
    break;
  }
  if (!fin_) {
    return;
  }
  if (!message_binary_ && !utf8_.complete()) {
    fail(close_code::InvalidData, "text message ends inside a UTF-8 character");
    return;
  }
  message_open_ = false;
  std::string payload = std::move(message_);
  message_.clear();
  callbacks_.message(std::move(payload), message_binary_);
}

void WebSocketEngine::finishClose() {
  const std::string_view payload(control_.data(), control_size_);
  std::uint16_t code = close_code::NoStatus;
  std::string reason;
  if (payload.size() == 1) {
    fail(close_code::ProtocolError, "close frame with a 1-byte payload");
    return;
  }
  if (payload.size() >= 2) {
    code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                      static_cast<std::uint8_t>(payload[1]));
    if (!isValidCloseCode(code)) {
      fail(close_code::ProtocolError, fmt::format("invalid close code {}", code));
      return;
    }
    Utf8Validator utf8;
    if (!utf8.feed(payload.substr(2)) || !utf8.complete()) {
      fail(close_code::InvalidData, "close reason is not UTF-8");
      return;
    }
    reason = payload.substr(2);
  }
  if (!close_sent_) {
    sendClose(code, {}); // echoes the code; none when the peer gave none
  }
  closed_ = true;
  message_ = std::string();
  callbacks_.closed(code, std::move(reason));
}

bool WebSocketEngine::fail(std::uint16_t code, std::string reason) {
  if (!close_sent_) {
    sendClose(code, reason);
  }
  closed_ = true;
  message_ = std::string();
  callbacks_.closed(code, std::move(reason));
  return false;
}

void WebSocketEngine::sendText(std::string_view text) {
  if (!close_sent_) {
    sendFrame(opcode::Text, text);
  }
}

void WebSocketEngine::sendBinary(std::string_view bytes) {
  if (!close_sent_) {
    sendFrame(opcode::Binary, bytes);
  }
}

void WebSocketEngine::ping(std::string_view payload) {
  if (!close_sent_) {
    sendFrame(opcode::Ping, payload.substr(0, MaxControlPayload));
  }
}

void WebSocketEngine::close(std::uint16_t code, std::string_view reason) {
  if (!close_sent_) {
    sendClose(code, reason);
  }
}

void WebSocketEngine::sendClose(std::uint16_t code, std::string_view reason) {
  close_sent_ = true;
  std::string payload;
  if (isValidCloseCode(code)) {
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    std::size_t cut = std::min(reason.size(), MaxControlPayload - 2);
    while (cut < reason.size() && cut > 0 &&
           (static_cast<std::uint8_t>(reason[cut]) & 0xC0) == 0x80) {
      --cut; // not inside a character
    }
    payload.append(reason.substr(0, cut));
  }
  sendFrame(opcode::Close, payload);
}

void WebSocketEngine::sendFrame(std::uint8_t code, std::string_view payload) {
  std::string frame;
  frame.reserve(10 + payload.size());
  frame.push_back(static_cast<char>(0x80 | code)); // FIN: our messages are never fragmented
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    frame.push_back(static_cast<char>(126));
    frame.push_back(static_cast<char>(payload.size() >> 8));
    frame.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    frame.push_back(static_cast<char>(127));
    const auto length = static_cast<std::uint64_t>(payload.size());
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((length >> shift) & 0xFF));
    }
  }
  frame.append(payload); // a server's frames are not masked
  callbacks_.output(std::move(frame));
}

} // namespace upesi::http
