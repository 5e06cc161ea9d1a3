#include "common/dns/resolver.hpp"

#include "common/dns/answer_ttl.hpp"
#include "common/dns/message_reader.hpp"
#include "common/dns/tlsa.hpp"
#include "common/metrics/labels.hpp"

#include <ares.h>
#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>

namespace upesi::dns {
namespace {

ares_channel asChannel(void* p) {
  return static_cast<ares_channel>(p);
}

DnsStatus statusOf(int ares_status) {
  switch (ares_status) {
  case ARES_SUCCESS:
    return DnsStatus::Ok;
  case ARES_ENODATA:
    return DnsStatus::NoData;
  case ARES_ENOTFOUND:
    return DnsStatus::NxDomain;
  case ARES_ESERVFAIL:
  case ARES_EREFUSED:
    return DnsStatus::ServFail;
  case ARES_ETIMEOUT:
    return DnsStatus::Timeout;
  default:
    return DnsStatus::Error;
  }
}

struct Pending {
  DnsType type;
  DnsCallback callback;
  metrics::Histogram duration;
  /// Set for a shared question: gets the answer and its TTL instead of `callback`.
  std::function<void(const DnsResult&, std::optional<std::uint32_t>)> shared;
  std::chrono::steady_clock::time_point sent = std::chrono::steady_clock::now();

  /// The time to the answer (or the timeout); a query cancelled with the resolver is not one.
  void observe(int status) const {
    if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
      duration.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
    }
  }
};

DnsResult failure(int status) {
  DnsResult r;
  r.status = statusOf(status);
  r.error = ares_strerror(status);
  return r;
}

} // namespace

int recordType(DnsType type) {
  switch (type) {
  case DnsType::A:
    return ns_t_a;
  case DnsType::Aaaa:
    return ns_t_aaaa;
  case DnsType::Mx:
    return ns_t_mx;
  case DnsType::Txt:
    return ns_t_txt;
  case DnsType::Ptr:
    return ns_t_ptr;
  case DnsType::Cname:
    return ns_t_cname;
  case DnsType::Ns:
    return ns_t_ns;
  }
  return ns_t_a;
}

