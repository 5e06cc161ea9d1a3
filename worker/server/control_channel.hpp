// ControlChannel: a worker's end of the socketpair to its master. Messages are JSON objects, one
// per line: {"cmd":"flush"|"stop"|"reopen_logs"} from the master, {"event":"ready"|"flush"} to it
// ("flush": the HTTP API asks that every worker flush).
// End of file means the master is gone.
//
// Threading: the loop thread.
#pragma once

#include "common/util/uv_handle.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <functional>
#include <string>

namespace upesi::worker {

class ControlChannel {
public:
  using OnMessage = std::function<void(const nlohmann::json&)>;
  using OnClosed = std::function<void()>;

  ControlChannel(uv_loop_t* loop, int fd, OnMessage on_message, OnClosed on_closed);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  void send(const nlohmann::json& message);

private:
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  UvHandle<uv_pipe_t> pipe_;
  std::string input_;
  OnMessage on_message_;
  OnClosed on_closed_;
};

} // namespace upesi::worker
