// The WebSocket engine (common/http/websocket): what a client sends after the handshake, split
// anywhere. The owner echoes each message, closes on a text message starting with 'C' and pings
// on a binary one starting with 'P', so that sending runs too.
//
// Input: one byte that seeds the chunk sizes, then the client's bytes.
//
// Invariants: fed whole or in chunks, the same events in the same order (messages, output bytes,
// the close code); messages are within the limit and text is UTF-8; `closed` comes at most once
// and nothing follows it, after our close frame; every frame the engine writes is a well-formed
// server frame (FIN, no RSV, unmasked, the shortest length form, control frames of at most 125
// bytes, a close code that may be sent, UTF-8 text and reasons) and none follows a close frame.
#include "common/config/text_checks.hpp"
#include "common/http/websocket.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>
#include <vector>

using namespace upesi::http;
using upesi::config::isValidUtf8;

namespace {

constexpr WebSocketLimits Limits{.max_message = 3000};

struct Outcome {
  std::vector<std::string> events;
  int closed = 0;
  bool close_frame_out = false;
};

void checkServerFrame(std::string_view frame, Outcome& outcome) {
  FUZZ_CHECK(!outcome.close_frame_out); // nothing after our close frame
  FUZZ_CHECK(frame.size() >= 2);
  const auto first = static_cast<std::uint8_t>(frame[0]);
  const auto second = static_cast<std::uint8_t>(frame[1]);
  FUZZ_CHECK((first & 0xF0) == 0x80); // FIN, no RSV
  const std::uint8_t opcode = first & 0x0F;
  FUZZ_CHECK(opcode == 0x1 || opcode == 0x2 || opcode == 0x8 || opcode == 0x9 || opcode == 0xA);
  FUZZ_CHECK((second & 0x80) == 0); // unmasked
  std::uint64_t length = second & 0x7F;
  std::size_t header = 2;
  if (length >= 126) {
    const std::size_t extra = length == 126 ? 2 : 8;
    FUZZ_CHECK(frame.size() >= 2 + extra);
    length = 0;
    for (std::size_t i = 0; i < extra; ++i) {
      length = (length << 8) | static_cast<std::uint8_t>(frame[2 + i]);
    }
    FUZZ_CHECK(extra == 2 ? length >= 126 && length <= 0xFFFF : length > 0xFFFF);
    header += extra;
  }
  FUZZ_CHECK(frame.size() - header == length); // exactly one frame per output
  const std::string_view payload = frame.substr(header);
  if (opcode >= 0x8) {
    FUZZ_CHECK(payload.size() <= 125);
  }
  if (opcode == 0x1) {
    FUZZ_CHECK(isValidUtf8(payload));
  }
  if (opcode == 0x8) {
    outcome.close_frame_out = true;
    FUZZ_CHECK(payload.size() != 1);
    if (payload.size() >= 2) {
      const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                   static_cast<std::uint8_t>(payload[1]));
      FUZZ_CHECK(isValidCloseCode(code));
      FUZZ_CHECK(isValidUtf8(payload.substr(2)));
    }
  }
}

Outcome run(std::string_view input, const std::vector<std::size_t>& chunks) {
  Outcome outcome;
  WebSocketEngine* engine = nullptr;
  WebSocketCallbacks callbacks{
      .message =
          [&](std::string payload, bool binary) {
            FUZZ_CHECK(outcome.closed == 0);
            FUZZ_CHECK(payload.size() <= Limits.max_message);
            FUZZ_CHECK(binary || isValidUtf8(payload));
            outcome.events.push_back((binary ? "binary " : "text ") + payload);
            if (binary) {
              engine->sendBinary(payload);
            } else {
              engine->sendText(payload);
            }
            if (!binary && payload.starts_with('C')) {
              engine->close(static_cast<std::uint16_t>(999 + payload.size() % 4100), payload);
            }
            if (binary && payload.starts_with('P')) {
              engine->ping(payload);
            }
          },
      .output =
          [&](std::string bytes) {
            FUZZ_CHECK(outcome.closed == 0);
            checkServerFrame(bytes, outcome);
            outcome.events.push_back("output " + bytes);
          },
      .closed =
          [&](std::uint16_t code, std::string reason) {
            ++outcome.closed;
            FUZZ_CHECK(outcome.closed == 1);
            FUZZ_CHECK(outcome.close_frame_out);
            FUZZ_CHECK(code == close_code::NoStatus || isValidCloseCode(code));
            FUZZ_CHECK(isValidUtf8(reason));
            outcome.events.push_back("closed " + std::to_string(code) + " " + reason);
          },
  };
  WebSocketEngine websocket(std::move(callbacks), Limits);
  engine = &websocket;
  std::size_t offset = 0;
  for (std::size_t size : chunks) {
    websocket.feed(input.substr(offset, size));
    offset += size;
  }
  websocket.feed(input.substr(std::min(offset, input.size())));
  FUZZ_CHECK(websocket.isClosed() == (outcome.closed == 1));
  if (websocket.isClosed()) {
    const std::size_t events = outcome.events.size();
    websocket.feed(std::string_view("\x81\x80\x00\x00\x00\x00", 6)); // an empty text message
    websocket.sendText("late");
    FUZZ_CHECK(outcome.events.size() == events); // nothing once closed
  }
  return outcome;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input = upesi::fuzz::asView(data + 1, size - 1);
  const std::vector<std::size_t> chunks = upesi::fuzz::chunkSizes(data[0], input.size(), 17);
  const Outcome whole = run(input, {});
  const Outcome chunked = run(input, chunks);
  FUZZ_CHECK(whole.events == chunked.events);
  return 0;
}
