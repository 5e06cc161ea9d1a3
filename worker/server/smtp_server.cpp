#include "worker/server/smtp_server.hpp"

#include "common/log/logger.hpp"
#include "common/metrics/labels.hpp"
#include "common/net/transport.hpp"
#include "worker/smtp/client_key.hpp"
#include "worker/smtp/endpoint_info.hpp"

#include <fmt/format.h>

#include <netinet/in.h>

namespace upesi::worker {

SmtpServer::SmtpServer(uv_loop_t* loop, smtp::SessionEnvironment environment)
    : loop_(loop), env_(std::move(environment)) {
  env_.on_closed = [this](smtp::Session* session) { sessionClosed(session); };
  env_.on_client_known = [this](smtp::Session* session, const std::string& ip) {
    return clientKnown(session, ip);
  };
  reaper_.open(loop_, uv_idle_init, this);
}

SmtpServer::~SmtpServer() {
  stopAccepting();
  // Sessions destroyed open never report closing: they leave the gauge here.
  env_.metrics.connectionClosed(static_cast<std::int64_t>(sessions_.size() - closed_.size()));
  sessions_.clear();
}

void SmtpServer::addListener(UvHandle<uv_tcp_t> tcp) {
  const Endpoint local = smtp::localEndpoint(tcp.get());
  std::string name = local.ip.find(':') == std::string::npos
                         ? fmt::format("{}:{}", local.ip, local.port)
                         : fmt::format("[{}]:{}", local.ip, local.port);
  listeners_.push_back({std::move(tcp), std::move(name), {}});
}

Result<std::monostate> SmtpServer::listen(const config::ListenAddress& address) {
  sockaddr_storage ss{};
  int rc =
      address.ipv6
          ? uv_ip6_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in6*>(&ss))
          : uv_ip4_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc != 0) {
    return Error{fmt::format("{}: {}", address.toString(), uv_strerror(rc))};
  }
  UvHandle<uv_tcp_t> tcp;
  rc = tcp.open(loop_, uv_tcp_init, this);
  if (rc == 0) {
    rc = uv_tcp_bind(tcp.get(), reinterpret_cast<const sockaddr*>(&ss), 0);
  }
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), 1024, onConnection);
  }
  if (rc != 0) {
    return Error{fmt::format("cannot listen on {}: {}", address.toString(), uv_strerror(rc))};
  }
  addListener(std::move(tcp));
  log::notice({}, "listening on {}", address.toString());
  return std::monostate{};
}

Result<std::monostate> SmtpServer::adopt(int fd) {
  UvHandle<uv_tcp_t> tcp;
  int rc = tcp.open(loop_, uv_tcp_init, this);
  if (rc == 0) {
    rc = uv_tcp_open(tcp.get(), fd);
  }
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), 1024, onConnection);
  }
  if (rc != 0) {
    return Error{fmt::format("cannot listen on inherited socket {}: {}", fd, uv_strerror(rc))};
  }
  addListener(std::move(tcp));
  return std::monostate{};
}

void SmtpServer::stopAccepting() {
  listeners_.clear(); // closed: no connection is accepted from here on
}

void SmtpServer::drain(std::chrono::seconds grace, std::function<void()> done) {
  stopAccepting();
  drain_grace_ = grace;
  bool called = false;
  auto once = std::make_shared<std::function<void()>>(std::move(done));
  on_idle_ = [once, called]() mutable {
    if (!called && *once) {
      called = true;
      (*once)();
    }
  };
  if (sessions_.empty()) {
    on_idle_();
    return;
  }
  if (!drain_timer_) {
    drain_timer_.open(loop_, uv_timer_init, this);
  }
  drain_stage_ = 0;
  uv_timer_start(
      drain_timer_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<SmtpServer*>(t->data);
        if (self == nullptr) {
          return;
        }
        if (self->drain_stage_++ == 0) {
          log::notice({}, "{} sessions still open: asking them to end", self->sessions_.size());
          self->shutdownSessions();
          uv_timer_start(t, t->timer_cb,
                         static_cast<std::uint64_t>(self->drain_grace_.count()) * 1000, 0);
          return;
        }
        log::warn({}, "{} sessions still open: closing them", self->sessions_.size());
        std::vector<smtp::Session*> all;
        for (auto& [ptr, session] : self->sessions_) {
          all.push_back(ptr);
        }
        for (auto* s : all) {
          s->disconnect();
        }
      },
      static_cast<std::uint64_t>(grace.count()) * 1000, 0);
}

