#include "common/tls/tls_stream.hpp"

#include <fmt/format.h>

namespace upesi::tls {

struct TlsStream::Shared {
  std::unique_ptr<TlsChannel> channel;
};

struct TlsStream::Step {
  uv_work_t req{};
  std::shared_ptr<Shared> shared; // keeps the channel alive if the stream goes first
  TlsStream* owner = nullptr;
  std::weak_ptr<bool> owner_alive;
  TlsChannel::Progress progress = TlsChannel::Progress::WantMore;
};

TlsStream::TlsStream(uv_loop_t* loop, std::unique_ptr<TlsChannel> channel, Callbacks callbacks)
    : loop_(loop), shared_(std::make_shared<Shared>()), callbacks_(std::move(callbacks)) {
  shared_->channel = std::move(channel);
}

TlsStream::~TlsStream() {
  *alive_ = false;
}

void TlsStream::start() {
  step();
}

void TlsStream::received(std::string_view ciphertext) {
  if (failed_) {
    return;
  }
  if (step_in_flight_) {
    // A peer owes us nothing more than its next handshake flight while our step runs.
    if (held_input_.size() + ciphertext.size() > MaxHeldInput) {
      failed_ = true;
      callbacks_.failed(
          fmt::format("more than {} bytes sent during a handshake step", MaxHeldInput));
      return;
    }
    held_input_.append(ciphertext);
    return;
  }
  shared_->channel->feed(ciphertext);
  if (established_) {
    deliverPlaintext();
  } else {
    step();
  }
}

void TlsStream::step() {
  if (step_in_flight_ || failed_) {
    return;
  }
  unsigned costly = shared_->channel->isServer() ? 0 : 1;
  if (steps_++ != costly) {
    stepFinished(shared_->channel->handshake());
    return;
  }
  auto* job = new Step{};
  job->req.data = job;
  job->shared = shared_;
  job->owner = this;
  job->owner_alive = alive_;
  step_in_flight_ = true;
  if (uv_queue_work(loop_, &job->req, onStepWork, onStepDone) != 0) {
    // No thread pool (cannot happen on a running loop): do the step here.
    job->progress = job->shared->channel->handshake();
    step_in_flight_ = false;
    auto progress = job->progress;
    delete job;
    stepFinished(progress);
  }
}

void TlsStream::onStepWork(uv_work_t* req) {
  auto* job = static_cast<Step*>(req->data);
  job->progress = job->shared->channel->handshake();
}

void TlsStream::onStepDone(uv_work_t* req, int /*status*/) {
  std::unique_ptr<Step> job(static_cast<Step*>(req->data));
  if (job->owner_alive.expired()) {
    return; // the owner went away meanwhile; `shared` frees the channel
  }
  job->owner->step_in_flight_ = false;
  job->owner->stepFinished(job->progress);
}

void TlsStream::stepFinished(TlsChannel::Progress progress) {
  std::weak_ptr<bool> alive = alive_;
  flushOutput();
  if (alive.expired()) {
    return;
  }
  if (progress == TlsChannel::Progress::Failed) {
    failed_ = true;
    callbacks_.failed(shared_->channel->error());
    return;
  }
  bool more_input = !held_input_.empty();
  if (more_input) {
    shared_->channel->feed(held_input_);
    held_input_.clear();
  }
  if (progress == TlsChannel::Progress::Done) {
    established_ = true;
    callbacks_.established();
    if (alive.expired()) {
      return;
    }
    deliverPlaintext(); // the client may have sent its first command with its Finished
    return;
  }
  // WantMore: go again only if something new arrived meanwhile; else received() will.
  if (more_input) {
    step();
  }
}

void TlsStream::deliverPlaintext() {
  std::string plaintext;
  bool ok = shared_->channel->read(plaintext);
  std::weak_ptr<bool> alive = alive_;
  flushOutput(); // post-handshake messages (TLS 1.3 tickets, alerts)
  if (alive.expired()) {
    return;
  }
  if (!plaintext.empty()) {
    callbacks_.plaintext(plaintext);
    if (alive.expired()) {
      return;
    }
  }
  if (!ok && !failed_) {
    failed_ = true;
    callbacks_.failed(shared_->channel->error());
  }
}

bool TlsStream::send(std::string_view plaintext) {
  if (failed_ || !established_) {
    return false;
  }
  if (!shared_->channel->write(plaintext)) {
    failed_ = true;
    callbacks_.failed(shared_->channel->error());
    return false;
  }
  flushOutput();
  return true;
}

void TlsStream::close() {
  if (step_in_flight_ || failed_ || !established_) {
    return;
  }
  shared_->channel->shutdown();
  flushOutput();
}

void TlsStream::flushOutput() {
  if (shared_->channel->hasOutput()) {
    callbacks_.send(shared_->channel->takeOutput());
  }
}

TlsDetails TlsStream::details() const {
  return shared_->channel->details();
}

} // namespace upesi::tls
