#include "worker/server/control_channel.hpp"

#include "common/log/logger.hpp"

namespace upesi::worker {

namespace {
struct Write {
  uv_write_t req{};
  std::string data;
};
} // namespace

ControlChannel::ControlChannel(uv_loop_t* loop, int fd, OnMessage on_message, OnClosed on_closed)
    : on_message_(std::move(on_message)), on_closed_(std::move(on_closed)) {
  pipe_.open(
      loop, [](uv_loop_t* l, uv_pipe_t* p) { return uv_pipe_init(l, p, 0); }, this);
  uv_pipe_open(pipe_.get(), fd);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(pipe_.get()),
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        static thread_local char buffer[4096];
        *buf = uv_buf_init(buffer, sizeof buffer);
      },
      onRead);
}

ControlChannel::~ControlChannel() = default;

void ControlChannel::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ControlChannel*>(stream->data);
  if (self == nullptr) {
    return;
  }
  if (nread < 0) {
    uv_read_stop(stream);
    if (self->on_closed_) {
      self->on_closed_();
    }
    return;
  }
  self->input_.append(buf->base, static_cast<std::size_t>(nread));
  std::size_t newline = 0;
  while ((newline = self->input_.find('\n')) != std::string::npos) {
    std::string line = self->input_.substr(0, newline);
    self->input_.erase(0, newline + 1);
    auto message = nlohmann::json::parse(line, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      log::error({}, "control channel: not a JSON object: {}", line.substr(0, 100));
      continue;
    }
    self->on_message_(message);
  }
}

void ControlChannel::send(const nlohmann::json& message) {
  auto* w = new Write{};
  w->data = message.dump() + "\n";
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(pipe_.get()), &buf, 1,
               [](uv_write_t* req, int) { delete static_cast<Write*>(req->data); }) != 0) {
    delete w;
  }
}

} // namespace upesi::worker