void SmtpServer::shutdownSessions() {
  std::vector<smtp::Session*> all;
  for (auto& [ptr, session] : sessions_) {
    all.push_back(ptr);
  }
  for (auto* s : all) {
    s->shutdown();
  }
}

void SmtpServer::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<SmtpServer*>(server->data);
  if (self == nullptr) {
    return;
  }
  if (status < 0) {
    log::error({}, "accept: {}", uv_strerror(status));
    return;
  }
  self->accept(server);
}

void SmtpServer::accept(uv_stream_t* server) {
  uv_tcp_t* tcp = net::Transport::newSocket(loop_);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(tcp)) != 0) {
    net::Transport::discardSocket(tcp);
    return;
  }
  for (Listener& listener : listeners_) {
    if (reinterpret_cast<uv_stream_t*>(listener.tcp.get()) == server) {
      listener.connections
          .get([&listener](metrics::Metrics& m) {
            return m.counter(metrics::MetricId::SmtpConnections,
                             metrics::labelPair("listener", listener.name));
          })
          .add();
      break;
    }
  }
  uv_tcp_nodelay(tcp, 1);
  auto peer = smtp::peerEndpoint(tcp);
  const auto& limits = env_.limits;
  // A trusted proxy's connections are counted per IP under the client its header names.
  const auto peer_ip = util::IpAddress::parse(peer.ip);
  const bool proxied = peer_ip && env_.proxy_trust.trusts(*peer_ip);
  const std::string client = smtp::clientKey(peer.ip, limits.ipv6_client_prefix);
  const char* refusal = nullptr;
  if (sessions_.size() >= limits.max_connections) {
    refusal = "Too many connections, try again later";
  } else if (!proxied && per_ip_[client] >= limits.max_connections_per_ip) {
    refusal = "Too many connections from your address, try again later";
  }
  if (refusal != nullptr) {
    // Refused before any hook runs: one write, then close.
    log::warn({}, "refusing connection from {}: {}", peer.ip, refusal);
    std::string text = fmt::format("421 4.7.0 {} {}\r\n", env_.me, refusal);
    uv_buf_t buf = uv_buf_init(text.data(), static_cast<unsigned>(text.size()));
    (void)uv_try_write(reinterpret_cast<uv_stream_t*>(tcp), &buf, 1);
    if (auto it = per_ip_.find(client); it != per_ip_.end() && it->second == 0) {
      per_ip_.erase(it);
    }
    net::Transport::discardSocket(tcp);
    return;
  }
  auto session = std::make_unique<smtp::Session>(env_, tcp);
  auto* raw = session.get();
  env_.metrics.connectionOpened();
  if (!proxied) {
    ++per_ip_[client];
    session_ip_[raw] = client;
  }
  sessions_.emplace(raw, std::move(session));
  raw->start();
}

bool SmtpServer::clientKnown(smtp::Session* session, const std::string& ip) {
  const std::string client = smtp::clientKey(ip, env_.limits.ipv6_client_prefix);
  unsigned& count = per_ip_[client];
  if (count >= env_.limits.max_connections_per_ip) {
    if (count == 0) {
      per_ip_.erase(client);
    }
    return false;
  }
  ++count;
  session_ip_[session] = client;
  return true;
}

void SmtpServer::sessionClosed(smtp::Session* session) {
  // The slot is free now; the object is deleted in the next loop turn's idle phase, never from
  // inside the session's own call stack.
  auto ip = session_ip_.find(session);
  if (ip != session_ip_.end()) {
    if (--per_ip_[ip->second] == 0) {
      per_ip_.erase(ip->second);
    }
    session_ip_.erase(ip);
  }
  closed_.push_back(session);
  env_.metrics.connectionClosed();
  // An active idle handle also keeps the next poll from blocking: on_closed comes from a close
  // callback, the last phase of a loop turn, and the reaping must not wait for other events.
  uv_idle_start(reaper_.get(), onReap);
}

void SmtpServer::onReap(uv_idle_t* idle) {
  uv_idle_stop(idle);
  auto* self = static_cast<SmtpServer*>(idle->data);
  if (self == nullptr || self->closed_.empty()) {
    return;
  }
  auto closed = std::move(self->closed_);
  self->closed_.clear();
  for (auto* session : closed) {
    self->sessions_.erase(session);
  }
  if (self->sessions_.empty() && self->on_idle_) {
    self->on_idle_();
  }
}

} // namespace upesi::worker
