#include "common/http/websocket.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

using namespace upesi::http;

namespace {

using Mask = std::array<std::uint8_t, 4>;
constexpr Mask RfcMask{0x37, 0xfa, 0x21, 0x3d}; // the mask key of RFC 6455's examples

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) {
    out.push_back(static_cast<char>(value));
  }
  return out;
}

// A client's frame: `first` is the FIN, RSV and opcode byte; the length takes its shortest form.
std::string clientFrame(int first, std::string_view payload, Mask mask = RfcMask) {
  std::string frame(1, static_cast<char>(first));
  if (payload.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    frame += bytes(
        {0xFE, static_cast<int>(payload.size() >> 8), static_cast<int>(payload.size() & 0xFF)});
  } else {
    frame.push_back(static_cast<char>(0xFF));
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((payload.size() >> shift) & 0xFF));
    }
  }
  frame.append(reinterpret_cast<const char*>(mask.data()), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  }
  return frame;
}

std::string closePayload(int code, std::string_view reason = {}) {
  return bytes({code >> 8, code & 0xFF}) + std::string(reason);
}

// What the engine did, in order, as one line per event.
struct Recorder {
  std::vector<std::string> events;
  std::vector<std::string> messages;
  std::string output;
  int closed_count = 0;
  std::uint16_t code = 0;
  std::string reason;

  WebSocketCallbacks callbacks() {
    return {
        .message =
            [this](std::string payload, bool binary) {
              events.push_back((binary ? "binary " : "text ") + payload);
              messages.push_back(std::move(payload));
            },
        .output =
            [this](std::string frame) {
              events.push_back("output " + frame);
              output += frame;
            },
        .closed =
            [this](std::uint16_t closed_code, std::string closed_reason) {
              events.push_back("closed " + std::to_string(closed_code));
              ++closed_count;
              code = closed_code;
              reason = std::move(closed_reason);
            },
    };
  }
};

// Feeds `input` in pieces of `step` bytes (0: whole) to a fresh engine.
std::vector<std::string> run(std::string_view input, std::size_t step = 0,
                             WebSocketLimits limits = {}) {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks(), limits);
  if (step == 0) {
    engine.feed(input);
  }
  for (std::size_t offset = 0; step > 0 && offset < input.size(); offset += step) {
    engine.feed(input.substr(offset, step));
  }
  return recorder.events;
}

// Feeds `input` whole; checks the engine closed with `code`, having sent its close frame with
// that code and delivered no message.
void checkRefused(std::string_view input, std::uint16_t code, WebSocketLimits limits = {}) {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks(), limits);
  engine.feed(input);
  CHECK(recorder.messages.empty());
  CHECK(recorder.closed_count == 1);
  CHECK(recorder.code == code);
  CHECK_FALSE(recorder.reason.empty());
  REQUIRE(recorder.output.size() >= 4);
  CHECK(recorder.output.substr(0, 1) == "\x88");
  CHECK(static_cast<std::size_t>(recorder.output[1]) == recorder.output.size() - 2);
  CHECK(recorder.output.substr(2, 2) == bytes({code >> 8, code & 0xFF}));
  CHECK(engine.isClosed());
  // Nothing more once closed.
  const std::size_t events = recorder.events.size();
  engine.feed(clientFrame(0x81, "Hello"));
  engine.sendText("late");
  CHECK(recorder.events.size() == events);
}

} // namespace