// Turns a raw answer into records; malformed answers are errors, never crashes.
DnsResult parseAnswer(DnsType type, const unsigned char* abuf, int alen) {
  DnsResult result;
  int rc = ARES_SUCCESS;
  switch (type) {
  case DnsType::A:
  case DnsType::Aaaa: {
    constexpr int Max = 64;
    char text[INET6_ADDRSTRLEN];
    if (type == DnsType::A) {
      ares_addrttl addrs[Max];
      int n = Max;
      rc = ares_parse_a_reply(abuf, alen, nullptr, addrs, &n);
      for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
        ::inet_ntop(AF_INET, &addrs[i].ipaddr, text, sizeof text);
        result.records.push_back({text, 0, static_cast<std::uint32_t>(addrs[i].ttl)});
      }
    } else {
      ares_addr6ttl addrs[Max];
      int n = Max;
      rc = ares_parse_aaaa_reply(abuf, alen, nullptr, addrs, &n);
      for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
        ::inet_ntop(AF_INET6, &addrs[i].ip6addr, text, sizeof text);
        result.records.push_back({text, 0, static_cast<std::uint32_t>(addrs[i].ttl)});
      }
    }
    break;
  }
  case DnsType::Mx: {
    ares_mx_reply* mx = nullptr;
    rc = ares_parse_mx_reply(abuf, alen, &mx);
    for (auto* p = mx; rc == ARES_SUCCESS && p != nullptr; p = p->next) {
      result.records.push_back({p->host, p->priority, 0});
    }
    if (mx != nullptr) {
      ares_free_data(mx);
    }
    break;
  }
  case DnsType::Txt: {
    ares_txt_ext* txt = nullptr;
    rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
    for (auto* p = txt; rc == ARES_SUCCESS && p != nullptr; p = p->next) {
      std::string chunk(reinterpret_cast<const char*>(p->txt), p->length);
      if (p->record_start != 0U || result.records.empty()) {
        result.records.push_back({std::move(chunk), 0, 0});
      } else {
        result.records.back().value += chunk; // strings of one record are joined
      }
    }
    if (txt != nullptr) {
      ares_free_data(txt);
    }
    break;
  }
  case DnsType::Ptr:
  case DnsType::Cname:
  case DnsType::Ns: {
    hostent* host = nullptr;
    if (type == DnsType::Ns) {
      rc = ares_parse_ns_reply(abuf, alen, &host);
    } else if (type == DnsType::Ptr) {
      rc = ares_parse_ptr_reply(abuf, alen, nullptr, 0, AF_INET, &host);
    } else {
      rc = ares_parse_a_reply(abuf, alen, &host, nullptr, nullptr);
    }
    if (rc == ARES_SUCCESS && host != nullptr) {
      const bool aliased = host->h_aliases != nullptr && host->h_aliases[0] != nullptr;
      if (type == DnsType::Ns) {
        // (the first may be among them too).
        for (char** alias = host->h_aliases; alias != nullptr && *alias != nullptr; ++alias) {
          const std::string name(*alias);
          if (std::none_of(result.records.begin(), result.records.end(),
                           [&name](const DnsRecord& r) { return r.value == name; })) {
            result.records.push_back({name, 0, 0});
          }
        }
      } else if (type != DnsType::Cname || aliased) {
        // Without a CNAME in the answer c-ares names the host by the query itself: no alias.
        result.records.push_back({host->h_name, 0, 0});
      }
      if (type == DnsType::Ptr) {
        // An address may have several PTR records: c-ares lists them as aliases
        // (the first may be among them too).
        for (char** alias = host->h_aliases; alias != nullptr && *alias != nullptr; ++alias) {
          const std::string name(*alias);
          if (std::none_of(result.records.begin(), result.records.end(),
                           [&name](const DnsRecord& r) { return r.value == name; })) {
            result.records.push_back({name, 0, 0});
          }
        }
      }
    }
    if (host != nullptr) {
      ares_free_hostent(host);
    }
    break;
  }
  }
  if (rc != ARES_SUCCESS) {
    return failure(rc);
  }
  result.status = result.records.empty() ? DnsStatus::NoData : DnsStatus::Ok;
  return result;
}

Resolver::Resolver(uv_loop_t* loop, const AnswerCacheLimits& cache) : loop_(loop), cache_(cache) {}

Result<std::unique_ptr<Resolver>> Resolver::create(uv_loop_t* loop,
                                                   const ResolverOptions& options) {
  static std::once_flag init_once;
  std::call_once(init_once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  std::unique_ptr<Resolver> resolver(new Resolver(loop, options.cache));
  resolver->validating_ = options.validating;
  ares_options opts{};
  opts.sock_state_cb = onSocketState;
  opts.sock_state_cb_data = resolver.get();
  opts.timeout = options.timeout_ms;
  opts.tries = options.tries;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &opts,
                             ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) {
    return Error{fmt::format("DNS resolver: {}", ares_strerror(rc))};
  }
  resolver->channel_ = channel;
  if (!options.servers.empty()) {
    rc = ares_set_servers_ports_csv(channel, options.servers.c_str());
    if (rc != ARES_SUCCESS) {
      return Error{fmt::format("DNS servers \"{}\": {}", options.servers, ares_strerror(rc))};
    }
  }
  resolver->timer_.open(loop, uv_timer_init, resolver.get());
  uv_unref(resolver->timer_.base());
  resolver->ready_timer_.open(loop, uv_timer_init, resolver.get());
  uv_unref(resolver->ready_timer_.base());
  return resolver;
}

Resolver::~Resolver() {
  if (channel_ != nullptr) {
    ares_destroy(asChannel(channel_)); // runs pending callbacks with ARES_EDESTRUCTION
  }
  polls_.clear();
  auto ready = std::move(ready_);
  ready_.clear();
  for (auto& entry : ready) {
    entry.first(failure(ARES_EDESTRUCTION));
  }
}

