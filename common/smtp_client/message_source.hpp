// MessageSource: where the SmtpClient reads a message's body from, a chunk at a time. The bytes
// are as the queue stores them: dot-stuffed, CRLF line ends; the client sends them as they are.
//
// Threading: the loop thread.
#pragma once

#include "common/util/result.hpp"

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace upesi::smtp_client {

/// read() yields the next chunk of at most `max` bytes (empty: the end) or an error, inline or
/// later on the loop; the bytes must stay valid until the next read() or the source's
/// destruction.
class MessageSource {
public:
  using ReadDone = std::function<void(Result<std::string_view>)>;
  virtual ~MessageSource() = default;
  virtual void read(std::size_t max, ReadDone done) = 0;
};

/// A message held in memory.
std::shared_ptr<MessageSource> memorySource(std::string bytes);
/// A synchronous reader: fill(buf, cap) returns the bytes it put in buf (0: the end) or an
/// error. For sources that never block (memory, a pipe already filled).
std::shared_ptr<MessageSource>
callbackSource(std::function<Result<std::size_t>(char* buf, std::size_t cap)> fill);
/// A file read with uv_fs_read on `loop`'s thread pool, from `offset` to its end (or `length`
/// bytes). The source does not own `fd`; it must stay open until the source is gone.
std::shared_ptr<MessageSource> fileSource(uv_loop_t* loop, uv_file fd, std::int64_t offset,
                                          std::optional<std::uint64_t> length = std::nullopt);

} // namespace upesi::smtp_client