TEST_CASE("websocket: the RFC's example frames (section 5.7)") {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  const std::string masked_hello =
      bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  CHECK(clientFrame(0x81, "Hello") == masked_hello);
  engine.feed(masked_hello);
  CHECK(recorder.events == std::vector<std::string>{"text Hello"});

  engine.feed(clientFrame(0x01, "Hel") + clientFrame(0x80, "lo")); // fragmented
  CHECK(recorder.events.back() == "text Hello");

  // The masked pong of the RFC is taken and ignored; a masked ping is answered with the RFC's
  // unmasked frame, pong for ping.
  recorder.events.clear();
  engine.feed(bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  CHECK(recorder.events.empty());
  engine.feed(clientFrame(0x89, "Hello"));
  CHECK(recorder.output == bytes({0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));

  recorder.output.clear();
  engine.sendText("Hello");
  CHECK(recorder.output == bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  recorder.output.clear();
  engine.ping("Hello");
  CHECK(recorder.output == bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  CHECK(recorder.closed_count == 0);
}

TEST_CASE("websocket: sending uses the 7-bit, 16-bit and 64-bit length forms") {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.sendBinary(std::string(125, 'x'));
  CHECK(recorder.output.substr(0, 2) == bytes({0x82, 0x7D}));
  CHECK(recorder.output.size() == 2 + 125);

  recorder.output.clear();
  engine.sendBinary(std::string(126, 'x'));
  CHECK(recorder.output.substr(0, 4) == bytes({0x82, 0x7E, 0x00, 0x7E}));
  CHECK(recorder.output.size() == 4 + 126);

  recorder.output.clear();
  engine.sendBinary(std::string(256, 'x')); // RFC: 256 bytes in a single unmasked frame
  CHECK(recorder.output.substr(0, 4) == bytes({0x82, 0x7E, 0x01, 0x00}));
  CHECK(recorder.output.size() == 4 + 256);

  recorder.output.clear();
  engine.sendBinary(std::string(65535, 'x'));
  CHECK(recorder.output.substr(0, 4) == bytes({0x82, 0x7E, 0xFF, 0xFF}));

  recorder.output.clear();
  engine.sendBinary(std::string(65536, 'x')); // RFC: 64 KiB in a single unmasked frame
  CHECK(recorder.output.substr(0, 10) ==
        bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
  CHECK(recorder.output.size() == 10 + 65536);
}

TEST_CASE("websocket: receiving the 16-bit and 64-bit length forms") {
  for (std::size_t size : {125, 126, 65535, 65536}) {
    CAPTURE(size);
    const std::string payload(size, 'b');
    CHECK(run(clientFrame(0x82, payload)) == std::vector<std::string>{"binary " + payload});
  }
  const std::string medium(300, 'm');
  const std::string large(70000, 'L');
  CHECK(run(clientFrame(0x82, medium)) == std::vector<std::string>{"binary " + medium});
  CHECK(run(clientFrame(0x81, large)) == std::vector<std::string>{"text " + large});
  // A length in a longer form than needed is still a length.
  std::string long_form = bytes({0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0}) + "ok";
  CHECK(run(long_form) == std::vector<std::string>{"text ok"});
}

TEST_CASE("websocket: any split of the input gives the same events") {
  std::string input = clientFrame(0x01, "fr\xC3") + clientFrame(0x89, "ping") +
                      clientFrame(0x00, "\xA9g") + clientFrame(0x80, "ment") +
                      clientFrame(0x82, std::string(300, '\x7F')) + clientFrame(0x81, "") +
                      clientFrame(0x8A, "") + clientFrame(0x81, std::string(70000, 'z')) +
                      clientFrame(0x88, closePayload(1000, "done"));
  const auto whole = run(input);
  REQUIRE(whole.size() == 7);
  CHECK(whole[0] == "output \x8A\x04ping");
  CHECK(whole[1] == "text fr\xC3\xA9gment");
  CHECK(whole[3] == "text ");
  CHECK(whole[5] == "output " + bytes({0x88, 0x02, 0x03, 0xE8}));
  CHECK(whole[6] == "closed 1000");
  for (std::size_t step : {1, 2, 3, 5, 13, 127}) {
    CAPTURE(step);
    CHECK(run(input, step) == whole);
  }
  // An error midway, too.
  input = clientFrame(0x81, "one") + clientFrame(0x01, "two") + clientFrame(0x81, "three");
  const auto refused = run(input);
  REQUIRE(refused.size() == 3);
  CHECK(refused[2] == "closed 1002");
  CHECK(run(input, 1) == refused);
}

TEST_CASE("websocket: protocol errors close with 1002") {
  checkRefused(bytes({0x81, 0x05}) + "Hello", 1002); // unmasked
  for (int rsv : {0x40, 0x20, 0x10}) {
    checkRefused(clientFrame(0x81 | rsv, "Hello"), 1002);
  }
  for (int opcode : {0x3, 0x7, 0xB, 0xF}) {
    checkRefused(clientFrame(0x80 | opcode, "Hello"), 1002);
  }
  checkRefused(clientFrame(0x89, std::string(126, 'p')), 1002);        // control frame too long
  checkRefused(clientFrame(0x09, "ping"), 1002);                       // fragmented control frame
  checkRefused(clientFrame(0x80, "lost"), 1002);                       // continuation without start
  checkRefused(clientFrame(0x01, "a") + clientFrame(0x81, "b"), 1002); // message inside one
  checkRefused(clientFrame(0x02, "a") + clientFrame(0x02, "b"), 1002);
  checkRefused(bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1}), 1002); // 64-bit top bit
  checkRefused(clientFrame(0x88, "x"), 1002);                         // 1-byte close
}

TEST_CASE("websocket: an error is found as soon as its bytes are in") {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.feed(bytes({0x81}));
  CHECK(recorder.closed_count == 0);
  engine.feed(bytes({0x05})); // unmasked: no need to wait for the payload
  CHECK(recorder.code == 1002);
}

TEST_CASE("websocket: close codes a peer may send, and those refused with 1002") {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4999}) {
    CAPTURE(code);
    Recorder recorder;
    WebSocketEngine engine(recorder.callbacks());
    engine.feed(clientFrame(0x88, closePayload(code, "bye")));
    CHECK(recorder.closed_count == 1);
    CHECK(recorder.code == code);
    CHECK(recorder.reason == "bye");
    CHECK(recorder.output == bytes({0x88, 0x02, code >> 8, code & 0xFF})); // echoed
  }
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
    CAPTURE(code);
    checkRefused(clientFrame(0x88, closePayload(code)), 1002);
  }
}