void Resolver::query(const std::string& name, DnsType type, DnsCallback callback) {
  if (!cache_.enabled()) {
    ask(name, type, std::move(callback), {});
    return;
  }
  if (auto hit = cache_.find(type, name, uv_now(loop_))) {
    deliverLater(std::move(callback), std::move(*hit));
    return;
  }
  auto key = AnswerCache::keyOf(type, name);
  auto [waiting, first] = inflight_.try_emplace(key);
  waiting->second.push_back(std::move(callback));
  if (first) {
    ask(name, type, {}, std::move(key));
  }
}

void Resolver::ask(const std::string& name, DnsType type, DnsCallback callback,
                   std::string shared_key) {
  auto* pending = new Pending{type, std::move(callback), durationOf(type), {}};
  if (!shared_key.empty()) {
    pending->shared = [this, key = std::move(shared_key), name,
                       type](const DnsResult& result, std::optional<std::uint32_t> ttl) {
      answerWaiters(key, name, type, result, ttl);
    };
  }
  ares_query(
      asChannel(channel_), name.c_str(), ns_c_in, recordType(type),
      [](void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
        p->observe(status);
        DnsResult result =
            status == ARES_SUCCESS ? parseAnswer(p->type, abuf, alen) : failure(status);
        if (!p->shared) {
          p->callback(std::move(result));
          return;
        }
        // NXDOMAIN comes with the server's message too: its SOA says how long it holds.
        std::optional<std::uint32_t> ttl;
        if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA) {
          ttl = answerTtl(abuf, alen);
        }
        p->shared(result, ttl);
      },
      pending);
  rearmTimer();
}

void Resolver::answerWaiters(const std::string& key, const std::string& name, DnsType type,
                             const DnsResult& result, std::optional<std::uint32_t> ttl) {
  if (ttl) {
    cache_.store(type, name, result, *ttl, uv_now(loop_));
  }
  auto it = inflight_.find(key);
  if (it == inflight_.end()) {
    return;
  }
  // A waiter may ask again from its callback: the list leaves the map first.
  auto waiters = std::move(it->second);
  inflight_.erase(it);
  for (auto& waiter : waiters) {
    waiter(result);
  }
}

void Resolver::deliverLater(DnsCallback callback, DnsResult result) {
  ready_.emplace_back(std::move(callback), std::move(result));
  if (ready_.size() == 1) {
    uv_timer_start(ready_timer_.get(), onReady, 0, 0);
  }
}

void Resolver::onReady(uv_timer_t* timer) {
  auto* self = static_cast<Resolver*>(timer->data);
  if (self == nullptr) {
    return;
  }
  auto ready = std::move(self->ready_);
  self->ready_.clear();
  for (auto& [callback, result] : ready) {
    callback(std::move(result));
  }
}

void Resolver::reverse(const std::string& ip, DnsCallback callback) {
  unsigned char addr[16];
  int family = AF_INET;
  int len = 4;
  if (::inet_pton(AF_INET, ip.c_str(), addr) != 1) {
    family = AF_INET6;
    len = 16;
    if (::inet_pton(AF_INET6, ip.c_str(), addr) != 1) {
      callback(DnsResult{DnsStatus::Error, "not an IP address", {}});
      return;
    }
  }
  auto* pending = new Pending{DnsType::Ptr, std::move(callback), durationOf(DnsType::Ptr), {}};
  ares_gethostbyaddr(
      asChannel(channel_), addr, len, family,
      [](void* arg, int status, int /*timeouts*/, hostent* host) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
        p->observe(status);
        if (status != ARES_SUCCESS || host == nullptr || host->h_name == nullptr) {
          p->callback(failure(status == ARES_SUCCESS ? ARES_ENODATA : status));
          return;
        }
        DnsResult result;
        result.status = DnsStatus::Ok;
        result.records.push_back({host->h_name, 0, 0});
        p->callback(std::move(result));
      },
      pending);
  rearmTimer();
}

