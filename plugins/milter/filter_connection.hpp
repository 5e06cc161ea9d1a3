// FilterConnection: one connection to a milter filter on the worker's loop (a net::Transport),
// with the protocol's framing and deadlines. Nothing blocks: connect() and exchange() report
// through callbacks, always from a libuv callback (never from inside the call that started
// them).
//
//   connect()   TCP connect within the connect timeout
//   send()      a command that gets no reply (macros, SMFIP_NR_* steps, ABORT, QUIT)
//   exchange()  a command and its replies: each packet goes to the handler until it says the
//               exchange is over; PROGRESS restarts the timer and is not handed on
//   idle()      parked in the pool: any byte from the filter, its close, or the idle timeout
//               calls `lost` (the pool then drops it)
//
// Every failure (refused, timeout, EOF, a broken frame) is reported once, with a reason; the
// connection is then closed and unusable. Lifetime: shared; the object keeps itself alive until
// its socket's close callback, so its owner may let go of it at any time, even in a callback.
//
// Threading: the loop thread.
#pragma once

#include "common/milter/negotiation.hpp"
#include "common/milter/packet.hpp"
#include "common/net/transport.hpp"
#include "common/util/loop_timer.hpp"
#include "plugins/milter/filter_socket.hpp"

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace upesi::plugins::milter {

class FilterConnection final : public net::TransportOwner,
                               public std::enable_shared_from_this<FilterConnection> {
public:
  using Connected = std::function<void(const std::string& error)>; ///< empty error: connected
  /// A packet of the exchange; true once the exchange is over.
  using PacketHandler = std::function<bool(upesi::milter::Packet&& packet)>;
  using Failed = std::function<void(const std::string& error)>;

  static std::shared_ptr<FilterConnection> create(uv_loop_t* loop);
  ~FilterConnection();

  void connect(const FilterSocket& socket, std::chrono::milliseconds timeout, Connected done);
  void send(std::string bytes);
  void exchange(std::string bytes, std::chrono::milliseconds timeout, PacketHandler handler,
                Failed failed);
  void idle(std::chrono::milliseconds timeout, std::function<void()> lost);
  void endIdle();
  /// Sends `parting` (a QUIT) if the socket takes it at once, then closes; no callback follows.
  void close(std::string_view parting = {});

  /// Connected, not failed, not closing, no exchange running.
  bool ready() const;

  /// What negotiation agreed, kept with the connection for its reuse after QUIT_NC.
  upesi::milter::Negotiated negotiated;

private:
  explicit FilterConnection(uv_loop_t* loop);

  void transportReceived(std::string_view bytes) override;
  void transportGone(const net::PeerGone& gone) override;
  void transportConnected(int status) override;
  void transportClosed() override;

  void fail(const std::string& why);
  void failSoon(std::string why);

  uv_loop_t* loop_;
  std::unique_ptr<net::Transport> transport_;
  std::shared_ptr<FilterConnection> self_; // until the socket's close callback
  upesi::milter::PacketReader reader_;
  LoopTimer timer_;
  LoopTimer report_timer_;
  std::chrono::milliseconds exchange_timeout_{0};
  Connected connected_done_;
  PacketHandler handler_;
  Failed failed_;
  std::function<void()> lost_;
  std::uint64_t exchanges_ = 0; // tells a handler that started the next exchange
  bool connected_ = false;
  bool closing_ = false;
};

} // namespace upesi::plugins::milter
