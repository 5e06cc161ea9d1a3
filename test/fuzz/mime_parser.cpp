// The streaming MIME parser (common/mail/mime_parser).
//
// Input: five bytes of settings (piece size; limits on parts, depth, header bytes and kept
// text, small so that they are reached), then the message.
//
// Invariants:
//  - the result does not depend on how the message is cut into pieces: fed whole and fed in
//    pieces, the tree, the texts and the attachment bytes are the same;
//  - attachment callbacks come in order: start, data..., end, one attachment at a time, every
//    start ended by finish(); an attachment's bytes add up to its decodedBytes();
//  - the limits hold: parts, depth, text kept; text said to be UTF-8 is valid UTF-8.
#include "common/mail/mime_parser.hpp"

#include "test/fuzz/fuzz_check.hpp"

#include <string>
#include <vector>

using namespace upesi::mail;

namespace {

struct Run {
  std::string events; // every callback, with the bytes, in order
  bool open = false;
  std::uint64_t attachment_bytes = 0;
};

MimeCallbacks callbacksFor(Run& run) {
  MimeCallbacks callbacks;
  callbacks.attachment_start = [&run](const MimePart& part) {
    FUZZ_CHECK(!run.open);
    FUZZ_CHECK(part.attachment);
    run.open = true;
    run.attachment_bytes = 0;
    run.events += "<" + part.file_name + "|" + part.content_type + ">";
  };
  callbacks.attachment_data = [&run](const MimePart& part, std::string_view bytes) {
    FUZZ_CHECK(run.open);
    FUZZ_CHECK(!bytes.empty());
    run.attachment_bytes += bytes.size();
    FUZZ_CHECK(run.attachment_bytes == part.decoded_bytes);
    run.events.append(bytes);
  };
  callbacks.attachment_end = [&run](const MimePart& part) {
    FUZZ_CHECK(run.open);
    FUZZ_CHECK(run.attachment_bytes == part.decoded_bytes);
    run.open = false;
    run.events += "</>";
  };
  return callbacks;
}

bool validUtf8(std::string_view s) {
  Utf8Converter check("utf-8");
  std::string out;
  check.feed(s, out);
  check.finish(out);
  return out == s;
}

// The tree as text, and checks on each part.
void describe(const MimePart& part, const MimeLimits& limits, std::size_t& kept, std::string& out) {
  FUZZ_CHECK(part.depth <= limits.max_depth + 1);
  FUZZ_CHECK(part.children.size() < limits.max_parts);
  FUZZ_CHECK(!part.text_utf8 || validUtf8(part.body_text));
  FUZZ_CHECK(!part.attachment || part.body_text.empty());
  kept += part.body_text.size();
  out += part.content_type + ";" + part.charset_name + ";" + part.file_name + ";" +
         std::to_string(part.decoded_bytes) + ";" + std::to_string(part.fields.size()) + "{" +
         part.body_text + "}[";
  for (const auto& child : part.children) {
    FUZZ_CHECK(child->depth == part.depth + 1);
    describe(*child, limits, kept, out);
  }
  out += "]";
}

std::string parse(std::string_view message, std::size_t piece, const MimeOptions& options,
                  std::size_t& parts) {
  Run run;
  MimeParser parser(options, callbacksFor(run));
  for (std::size_t at = 0; at < message.size(); at += piece) {
    parser.feed(message.substr(at, piece));
  }
  parser.finish();
  FUZZ_CHECK(!run.open);
  FUZZ_CHECK(parser.partCount() <= options.limits.max_parts);
  parts = parser.partCount();
  std::size_t kept = 0;
  std::string tree;
  describe(parser.root(), options.limits, kept, tree);
  FUZZ_CHECK(kept <= options.limits.max_kept_bytes);
  return tree + run.events;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) {
    return 0;
  }
  const std::size_t piece = 1 + data[0] % 64;
  MimeOptions options;
  options.keep_text = true;
  options.limits.max_parts = 1 + data[1] % 32;
  options.limits.max_depth = data[2] % 6;
  options.limits.max_header_bytes = 16 + data[3] * 8u;
  options.limits.max_kept_bytes = data[4] * 16u;
  const std::string_view message = upesi::fuzz::asView(data + 5, size - 5);

  std::size_t whole_parts = 0;
  std::size_t cut_parts = 0;
  const std::string whole = parse(message, message.size() + 1, options, whole_parts);
  const std::string cut = parse(message, piece, options, cut_parts);
  FUZZ_CHECK(whole_parts == cut_parts);
  FUZZ_CHECK(whole == cut);
  return 0;
}
