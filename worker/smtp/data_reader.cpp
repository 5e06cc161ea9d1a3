#include "worker/smtp/data_reader.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace upesi::smtp {

namespace {

const char* findLineBreak(const char* p, const char* end) {
  while (p < end && *p != '\r' && *p != '\n') {
    ++p;
  }
  return p;
}

} // namespace

DataReader::DataReader(const DataReaderOptions& options, Sink sink)
    : sink_(std::move(sink)),
      content_limit_(
          options.max_line_length == 0 ? 0 : std::max<std::size_t>(options.max_line_length, 4) - 2),
      long_lines_(options.long_lines), bare_line_endings_(options.bare_line_endings),
      max_bytes_(options.max_bytes), reject_nul_(options.reject_nul) {}

DataOutcome DataReader::outcome() const {
  if (state_ == DataState::BareLineEnding) {
    return DataOutcome::BareLineEnding;
  }
  if (size_exceeded_) {
    return DataOutcome::SizeExceeded;
  }
  if (nul_seen_) {
    return DataOutcome::NulCharacter;
  }
  if (line_too_long_) {
    return DataOutcome::LineTooLong;
  }
  return DataOutcome::Accepted;
}

void DataReader::emit(const char* data, std::size_t size) {
  if (size == 0) {
    return;
  }
  if (max_bytes_ != 0 && bytes_ + size > max_bytes_) {
    size_exceeded_ = true;
  }
  if (reject_nul_ && !nul_seen_ && std::memchr(data, '\0', size) != nullptr) {
    nul_seen_ = true;
  }
  // Once the message is known to be refused, nothing more is stored; counting goes on.
  if (!size_exceeded_ && !line_too_long_ && !nul_seen_) {
    sink_(std::string_view(data, size));
  }
  bytes_ += size;
}

void DataReader::checkFirstLine(const char* begin, const char* end) {
  for (const char* p = begin; p < end; ++p) {
    auto c = static_cast<unsigned char>(*p);
    if (c == ':') {
      first_line_ = first_line_name_ > 0 ? FirstLine::Header : FirstLine::Other;
      return;
    }
    if (c < 33 || c > 126) {
      first_line_ = FirstLine::Other;
      return;
    }
    ++first_line_name_;
  }
}

// Account for line content [begin, end) whose output is pending from `run`; fold or flag the
// line when it grows past the limit.
void DataReader::text(const char* begin, const char* end, const char*& run) {
  if (first_line_ == FirstLine::Unknown) {
    checkFirstLine(begin, end);
  }
  auto size = static_cast<std::size_t>(end - begin);
  if (content_limit_ == 0 || line_length_ + size <= content_limit_) {
    line_length_ += size;
    return;
  }
  if (long_lines_ == LongLinePolicy::Reject) {
    line_too_long_ = true;
    line_length_ += size;
    return;
  }
  // content_limit_ >= 2 and a fold leaves 1 byte on the new line, so every pass moves on.
  while (line_length_ + size > content_limit_) {
    std::size_t fits = content_limit_ - line_length_;
    begin += fits;
    size -= fits;
    emit(run, static_cast<std::size_t>(begin - run));
    run = begin;
    emit("\r\n ", 3);
    ++lines_;
    line_length_ = 1;
    line_length_exceeded_ = true;
  }
  line_length_ += size;
}

void DataReader::endLine(bool crlf, std::uint64_t offset_after) {
  ++lines_;
  if (line_length_ == 0 && !body_offset_) {
    body_offset_ = offset_after;
  }
  if (first_line_ == FirstLine::Unknown) {
    first_line_ = FirstLine::Other;
  }
  line_length_ = 0;
  prev_crlf_ = crlf;
  at_ = At::LineStart;
}

DataFeedResult DataReader::feed(std::string_view chunk) {
  if (state_ != DataState::Reading) {
    return {0, state_};
  }
  const bool reject_bare = bare_line_endings_ == BareLineEndingPolicy::Reject;
  const char* const begin = chunk.data();
  const char* const end = begin + chunk.size();
  const char* p = begin;
  // Start of the input that goes out unchanged and has not been emitted yet.
  const char* run = p;
  auto flush = [&](const char* upto) {
    emit(run, static_cast<std::size_t>(upto - run));
    run = upto;
  };
  auto stop = [&](DataState state, const char* upto) {
    state_ = state;
    auto used = static_cast<std::size_t>(upto - begin);
    wire_bytes_ += used;
    return DataFeedResult{used, state};
  };

  while (p < end) {
    switch (at_) {
    case At::LineStart:
      if (*p == '.') {
        // Dropped either way: unstuffed, or part of the terminator.
        flush(p);
        ++p;
        run = p;
        at_ = At::Dot;
      } else {
        at_ = At::Text;
      }
      break;

    case At::Text: {
      const char* brk = findLineBreak(p, end);
      if (brk > p) {
        text(p, brk, run);
      }
      p = brk;
      if (p == end) {
        break;
      }
      if (*p == '\r') {
        ++p; // emitted with the run; a bare CR gets its LF added below
        at_ = At::Cr;
        break;
      }
      if (reject_bare) {
        return stop(DataState::BareLineEnding, p + 1);
      }
      flush(p);
      emit("\r\n", 2);
      ++p;
      run = p;
      normalised_ = true;
      endLine(false, bytes_);
      break;
    }

    case At::Cr:
      if (*p == '\n') {
        ++p;
        endLine(true, bytes_ + static_cast<std::uint64_t>(p - run));
        break;
      }
      if (reject_bare) {
        return stop(DataState::BareLineEnding, p);
      }
      flush(p);
      emit("\n", 1);
      normalised_ = true;
      endLine(false, bytes_); // *p starts the next line
      break;

    case At::Dot:
      if (*p == '\r') {
        ++p;
        run = p; // the CR is held back until we know it is not the terminator
        at_ = At::DotCr;
        break;
      }
      if (*p == '\n') {
        if (reject_bare) {
          return stop(DataState::BareLineEnding, p + 1);
        }
        emit("\r\n", 2);
        ++p;
        run = p;
        normalised_ = true;
        endLine(false, bytes_);
        break;
      }
      at_ = At::Text;
      break;

    case At::DotCr:
      if (*p == '\n') {
        ++p;
        if (prev_crlf_) {
          return stop(DataState::Done, p);
        }
        // Normalise only: the line before ended in a bare CR/LF, so this is an empty line.
        emit("\r\n", 2);
        run = p;
        endLine(true, bytes_);
        break;
      }
      if (reject_bare) {
        return stop(DataState::BareLineEnding, p);
      }
      emit("\r\n", 2);
      run = p;
      normalised_ = true;
      endLine(false, bytes_);
      break;
    }
  }
  flush(end);
  wire_bytes_ += chunk.size();
  return {chunk.size(), state_};
}

} // namespace upesi::smtp