TEST_CASE("websocket: text must be UTF-8, across fragments too, else 1007") {
  checkRefused(clientFrame(0x81, "bad \xFF"), 1007);
  checkRefused(clientFrame(0x81, "\xED\xA0\x80"), 1007); // a surrogate
  checkRefused(clientFrame(0x81, "cut \xE2\x82"), 1007); // ends inside a character
  checkRefused(clientFrame(0x01, "cut \xE2") + clientFrame(0x80, "!"), 1007);
  checkRefused(clientFrame(0x88, closePayload(1000, "\xC3")), 1007); // the close reason

  // Refused at the bad byte, before the message ends.
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.feed(clientFrame(0x01, "ok \xC0"));
  CHECK(recorder.code == 1007);

  // Binary is not checked; a character split over fragments is whole.
  CHECK(run(clientFrame(0x82, "\xFF\xC0")) == std::vector<std::string>{"binary \xFF\xC0"});
  CHECK(run(clientFrame(0x01, "\xE2") + clientFrame(0x00, "\x82") + clientFrame(0x80, "\xAC")) ==
        std::vector<std::string>{"text \xE2\x82\xAC"});
}

TEST_CASE("websocket: a message past max_message is refused with 1009 from its header") {
  const std::size_t limit = 1024 * 1024;
  // 1 MiB + 1 announced: refused on the header alone, no payload read or buffered.
  const std::string header = bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0x00, 0x01, 1, 2, 3, 4});
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.feed(header.substr(0, 9));
  CHECK(recorder.closed_count == 0);
  engine.feed(header.substr(9, 1)); // the length's last byte: the mask key is not needed
  CHECK(recorder.code == 1009);
  CHECK(recorder.output.substr(2, 2) == bytes({0x03, 0xF1}));

  // Exactly the limit is a message.
  const auto events = run(clientFrame(0x82, std::string(limit, 'x')));
  REQUIRE(events.size() == 1);
  CHECK(events[0].size() == 7 + limit);

  // Over fragments: the fragment that would pass the limit is refused from its header.
  const WebSocketLimits small{.max_message = 10};
  CHECK(run(clientFrame(0x01, "12345") + clientFrame(0x80, "67890"), 0, small) ==
        std::vector<std::string>{"text 1234567890"});
  checkRefused(clientFrame(0x01, "12345") + clientFrame(0x00, "67890") + clientFrame(0x80, "!"),
               1009, small);
  checkRefused(clientFrame(0x81, "12345678901"), 1009, small);
  // The buffer grows to the limit and no further.
  Recorder grown;
  WebSocketEngine engine_small(grown.callbacks(), {.max_message = 1000});
  engine_small.feed(clientFrame(0x02, std::string(600, 'a')) +
                    clientFrame(0x80, std::string(400, 'b')));
  REQUIRE(grown.messages.size() == 1);
  CHECK(grown.messages[0].size() == 1000);
  CHECK(grown.messages[0].capacity() <= 1000);
  // Control frames do not count against the message.
  CHECK(run(clientFrame(0x01, "12345") + clientFrame(0x89, "123456") + clientFrame(0x80, "67890"),
            0, small)
            .back() == "text 1234567890");
}

