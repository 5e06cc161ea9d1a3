#include "worker/smtp/message_stream.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <utility>

namespace upesi::smtp {

namespace {

constexpr std::size_t kChunk = 64 * 1024; // file buffer and read size

const Result<std::monostate> kOk = std::monostate{};

std::string errnoText(int err) {
  return std::strerror(err);
}

Result<std::monostate> writeAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error{fmt::format("cannot write spool file {}: {}", path, errnoText(errno))};
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return std::monostate{};
}

// Applies dot-stuffing and the line-ending choice on the way to the sink, across calls, and
// passes unchanged bytes on in runs as long as the input allows.
class OutputFilter {
public:
  OutputFilter(const ByteSink& sink, const WriteOptions& options)
      : sink_(sink), stuff_(options.dot_stuff), lf_(options.line_ending == LineEnding::Lf) {}

  Result<std::monostate> put(std::string_view bytes) {
    if (bytes.empty()) {
      return kOk;
    }
    if (!stuff_ && !lf_) {
      line_start_ = bytes.back() == '\n';
      return sink_(bytes);
    }
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    const char* run = p;
    if (pending_cr_) {
      pending_cr_ = false;
      if (*p != '\n') {
        // A lone CR is data: it goes out as it came.
        if (auto r = send("\r"); !r) {
          return r;
        }
      }
    }
    while (p < end) {
      if (line_start_) {
        line_start_ = false;
        if (stuff_ && *p == '.') {
          if (auto r = send(run, p); !r) {
            return r;
          }
          if (auto r = send("."); !r) {
            return r;
          }
          run = p; // the original dot follows the added one
        }
      }
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (nl == nullptr) {
        if (lf_ && end[-1] == '\r') {
          // Maybe the CR of a CRLF split across calls: decide on the next byte.
          pending_cr_ = true;
          return send(run, end - 1);
        }
        break;
      }
      if (lf_ && nl > p && nl[-1] == '\r') {
        if (auto r = send(run, nl - 1); !r) {
          return r;
        }
        run = nl;
      }
      p = nl + 1;
      line_start_ = true;
    }
    return send(run, end);
  }

  Result<std::monostate> finish(bool ending_dot) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (auto r = send("\r"); !r) {
        return r;
      }
    }
    if (!ending_dot) {
      return kOk;
    }
    std::string_view eol = lf_ ? "\n" : "\r\n";
    if (!line_start_) {
      if (auto r = send(eol); !r) {
        return r;
      }
    }
    return send(lf_ ? ".\n" : ".\r\n");
  }

private:
  Result<std::monostate> send(std::string_view bytes) {
    if (bytes.empty()) {
      return kOk;
    }
    return sink_(bytes);
  }
  Result<std::monostate> send(const char* begin, const char* end) {
    return send(std::string_view(begin, static_cast<std::size_t>(end - begin)));
  }

  const ByteSink& sink_;
  bool stuff_;
  bool lf_;
  bool line_start_ = true;
  bool pending_cr_ = false;
};

} // namespace

MessageStream::SpoolFile::~SpoolFile() {
  close();
}

MessageStream::SpoolFile::SpoolFile(SpoolFile&& other) noexcept
    : fd(std::exchange(other.fd, -1)), path(std::move(other.path)) {
  other.path.clear();
}

MessageStream::SpoolFile& MessageStream::SpoolFile::operator=(SpoolFile&& other) noexcept {
  if (this != &other) {
    close();
    fd = std::exchange(other.fd, -1);
    path = std::move(other.path);
    other.path.clear();
  }
  return *this;
}

void MessageStream::SpoolFile::close() noexcept {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
  if (!path.empty()) {
    ::unlink(path.c_str());
    path.clear();
  }
}

MessageStream::MessageStream(MessageStreamOptions options) : options_(std::move(options)) {
  if (options_.body_only) {
    header_done_ = true;
    body_offset_ = 0;
  }
}

