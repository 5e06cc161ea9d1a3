#include "common/smtp_client/message_source.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace upesi::smtp_client {

namespace {

class MemorySource final : public MessageSource {
public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  void read(std::size_t max, ReadDone done) override {
    std::string_view rest = std::string_view(bytes_).substr(pos_);
    std::string_view chunk = rest.substr(0, max);
    pos_ += chunk.size();
    done(chunk);
  }

private:
  std::string bytes_;
  std::size_t pos_ = 0;
};

class CallbackSource final : public MessageSource {
public:
  explicit CallbackSource(std::function<Result<std::size_t>(char*, std::size_t)> fill)
      : fill_(std::move(fill)) {}
  void read(std::size_t max, ReadDone done) override {
    buffer_.resize(max);
    auto n = fill_(buffer_.data(), buffer_.size());
    if (!n) {
      done(Error{n.error()});
      return;
    }
    assert(*n <= max);
    done(std::string_view(buffer_.data(), std::min(*n, max)));
  }

private:
  std::function<Result<std::size_t>(char*, std::size_t)> fill_;
  std::string buffer_;
};

class FileSource final : public MessageSource, public std::enable_shared_from_this<FileSource> {
public:
  FileSource(uv_loop_t* loop, uv_file fd, std::int64_t offset, std::optional<std::uint64_t> length)
      : loop_(loop), fd_(fd), offset_(offset), remaining_(length) {}

  void read(std::size_t max, ReadDone done) override {
    if (remaining_ && *remaining_ < max) {
      max = static_cast<std::size_t>(*remaining_);
    }
    if (max == 0) {
      done(std::string_view{});
      return;
    }
    if (capacity_ < max) {
      // Not value-initialised: zeroing a 64 KiB buffer per read cost more than the read.
      buffer_.reset(new char[max]);
      capacity_ = max;
    }
    // The request keeps the source (and so the buffer) alive until libuv is done with it,
    // even if the client that asked is gone by then.
    auto* request = new Request{};
    request->source = shared_from_this();
    request->done = std::move(done);
    request->req.data = request;
    uv_buf_t buf = uv_buf_init(buffer_.get(), static_cast<unsigned>(max));
    int rc = uv_fs_read(loop_, &request->req, fd_, &buf, 1, offset_, onRead);
    if (rc < 0) {
      auto callback = std::move(request->done);
      uv_fs_req_cleanup(&request->req);
      delete request;
      callback(Error{uv_strerror(rc)});
    }
  }

private:
  struct Request {
    uv_fs_t req{};
    std::shared_ptr<FileSource> source;
    ReadDone done;
  };

  static void onRead(uv_fs_t* req) {
    std::unique_ptr<Request> request(static_cast<Request*>(req->data));
    auto result = req->result;
    uv_fs_req_cleanup(req);
    FileSource& self = *request->source;
    if (result < 0) {
      request->done(Error{uv_strerror(static_cast<int>(result))});
      return;
    }
    auto n = static_cast<std::size_t>(result);
    self.offset_ += static_cast<std::int64_t>(n);
    if (self.remaining_) {
      *self.remaining_ -= n;
    }
    request->done(std::string_view(self.buffer_.get(), n));
  }

  uv_loop_t* loop_;
  uv_file fd_;
  std::int64_t offset_;
  std::optional<std::uint64_t> remaining_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
};

} // namespace

std::shared_ptr<MessageSource> memorySource(std::string bytes) {
  return std::make_shared<MemorySource>(std::move(bytes));
}

std::shared_ptr<MessageSource>
callbackSource(std::function<Result<std::size_t>(char* buf, std::size_t cap)> fill) {
  return std::make_shared<CallbackSource>(std::move(fill));
}

std::shared_ptr<MessageSource> fileSource(uv_loop_t* loop, uv_file fd, std::int64_t offset,
                                          std::optional<std::uint64_t> length) {
  return std::make_shared<FileSource>(loop, fd, offset, length);
}

} // namespace upesi::smtp_client
