// The milter reply decoder (common/milter): what a filter sends back, split anywhere.
//
// Input: one byte that picks the command the replies answer and seeds the chunk sizes, then the
// filter's bytes.
//
// Invariants: fed whole or in chunks, the same packets and the same framing error; no packet
// above the bound; every decoded reply keeps its kind's rules (modifications only at the end of
// a message, a REPLYCODE 4xx/5xx with an enhanced code of its class and clean lines); the
// option negotiation decoder and negotiate() never accept a version or actions outside ours.
#include "common/milter/negotiation.hpp"
#include "common/milter/packet.hpp"
#include "common/milter/reply.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>
#include <vector>

using namespace upesi::milter;

namespace {

constexpr std::size_t MaxPacket = 4096; // small, so the fuzzer reaches the bound

struct Outcome {
  std::vector<Packet> packets;
  bool failed = false;
};

Outcome frame(std::string_view input, const std::vector<std::size_t>& chunks) {
  Outcome outcome;
  PacketReader reader(MaxPacket);
  std::size_t offset = 0;
  std::size_t next_chunk = 0;
  while (offset < input.size()) {
    std::size_t size = next_chunk < chunks.size() ? chunks[next_chunk++] : input.size();
    size = std::min(size, input.size() - offset);
    const bool ok = reader.feed(input.substr(offset, size));
    while (auto packet = reader.next()) {
      outcome.packets.push_back(std::move(*packet));
    }
    if (!ok) {
      outcome.failed = true;
      FUZZ_CHECK(reader.failed());
      FUZZ_CHECK(!reader.feed(framePacket('c')));
      break;
    }
    FUZZ_CHECK(reader.pending() <= MaxPacket + 4);
    offset += size;
  }
  return outcome;
}

void checkReply(const FilterReply& reply, char sent) {
  FUZZ_CHECK(reply.isDecision() || reply.kind == ReplyKind::Progress || reply.isModification());
  if (reply.isModification()) {
    FUZZ_CHECK(sent == command::BodyEob);
  }
  if (reply.kind == ReplyKind::ReplyCode) {
    FUZZ_CHECK(reply.code >= 400 && reply.code <= 599);
    FUZZ_CHECK(!reply.enhanced.empty() && reply.enhanced[0] - '0' == reply.code / 100);
    FUZZ_CHECK(!reply.lines.empty() && reply.lines.size() <= 64);
    for (const auto& line : reply.lines) {
      for (char c : line) {
        const auto u = static_cast<unsigned char>(c);
        FUZZ_CHECK(u == '\t' || (u >= 0x20 && u != 0x7f));
      }
    }
  }
  if (reply.kind == ReplyKind::Discard) {
    FUZZ_CHECK(sent != command::Connect && sent != command::Helo);
  }
  if (reply.kind == ReplyKind::AddHeader || reply.kind == ReplyKind::InsertHeader ||
      reply.kind == ReplyKind::ChangeHeader) {
    FUZZ_CHECK(!reply.name.empty());
    FUZZ_CHECK(reply.name.find(':') == std::string::npos);
  }
  if (reply.kind == ReplyKind::ChangeHeader) {
    FUZZ_CHECK(reply.index >= 1);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  static constexpr char Sent[] = {command::Connect, command::Helo,   command::Mail, command::Rcpt,
                                  command::Data,    command::Header, command::Eoh,  command::Body,
                                  command::BodyEob, command::Unknown};
  const char sent = Sent[data[0] % sizeof(Sent)];
  const std::string_view input = upesi::fuzz::asView(data + 1, size - 1);
  const Outcome whole = frame(input, {});
  const Outcome chunked = frame(input, upesi::fuzz::chunkSizes(data[0], input.size(), 17));
  FUZZ_CHECK(whole.failed == chunked.failed);
  FUZZ_CHECK(whole.packets.size() == chunked.packets.size());
  for (std::size_t i = 0; i < whole.packets.size(); ++i) {
    FUZZ_CHECK(whole.packets[i].command == chunked.packets[i].command);
    FUZZ_CHECK(whole.packets[i].data == chunked.packets[i].data);
    FUZZ_CHECK(whole.packets[i].data.size() < MaxPacket);
  }

  for (const auto& packet : whole.packets) {
    if (auto reply = decodeReply(packet, sent)) {
      checkReply(*reply, sent);
    } else {
      FUZZ_CHECK(!reply.error().empty());
    }
    if (auto optneg = decodeOptNegReply(packet)) {
      auto negotiated = negotiate(*offerFor(6), *optneg);
      if (negotiated) {
        FUZZ_CHECK(negotiated->version >= 2 && negotiated->version <= 6);
        FUZZ_CHECK((negotiated->actions & ~action::All) == 0);
      }
    }
  }
  // The reply text parser alone, on the raw input.
  if (auto text = parseReplyText(input)) {
    FUZZ_CHECK(text->code >= 400 && text->code <= 599);
  }
  return 0;
}
