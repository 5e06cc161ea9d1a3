#include "common/mail/mime_parser.hpp"

#include "common/mail/mime_field.hpp"
#include "common/util/text.hpp"

#include <algorithm>

namespace upesi::mail {
namespace {

std::string_view withoutCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

std::string lowerTrimmed(std::string_view s) {
  while (!s.empty() && text::isWsp(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && text::isWsp(s.back())) {
    s.remove_suffix(1);
  }
  return text::toLower(s);
}

} // namespace

std::vector<std::string> MimeLimitsReached::names() const {
  std::vector<std::string> out;
  if (depth) {
    out.emplace_back("depth");
  }
  if (parts) {
    out.emplace_back("parts");
  }
  if (header) {
    out.emplace_back("header");
  }
  if (kept_bytes) {
    out.emplace_back("kept_bytes");
  }
  return out;
}

MimeParser::MimeParser(MimeOptions options, MimeCallbacks callbacks)
    : options_(options), callbacks_(std::move(callbacks)), root_(std::make_unique<MimePart>()) {
  root_->limits = &reached_;
  current_ = root_.get();
}

void MimeParser::feed(std::string_view bytes) {
  if (finished_) {
    return;
  }
  while (!bytes.empty()) {
    const auto lf = bytes.find('\n');
    const std::string_view head = bytes.substr(0, lf);
    bytes.remove_prefix(lf == std::string_view::npos ? bytes.size() : lf + 1);
    line_.append(head);
    const bool ended = lf != std::string_view::npos;
    fed_ += head.size() + (ended ? 1 : 0);
    const std::uint64_t break_length = !ended                                     ? 0
                                       : (!line_.empty() && line_.back() == '\r') ? 2
                                                                                  : 1;
    if (in_long_line_) {
      // A CR at the end of a piece may be the line's end: it waits for the next piece.
      const bool held_cr = !ended && line_.back() == '\r';
      longLinePiece(withoutCr(line_), false);
      if (ended) {
        longLineEnd();
        in_long_line_ = false;
        lineEnded(break_length);
      }
      line_ = held_cr ? "\r" : "";
      continue;
    }
    if (line_.size() <= MaxMimeLineBytes) {
      if (ended) {
        line(withoutCr(line_), true);
        line_.clear();
        lineEnded(break_length);
      }
      continue;
    }
    const bool held_cr = !ended && line_.back() == '\r';
    longLinePiece(withoutCr(line_), true);
    if (ended) {
      longLineEnd();
      lineEnded(break_length);
    } else {
      in_long_line_ = true;
    }
    line_ = held_cr ? "\r" : "";
  }
  deliver();
}

void MimeParser::lineEnded(std::uint64_t break_length) {
  line_begin_ = fed_;
  previous_break_ = break_length;
}

void MimeParser::finish() {
  if (finished_) {
    return;
  }
  // The last line had no line break.
  if (in_long_line_) {
    longLinePiece(line_, false);
  } else if (!line_.empty()) {
    line(line_, false);
  }
  line_.clear();
  if (state_ == State::Body && pending_break_) {
    bodyBytes({}, true); // no boundary follows: the last line break is the body's
  }
  endPart(fed_);
  finished_ = true;
}

void MimeParser::line(std::string_view content, bool has_break) {
  if (!levels_.empty() && content.starts_with("--") && boundary(content)) {
    return;
  }
  switch (state_) {
  case State::Header:
    if (content.empty()) {
      endHeader();
      return;
    }
    headerBytes(content, true);
    headerBytes("\r\n", false);
    return;
  case State::Body:
    bodyBytes(content, true);
    pending_break_ = has_break;
    return;
  case State::Skip:
    return;
  }
}

void MimeParser::longLinePiece(std::string_view piece, bool first) {
  if (state_ == State::Header) {
    headerBytes(piece, first);
  } else if (state_ == State::Body) {
    bodyBytes(piece, first);
  }
}

void MimeParser::longLineEnd() {
  if (state_ == State::Header) {
    headerBytes("\r\n", false);
  } else if (state_ == State::Body) {
    pending_break_ = true;
  }
}

// "--boundary" starts a part, "--boundary--" ends the multipart; either may be followed by
// blanks (RFC 2046 5.1.1). An outer boundary also ends the multiparts nested inside it.
bool MimeParser::boundary(std::string_view content) {
  for (std::size_t i = levels_.size(); i-- > 0;) {
    std::string_view rest = content.substr(2);
    const std::string& b = levels_[i].boundary;
    if (!rest.starts_with(b)) {
      continue;
    }
    rest.remove_prefix(b.size());
    const bool closing = rest.starts_with("--");
    if (closing) {
      rest.remove_prefix(2);
    }
    while (!rest.empty() && text::isWsp(rest.front())) {
      rest.remove_prefix(1);
    }
    if (!rest.empty()) {
      continue;
    }
    endPart(line_begin_ - previous_break_);
    levels_.resize(i + 1);
    if (closing) {
      levels_.pop_back();
      state_ = State::Skip; // the epilogue
    } else {
      startPart(*levels_[i].part);
    }
    return true;
  }
  return false;
}

void MimeParser::headerBytes(std::string_view bytes, bool line_start) {
  if (header_full_) {
    return;
  }
  if (line_start && (bytes.empty() || !text::isWsp(bytes.front()))) {
    header_field_start_ = header_block_.size();
  }
  if (header_block_.size() + bytes.size() > options_.limits.max_header_bytes) {
    // Whole fields only: a field without its continuation lines would read as another value.
    header_block_.resize(header_field_start_);
    header_full_ = true;
    current_->header_truncated = true;
    reached_.header = true;
    return;
  }
  header_block_.append(bytes);
}

void MimeParser::endHeader() {
  MimePart& part = *current_;
  part.fields = Header::parse(header_block_);
  header_block_.clear();
  header_full_ = false;

  const MimeField type = MimeField::parse(part.header("Content-Type"));
  if (type.value.find('/') != std::string::npos) {
    part.content_type = type.value;
  }
  part.charset_name = lowerTrimmed(type.param("charset"));
  part.boundary = type.param("boundary");
  const MimeField disposition = MimeField::parse(part.header("Content-Disposition"));
  part.disposition = disposition.value;
  part.file_name = disposition.param("filename");
  if (part.file_name.empty()) {
    part.file_name = type.param("name");
  }
  part.transfer_encoding = lowerTrimmed(part.header("Content-Transfer-Encoding"));

  if (part.content_type.starts_with("multipart/") && !part.boundary.empty()) {
    current_ = nullptr;
    state_ = State::Skip; // the preamble
    if (levels_.size() >= options_.limits.max_depth) {
      reached_.depth = true;
      return;
    }
    levels_.push_back({&part, part.boundary});
    return;
  }
  startLeaf();
}

void MimeParser::startLeaf() {
  MimePart& part = *current_;
  part.body_begin = fed_; // the line that ended the header has been counted
  const std::string& type = part.content_type;
  // A multipart without a boundary cannot be split: it is read as text (RFC 2046 5.1.1).
  const bool textual =
      type.starts_with("text/") || type.starts_with("message/") || type.starts_with("multipart/");
  part.attachment = !textual || part.disposition == "attachment";
  decoder_ = TransferDecoder(transferEncodingFrom(part.transfer_encoding));
  keep_ = options_.keep_text && !part.attachment;
  converter_ = Utf8Converter(part.charset_name);
  part.text_utf8 = converter_.converts();
  pending_break_ = false;
  state_ = State::Body;
  if (part.attachment && callbacks_.attachment_start) {
    callbacks_.attachment_start(part);
  }
}

void MimeParser::bodyBytes(std::string_view bytes, bool line_start) {
  if (line_start && pending_break_) {
    decoder_.lineBreak(decoded_);
    pending_break_ = false;
  }
  decoder_.data(bytes, decoded_);
  if (decoded_.size() >= AttachmentChunkBytes) {
    deliver();
  }
}

void MimeParser::deliver() {
  if (decoded_.empty() || current_ == nullptr || state_ != State::Body) {
    return;
  }
  MimePart& part = *current_;
  part.decoded_bytes += decoded_.size();
  if (part.attachment) {
    if (callbacks_.attachment_data) {
      callbacks_.attachment_data(part, decoded_);
    }
  } else if (keep_) {
    converted_.clear();
    converter_.feed(decoded_, converted_);
    keepText(converted_);
  }
  decoded_.clear();
}

void MimeParser::keepText(std::string_view text) {
  MimePart& part = *current_;
  if (part.text_truncated || text.empty()) {
    return;
  }
  const std::size_t room = options_.limits.max_kept_bytes - kept_bytes_;
  std::size_t take = text.size();
  if (take > room) {
    take = room;
    // Not inside a UTF-8 sequence.
    while (part.text_utf8 && take > 0 && (static_cast<unsigned char>(text[take]) & 0xc0) == 0x80) {
      --take;
    }
    part.text_truncated = true;
    reached_.kept_bytes = true;
  }
  part.body_text.append(text.substr(0, take));
  kept_bytes_ += take;
}

void MimeParser::endPart(std::uint64_t body_end) {
  if (state_ == State::Header) {
    endHeader(); // a part without a body
    if (state_ == State::Body) {
      current_->body_begin = body_end;
    }
  }
  if (state_ == State::Body) {
    current_->body_end = std::max(body_end, current_->body_begin);
    // pending_break_ is dropped: the line break before a boundary belongs to the boundary.
    decoder_.finish(decoded_);
    deliver();
    if (keep_) {
      converted_.clear();
      converter_.finish(converted_);
      keepText(converted_);
    }
    if (current_->attachment && callbacks_.attachment_end) {
      callbacks_.attachment_end(*current_);
    }
  }
  state_ = State::Skip;
  current_ = nullptr;
  pending_break_ = false;
  keep_ = false;
}

void MimeParser::startPart(MimePart& parent) {
  if (part_count_ >= options_.limits.max_parts) {
    reached_.parts = true;
    state_ = State::Skip;
    return;
  }
  auto child = std::make_unique<MimePart>();
  child->depth = parent.depth + 1;
  if (parent.content_type == "multipart/digest") {
    child->content_type = "message/rfc822"; // RFC 2046 5.1.5
  }
  current_ = child.get();
  parent.children.push_back(std::move(child));
  ++part_count_;
  state_ = State::Header;
  header_block_.clear();
  header_full_ = false;
}

} // namespace upesi::mail