void MessageStream::replaceBody(MessageStream body) {
  replacement_ = std::make_unique<MessageStream>(std::move(body));
}

std::optional<std::uint64_t> MessageStream::bodyOffset() const {
  return body_offset_;
}

Result<std::monostate> MessageStream::fail(std::string message) {
  error_ = std::move(message);
  return Error{error_};
}

// Find the first empty line, across appends, looking at each line's first bytes only.
void MessageStream::scanHeader(std::string_view bytes) {
  const std::uint64_t base = size_;
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (at_line_start_) {
      char c = bytes[i];
      if (c == '\n') {
        header_end_ = line_start_;
        body_offset_ = base + i + 1;
        header_done_ = true;
        return;
      }
      if (c == '\r' && !line_has_cr_) {
        line_has_cr_ = true;
        ++i;
        continue;
      }
      at_line_start_ = false;
      line_has_cr_ = false;
    }
    const auto* nl =
        static_cast<const char*>(std::memchr(bytes.data() + i, '\n', bytes.size() - i));
    if (nl == nullptr) {
      return;
    }
    i = static_cast<std::size_t>(nl - bytes.data()) + 1;
    std::uint64_t next = base + i;
    if (next > options_.max_header_bytes) {
      // The header would be too long: the line that crosses the limit starts the "body".
      header_end_ = line_start_;
      header_done_ = true;
      return;
    }
    line_start_ = next;
    at_line_start_ = true;
  }
}

Result<std::monostate> MessageStream::spill() {
  static std::atomic<std::uint64_t> counter{0};
  const auto pid = static_cast<long>(::getpid());
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::string path = fmt::format("{}/upesi-spool-{}-{}-{:x}", options_.spool_dir, pid,
                                   counter.fetch_add(1), static_cast<unsigned long long>(now));
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST || errno == EINTR) {
        continue;
      }
      return fail(fmt::format("cannot create spool file {}: {}", path, errnoText(errno)));
    }
    spool_.fd = fd;
    spool_.path = std::move(path);
    if (auto r = writeAll(spool_.fd, memory_, spool_.path); !r) {
      return fail(r.error());
    }
    std::string().swap(memory_);
    file_buffer_.reserve(kChunk);
    return kOk;
  }
  return fail(fmt::format("cannot create a spool file in {}", options_.spool_dir));
}

Result<std::monostate> MessageStream::flushFileBuffer() {
  if (file_buffer_.empty()) {
    return kOk;
  }
  auto r = writeAll(spool_.fd, file_buffer_, spool_.path);
  file_buffer_.clear();
  if (!r) {
    return fail(r.error());
  }
  return kOk;
}

Result<std::monostate> MessageStream::append(std::string_view bytes) {
  if (!error_.empty()) {
    return Error{error_};
  }
  if (finished_) {
    return Error{"message stream: append after the end of data"};
  }
  if (bytes.empty()) {
    return kOk;
  }
  if (!header_done_) {
    scanHeader(bytes);
  }
  if (spool_.fd < 0 && options_.spool_after >= 0 &&
      size_ + bytes.size() > static_cast<std::uint64_t>(options_.spool_after)) {
    if (auto r = spill(); !r) {
      return r;
    }
  }
  if (spool_.fd < 0) {
    memory_.append(bytes);
  } else if (file_buffer_.size() + bytes.size() <= kChunk) {
    file_buffer_.append(bytes);
  } else {
    if (auto r = flushFileBuffer(); !r) {
      return r;
    }
    if (bytes.size() >= kChunk) {
      if (auto r = writeAll(spool_.fd, bytes, spool_.path); !r) {
        return fail(r.error());
      }
    } else {
      file_buffer_.append(bytes);
    }
  }
  size_ += bytes.size();
  return kOk;
}