TEST_CASE("websocket: the peer closes; we echo its code and report it") {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.feed(clientFrame(0x88, closePayload(1001, "tab closed")) + clientFrame(0x81, "after"));
  CHECK(recorder.events ==
        std::vector<std::string>{"output " + bytes({0x88, 0x02, 0x03, 0xE9}), "closed 1001"});
  CHECK(recorder.reason == "tab closed");
  CHECK(engine.closeSent());
  engine.sendText("ignored");
  engine.close();
  CHECK(recorder.events.size() == 2);

  // A close without a code is answered without one and reported as 1005.
  CHECK(run(clientFrame(0x88, "")) ==
        std::vector<std::string>{"output " + bytes({0x88, 0x00}), "closed 1005"});
}

TEST_CASE("websocket: we close; the peer's close ends it") {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.close(1001, "going away");
  CHECK(recorder.output == bytes({0x88, 0x0C, 0x03, 0xE9}) + "going away");
  CHECK(engine.closeSent());
  CHECK_FALSE(engine.isClosed());
  recorder.output.clear();
  engine.sendText("ignored");
  engine.ping();
  engine.close(1000);
  engine.feed(clientFrame(0x89, "no pong after our close"));
  CHECK(recorder.output.empty());
  engine.feed(clientFrame(0x81, "in flight")); // sent before the peer saw our close
  CHECK(recorder.messages == std::vector<std::string>{"in flight"});
  engine.feed(clientFrame(0x88, closePayload(1001)));
  CHECK(recorder.output.empty()); // our close was sent already
  CHECK(recorder.closed_count == 1);
  CHECK(recorder.code == 1001);

  // An error after our close: reported, no second close frame.
  Recorder second;
  WebSocketEngine other(second.callbacks());
  other.close(1000);
  other.feed(bytes({0x81, 0x00}));
  CHECK(second.output == bytes({0x88, 0x02, 0x03, 0xE8}));
  CHECK(second.code == 1002);
}

TEST_CASE("websocket: our close frame: no code for NoStatus, the reason cut between characters") {
  Recorder recorder;
  WebSocketEngine engine(recorder.callbacks());
  engine.close(close_code::NoStatus, "dropped");
  CHECK(recorder.output == bytes({0x88, 0x00}));

  Recorder cut;
  WebSocketEngine other(cut.callbacks());
  other.close(1000, std::string(122, 'a') + "\xC3\xA9" + "tail"); // é spans bytes 122-123
  CHECK(cut.output == bytes({0x88, 124, 0x03, 0xE8}) + std::string(122, 'a'));
}

TEST_CASE("websocket: callbacks may send and close; ping payloads are cut to 125 bytes") {
  Recorder recorder;
  WebSocketCallbacks callbacks = recorder.callbacks();
  WebSocketEngine* self = nullptr;
  callbacks.message = [&](std::string payload, bool) {
    self->sendText("echo " + payload);
    if (payload == "quit") {
      self->close(1000);
    }
  };
  WebSocketEngine engine(std::move(callbacks));
  self = &engine;
  engine.feed(clientFrame(0x81, "hi") + clientFrame(0x81, "quit") + clientFrame(0x89, "p") +
              clientFrame(0x81, "more"));
  CHECK(recorder.output == bytes({0x81, 0x07}) + "echo hi" + bytes({0x81, 0x09}) + "echo quit" +
                               bytes({0x88, 0x02, 0x03, 0xE8}));

  Recorder pinger;
  WebSocketEngine other(pinger.callbacks());
  other.ping(std::string(200, 'p'));
  CHECK(pinger.output == bytes({0x89, 125}) + std::string(125, 'p'));
}