const metrics::Histogram& Resolver::durationOf(DnsType type) {
  return durations_[static_cast<std::size_t>(type)].get([type](metrics::Metrics& m) {
    return m.histogram(metrics::MetricId::DnsQueryDuration,
                       metrics::labelPair("type", toString(type)));
  });
}

void Resolver::onSocketState(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<Resolver*>(data);
  auto it = self->polls_.find(fd);
  if (readable == 0 && writable == 0) {
    if (it != self->polls_.end()) {
      self->polls_.erase(it); // closes the poll handle
    }
    return;
  }
  if (it == self->polls_.end()) {
    UvHandle<uv_poll_t> poll;
    if (poll.open(
            self->loop_,
            [fd](uv_loop_t* loop, uv_poll_t* p) { return uv_poll_init_socket(loop, p, fd); },
            self) != 0) {
      return; // c-ares times the query out
    }
    it = self->polls_.emplace(fd, std::move(poll)).first;
  }
  int events = (readable != 0 ? UV_READABLE : 0) | (writable != 0 ? UV_WRITABLE : 0);
  uv_poll_start(it->second.get(), events, onPoll);
}

void Resolver::onPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Resolver*>(handle->data);
  uv_os_fd_t fd = -1;
  if (self == nullptr || uv_fileno(reinterpret_cast<const uv_handle_t*>(handle), &fd) != 0) {
    return;
  }
  ares_socket_t read_fd = ARES_SOCKET_BAD;
  ares_socket_t write_fd = ARES_SOCKET_BAD;
  if (status < 0 || (events & UV_READABLE) != 0) {
    read_fd = fd;
  }
  if (status < 0 || (events & UV_WRITABLE) != 0) {
    write_fd = fd;
  }
  ares_process_fd(asChannel(self->channel_), read_fd, write_fd);
  self->rearmTimer();
}

void Resolver::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<Resolver*>(timer->data);
  if (self == nullptr) {
    return;
  }
  ares_process_fd(asChannel(self->channel_), ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  self->rearmTimer();
}

void Resolver::rearmTimer() {
  timeval tv{};
  timeval* next = ares_timeout(asChannel(channel_), nullptr, &tv);
  if (next == nullptr) {
    uv_timer_stop(timer_.get());
    return;
  }
  auto ms = static_cast<std::uint64_t>(next->tv_sec) * 1000 +
            static_cast<std::uint64_t>(next->tv_usec) / 1000 + 1;
  uv_timer_start(timer_.get(), onTimer, ms, 0);
}

} // namespace upesi::dns

namespace upesi::dns {

void Resolver::queryAuthenticated(const std::string& name, unsigned type, RawCallback callback) {
  auto query = authenticatedQuery(name, type);
  if (!query) {
    DnsResult refused;
    refused.status = DnsStatus::Error;
    refused.error = query.error();
    deliverLater(
        [callback = std::move(callback)](DnsResult result) {
          callback(RawAnswer{result.status, result.error, {}});
        },
        std::move(refused));
    return;
  }
  auto* pending = new RawCallback(std::move(callback));
  // c-ares sets the message ID itself.
  ares_send(
      asChannel(channel_), reinterpret_cast<const unsigned char*>(query->data()),
      static_cast<int>(query->size()),
      [](void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
        std::unique_ptr<RawCallback> done(static_cast<RawCallback*>(arg));
        RawAnswer answer;
        if (abuf != nullptr && alen >= DnsHeaderSize) {
          answer.status = DnsStatus::Ok;
          answer.message.assign(reinterpret_cast<const char*>(abuf),
                                static_cast<std::size_t>(alen));
        } else {
          answer.status = status == ARES_SUCCESS ? DnsStatus::Error : statusOf(status);
          answer.error = status == ARES_SUCCESS ? "empty answer" : ares_strerror(status);
        }
        (*done)(std::move(answer));
      },
      pending);
  rearmTimer();
}

} // namespace upesi::dns
