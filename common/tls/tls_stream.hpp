// TlsStream: a TlsChannel driven on a libuv loop, for any byte transport. The costly handshake
// step (a server's answer to ClientHello: its signature; a client's check of the server's
// flight: chain and signature verification) runs on libuv's thread pool, so a burst of
// handshakes never stalls the loop. The other steps are cheap and run on the loop, since every
// trip through the pool costs two thread switches; so do records once established (AES-NI).
//
// The owner passes every byte read from its socket to received() and writes whatever `send`
// gives it. A callback may destroy the stream.
//
// Threading: the loop thread; the channel is touched by one pool thread at a time while a step
// is in flight, and by nobody else meanwhile.
#pragma once

#include "common/tls/tls_channel.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace upesi::tls {

class TlsStream {
public:
  struct Callbacks {
    std::function<void(std::string ciphertext)> send;          // bytes for the socket
    std::function<void()> established;                         // handshake done
    std::function<void(std::string_view plaintext)> plaintext; // decrypted application data
    std::function<void(const std::string& why)> failed;        // handshake/protocol error or close
  };

  TlsStream(uv_loop_t* loop, std::unique_ptr<TlsChannel> channel, Callbacks callbacks);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  /// Client side: sends the ClientHello. Server side: nothing to do until input arrives.
  void start();
  /// Ciphertext read from the socket.
  void received(std::string_view ciphertext);
  /// Encrypts and sends. False (and `failed` called) on error; only once established.
  bool send(std::string_view plaintext);
  /// Sends close_notify.
  void close();

  bool established() const { return established_; }
  TlsDetails details() const;

private:
  struct Shared;
  struct Step;
  void step();
  static void onStepWork(uv_work_t* req);
  static void onStepDone(uv_work_t* req, int status);
  void stepFinished(TlsChannel::Progress progress);
  void deliverPlaintext();
  void flushOutput();

  uv_loop_t* loop_;
  std::shared_ptr<Shared> shared_;
  Callbacks callbacks_;
  bool step_in_flight_ = false;
  unsigned steps_ = 0; // handshake steps taken so far
  bool established_ = false;
  bool failed_ = false;
  std::string held_input_; // arrived while a step was in flight, at most MaxHeldInput
  static constexpr std::size_t MaxHeldInput = 64 * 1024;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::tls
