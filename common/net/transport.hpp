// Transport: one TCP connection, with TLS as an optional layer under it, for every client and
// server of the project (the SMTP session and client today, HTTP, milter and Redis after them).
// It owns what each of them would otherwise write again: the socket handle, the uv_try_write
// fast path and write requests, close-after-flush, TLS (implicit or started mid-stream), and
// the bound on output a peer refuses to read.
//
// States: Open -> Closing -> Closed.
//   Open     reads are delivered (unless the owner paused them or output is full), writes go out.
//   Closing  close() or closeAfterFlush() was called: nothing more reaches the owner but
//            transportClosed(); with closeAfterFlush() the bytes already written still leave,
//            for at most Options::write_timeout, then the socket closes.
//   Closed   the socket's close callback ran and called transportClosed(), once.
//
// Rules the type keeps, so its owner need not:
// - Owner callbacks come from libuv callbacks, never from inside a call on the Transport: a write
//   error found inside write() is reported on a later loop turn.
// - The owner pointer is cleared before uv_close: a write completion or read that libuv still
//   delivers finds no owner. transportClosed() is the only callback after close(), and it runs
//   from the close callback, a later loop turn; the owner may delete itself (and the Transport)
//   there. Destroying an open Transport closes its socket silently.
// - Reading pauses while Options::max_output bytes or more wait to be sent (corked, held for
//   the handshake, or queued in the socket), and resumes when they drain; output that stays
//   above the bound for write_timeout means the peer is not reading: transportGone(Stalled).
// - Plaintext written during a TLS handshake is held and sent once it is done; closing before
//   then drops it.
//
// Threading: the loop thread.
#pragma once

#include "common/tls/tls_channel.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace upesi::tls {
class TlsStream;
}

namespace upesi::net {

/// Why the peer can no longer be talked to.
struct PeerGone {
  enum class Cause {
    Eof,     ///< the peer closed its side
    Error,   ///< a read or write error (detail: libuv's text)
    Tls,     ///< the TLS layer failed or was closed (detail: OpenSSL's text)
    Stalled, ///< output stayed above max_output for write_timeout
  };
  Cause cause;
  std::string detail;
};

/// What a Transport tells the object that owns it.
class TransportOwner {
public:
  /// Bytes from the peer, decrypted when TLS is on.
  virtual void transportReceived(std::string_view bytes) = 0;
  /// Reading has stopped for good; the owner decides how to close.
  virtual void transportGone(const PeerGone& gone) = 0;
  /// A write completed and output is below max_output (again).
  virtual void transportDrained() {}
  /// The TLS handshake is done.
  virtual void transportSecured() {}
  /// connect() finished: 0 or a libuv error.
  virtual void transportConnected(int /*status*/) {}
  /// The socket is closed; the last callback.
  virtual void transportClosed() {}

protected:
  ~TransportOwner() = default;
};

class Transport {
public:
  enum class State { Open, Closing, Closed };

  enum class Kind {
    Tcp,
    Pipe, ///< a unix socket (connectPipe); no TLS over it
  };

  struct Options {
    std::size_t max_output = 0; ///< bytes waiting to be sent before reading pauses; 0: no bound
    std::chrono::milliseconds write_timeout{0}; ///< 0: output may wait forever
  };

  /// An unconnected socket, for a client's connect() (TCP) or connectPipe() (unix socket).
  Transport(uv_loop_t* loop, TransportOwner& owner, Options options, Kind kind = Kind::Tcp);
  /// A socket accepted into newSocket()'s handle; the Transport owns it from now on.
  Transport(uv_loop_t* loop, uv_tcp_t* accepted, TransportOwner& owner, Options options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// A handle to accept into (uv_tcp_init done); give it to a Transport or to discardSocket().
  static uv_tcp_t* newSocket(uv_loop_t* loop);
  static void discardSocket(uv_tcp_t* tcp);

  /// The local address for connect(); 0 or a libuv error.
  int bind(const sockaddr* from);
  /// Connects; transportConnected() reports the outcome. A nonzero return is an error found at
  /// once (nothing will be reported).
  int connect(const sockaddr* to);

  /// Connects a Kind::Pipe transport to the unix socket at `path`; transportConnected()
  /// reports the outcome, errors included.
  int connectPipe(const std::string& path);

  /// Starts reading (on an accepted socket; a connected one starts by itself).
  void start();
  /// The owner's wish to read; reading also waits for output to drain.
  void setReading(bool wanted);
  bool reading() const { return reading_; }

  /// TLS over what follows: implicit TLS at once, STARTTLS after the 220. Input already read and
  /// not yet handed to the owner is the owner's to discard, except `ciphertext`: the peer's
  /// first TLS bytes, read with what came before them (a PROXY header).
  void startTls(std::unique_ptr<tls::TlsChannel> channel, std::string_view ciphertext = {});
  const tls::TlsStream* tls() const { return tls_.get(); }
  bool tlsEstablished() const;

  /// Queues bytes for the peer (through TLS when on). Ignored once Closing or gone.
  void write(std::string_view bytes);
  /// The same, taking the buffer: no copy when it goes to the socket as it is.
  void write(std::string&& bytes);
  void write(const char* bytes) { write(std::string_view(bytes)); }
  /// While corked, write() collects and nothing is sent until uncork() (or flush()).
  void cork() { corked_ = true; }
  void uncork();
  /// Sends what cork() collected, staying corked.
  void flush();

  /// Bytes written and not yet taken by the kernel.
  std::size_t backlog() const;
  bool outputFull() const;

  /// Sends what is written (and close_notify), then closes.
  void closeAfterFlush();
  /// Closes now. `parting` (a QUIT) is sent first if the socket takes it at once.
  void close(std::string_view parting = {});

  State state() const { return state_; }
  bool gone() const { return gone_; }
  /// The TCP handle (its addresses); null for a unix socket.
  const uv_tcp_t* tcp() const;

private:
  struct Socket;
  struct WriteRequest;
  static void onConnect(uv_connect_t* req, int status);
  static void onAlloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onClosed(uv_handle_t* handle);

  void readBytes(std::string_view bytes);
  void send(std::string bytes);
  void writeSocket(std::string bytes);
  void wrote(int status);
  void writeFailed(PeerGone gone);
  void updateReading();
  void watchStall();
  void fail(PeerGone gone);
  void closeSocket();
  void tlsFailed(const std::string& why);

  uv_loop_t* loop_;
  TransportOwner* owner_;
  Options options_;
  Socket* socket_;
  State state_ = State::Open;
  bool connecting_ = false;
  bool connected_ = false;
  bool started_ = false;
  bool wanted_ = true; // the owner's wish to read
  bool reading_ = false;
  bool gone_ = false;
  bool write_failed_ = false; // reading on for what the peer sent before it went
  bool corked_ = false;
  bool closing_now_ = false;    // close(): writes are tried once, never queued
  bool handle_closing_ = false; // uv_close was called
  int calls_ = 0;               // calls on the Transport in progress (CallScope)
  std::string corked_output_;
  std::string held_plaintext_; // written during the TLS handshake
  std::size_t writes_in_flight_ = 0;
  std::unique_ptr<tls::TlsStream> tls_;
  LoopTimer stall_timer_;  // output above max_output, the last bytes at closeAfterFlush(), or the
                           // read side's last chance after a write failed
  LoopTimer report_timer_; // reports a failure found inside a call on a later turn
};

} // namespace upesi::net
