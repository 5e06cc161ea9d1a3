// MessagePump: a message handed from the thread pool to the loop in bounded chunks, for a
// client that streams it to a daemon (spamd, clamd) without holding all of it in memory.
//
// Transaction::writeMessage reads the message (memory or spool file) synchronously, so it runs
// in a thread-pool job. Its sink cuts the bytes into chunks on a queue of at most max_buffered
// bytes and waits while the queue is full; the loop is woken through a uv_async_t and takes
// chunks as fast as its socket takes them. A message of any size thus costs about max_buffered
// bytes, and the loop never reads a file. cancel() (timeout, error, shutdown) wakes the job,
// which stops at its next chunk.
//
// A waiting job holds a pool thread while the daemon reads slowly; the owner's timeouts bound
// that, and at most half of the pool pumps at once (spooling and the queue's fsyncs keep the
// rest): pumps past that wait on the loop for a free turn.
//
// Threading: every member function is for the loop thread.
#pragma once

#include <upesi/connection.hpp>
#include <upesi/host.hpp>

#include "common/util/uv_handle.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace upesi::plugins {

class MessagePump : public std::enable_shared_from_this<MessagePump> {
public:
  struct Options {
    MessageWriteOptions write;          ///< how the message is written (CRLF, stuffing)
    std::size_t chunk_size = 64 * 1024; ///< bytes per chunk (the last may be shorter)
    std::size_t max_buffered = 256 * 1024;
    bool measure = false; ///< count the message's bytes first (a Content-length to send)
  };
  /// Runs on the loop when chunks, the size, or the end are there to take.
  using Ready = std::function<void()>;

  /// Starts reading `txn` (kept alive until the job ends).
  static std::shared_ptr<MessagePump> start(Host& host, std::shared_ptr<Transaction> txn,
                                            Options options, Ready ready);
  ~MessagePump();
  MessagePump(const MessagePump&) = delete;
  MessagePump& operator=(const MessagePump&) = delete;

  /// The message's size in bytes once measured (Options::measure).
  std::optional<std::uint64_t> size() const;
  /// The next chunk, or nullopt if none is ready now.
  std::optional<std::string> take();
  /// Every chunk has been taken and the message was read to its end.
  bool finished() const;
  /// Reading the message failed (the chunks taken are not the whole of it).
  bool failed() const;
  /// Stops the job; ready is not called again.
  void cancel();

  /// Pumps allowed to hold a pool thread at once in this process.
  static std::size_t maxRunning();

private:
  struct Shared; // what the job and the loop share, under its mutex
  MessagePump(Host& host, std::shared_ptr<Transaction> txn, Options options, Ready ready);
  void begin();
  void work();
  void workDone();
  bool push(std::string chunk);
  void wake();
  static void onAsync(uv_async_t* async);

  Host& host_;
  std::shared_ptr<Transaction> txn_;
  Options options_;
  Ready ready_;
  UvHandle<uv_async_t> async_;
  std::shared_ptr<Shared> shared_;
  bool running_ = false; // holds one of the maxRunning() turns
};

} // namespace upesi::plugins