Result<std::monostate> MessageStream::readRange(
    std::uint64_t offset, std::uint64_t size, std::string& buffer,
    const std::function<Result<std::monostate>(std::string_view)>& consume) const {
  buffer.resize(kChunk);
  while (size > 0) {
    std::size_t want = size < kChunk ? static_cast<std::size_t>(size) : kChunk;
    ssize_t n = ::pread(spool_.fd, buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error{fmt::format("cannot read spool file {}: {}", spool_.path, errnoText(errno))};
    }
    if (n == 0) {
      return Error{fmt::format("spool file {} is shorter than expected", spool_.path)};
    }
    if (auto r = consume(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !r) {
      return r;
    }
    offset += static_cast<std::uint64_t>(n);
    size -= static_cast<std::uint64_t>(n);
  }
  return kOk;
}

Result<std::monostate> MessageStream::finish() {
  if (!error_.empty()) {
    return Error{error_};
  }
  if (finished_) {
    return kOk;
  }
  if (spool_.fd >= 0) {
    if (auto r = flushFileBuffer(); !r) {
      return r;
    }
  }
  if (options_.body_only) {
    finished_ = true;
    return kOk;
  }
  if (!header_done_) {
    // No empty line: the header is every complete line (a last line without a line ending
    // stays body, so that the output is the input).
    header_end_ = line_start_;
    header_done_ = true;
  }
  if (spool_.fd < 0) {
    header_ =
        mail::Header::parse(std::string_view(memory_).substr(0, header_end_), options_.header);
  } else {
    std::string block;
    block.reserve(header_end_);
    std::string buffer;
    auto r = readRange(0, header_end_, buffer, [&](std::string_view bytes) {
      block += bytes;
      return kOk;
    });
    if (!r) {
      return fail(r.error());
    }
    header_ = mail::Header::parse(block, options_.header);
  }
  finished_ = true;
  return kOk;
}

Result<std::monostate> MessageStream::writeTo(const ByteSink& sink,
                                              const WriteOptions& options) const {
  if (!error_.empty()) {
    return Error{error_};
  }
  if (!finished_) {
    return Error{"message stream: writeTo before the end of data"};
  }
  OutputFilter out(sink, options);
  if (replacement_ != nullptr) {
    if (!options.skip_headers) {
      if (auto r = out.put(header_.serialize()); !r) {
        return r;
      }
      if (auto r = out.put("\r\n"); !r) {
        return r;
      }
    }
    if (!replacement_->error_.empty()) {
      return Error{replacement_->error_};
    }
    auto put = [&out](std::string_view bytes) { return out.put(bytes); };
    if (auto r = replacement_->writeRange(0, replacement_->size_, put); !r) {
      return r;
    }
    return out.finish(options.ending_dot);
  }
  std::uint64_t start = header_end_;
  if (options.skip_headers) {
    start = body_offset_.value_or(header_end_);
  } else {
    if (auto r = out.put(header_.serialize()); !r) {
      return r;
    }
  }
  auto put = [&out](std::string_view bytes) { return out.put(bytes); };
  for (const auto& edit : options.edits) {
    if (edit.begin < start || edit.end < edit.begin || edit.end > size_) {
      continue; // not within what is written: left as it is
    }
    if (auto r = writeRange(start, edit.begin, put); !r) {
      return r;
    }
    std::string original;
    auto r = writeRange(edit.begin, edit.end, [&original](std::string_view bytes) {
      original += bytes;
      return kOk;
    });
    if (!r) {
      return r;
    }
    if (auto w = out.put(edit.replace(original)); !w) {
      return w;
    }
    start = edit.end;
  }
  if (auto r = writeRange(start, size_, put); !r) {
    return r;
  }
  return out.finish(options.ending_dot);
}

Result<std::monostate> MessageStream::writeRange(
    std::uint64_t begin, std::uint64_t end,
    const std::function<Result<std::monostate>(std::string_view)>& consume) const {
  if (begin >= end) {
    return kOk;
  }
  if (spool_.fd < 0) {
    return consume(std::string_view(memory_).substr(begin, end - begin));
  }
  std::string buffer;
  return readRange(begin, end - begin, buffer, consume);
}

} // namespace upesi::smtp
