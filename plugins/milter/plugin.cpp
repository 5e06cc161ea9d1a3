// milter: the Sendmail milter protocol (version 2..6, as Postfix's milter8 client speaks it) to
// the filters milter.ini lists, in order, at every SMTP stage; their verdicts become the hooks'
// answers and their end-of-message changes are made to the message before it is queued.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/metrics/cached_handle.hpp"
#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "common/smtp/envelope_params.hpp"
#include "plugins/milter/connection_pool.hpp"
#include "plugins/milter/filter_session.hpp"
#include "plugins/milter/macro_values.hpp"
#include "plugins/milter/milter_config.hpp"
#include "plugins/milter/modifications.hpp"

#include <fmt/format.h>
#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace upesi::plugins::milter {

namespace {

constexpr std::size_t MaxIdlePerFilter = 16;
constexpr std::chrono::seconds PoolIdleTimeout{60};

using Filters = std::vector<FilterConfig>;

// The filters of one SMTP connection, and what their verdicts left for the message.
struct ConnectionState {
  std::shared_ptr<const Filters> filters; // the config they started with, kept across reloads
  std::vector<std::unique_ptr<FilterSession>> sessions;
  bool connected = false; // the connect stage ran
  bool discard = false;   // a filter discarded the message
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  ~ConnectionState() {
    *alive = false;
    for (auto& session : sessions) {
      session->end();
    }
  }
};

using Stage = std::function<void(FilterSession& session, FilterSession::Done done)>;

std::vector<std::string> envelopeArgs(const Address& address, const EsmtpParams* params) {
  std::vector<std::string> args{address.format()};
  if (params != nullptr) {
    for (const auto& [key, value] : *params) {
      args.push_back(value.empty() ? key : key + "=" + value);
    }
  }
  return args;
}

} // namespace

class Milter final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("milter.ini", [this] { load(); });
    auto hook = [this, &registrar](Hook which, int priority, const char* method, auto fn) {
      registrar.registerHook(
          which,
          [this, fn](Next next, Connection& c, const HookParams& p) { (this->*fn)(next, c, p); },
          priority, method);
    };
    // Late: the filters see what the other plugins let through, as Postfix's milters see
    // what smtpd's restrictions accepted.
    hook(Hook::Connect, 50, "milter_connect", &Milter::onConnect);
    hook(Hook::Helo, 50, "milter_helo", &Milter::onHelo);
    hook(Hook::Ehlo, 50, "milter_ehlo", &Milter::onHelo);
    hook(Hook::Mail, 90, "milter_mail", &Milter::onMail);
    // rcpt_ok: a plugin's OK ends the rcpt chain, so a late rcpt hook would miss accepted
    // recipients; rcpt_ok sees each one, and may still refuse it.
    hook(Hook::RcptOk, 50, "milter_rcpt", &Milter::onRcpt);
    hook(Hook::Data, 50, "milter_data", &Milter::onData);
    hook(Hook::DataPost, 50, "milter_message", &Milter::onMessage);
    // First, so a discarded message is answered 250 before any queue plugin stores it.
    hook(Hook::Queue, -100, "milter_discard", &Milter::onQueue);
    hook(Hook::QueueOutbound, -100, "milter_discard", &Milter::onQueue);
    hook(Hook::ResetTransaction, 0, "milter_abort", &Milter::onReset);
    hook(Hook::Disconnect, 0, "milter_quit", &Milter::onDisconnect);
  }

  void shutdown() override {
    states_.clear();
    if (pool_) {
      pool_->clear();
    }
  }

  std::vector<ConfigFileSpec> configFiles() const override { return {{"milter.ini", "ini", {}}}; }

private:
  void load() {
    auto reading = readMilterConfig(host_->config("milter.ini", "ini"));
    for (const auto& problem : reading.problems) {
      host_->log(LogLevel::Error, problem);
    }
    filters_ = std::make_shared<const Filters>(std::move(reading.filters));
    if (pool_) {
      pool_->clear(); // connections negotiated under the old settings
    }
  }

  ConnectionPool& pool() {
    if (!pool_) {
      pool_ = std::make_unique<ConnectionPool>(MaxIdlePerFilter, PoolIdleTimeout);
    }
    return *pool_;
  }

  SessionServices services(Connection& connection) {
    // Sessions end at the disconnect hook, while the connection still exists.
    Connection* logged = &connection;
    return SessionServices{
        static_cast<uv_loop_t*>(host_->uvLoop()), &pool(),
        [this, logged](LogLevel level, const std::string& text) {
          host_->log(level, text, logged);
        },
        [this](const std::string& filter, const std::string& outcome) { count(filter, outcome); }};
  }

  void count(const std::string& filter, const std::string& outcome) {
    auto& handle = counters_[filter + '\n' + outcome];
    handle
        .get([&](metrics::Metrics& m) {
          return m.counter(metrics::MetricId::MilterEvents,
                           metrics::labelPair("milter", filter) + ',' +
                               metrics::labelPair("outcome", outcome));
        })
        .add();
  }

  ConnectionState* state(const Connection& connection) {
    auto found = states_.find(connection.uuid());
    return found == states_.end() ? nullptr : found->second.get();
  }

  FilterSession::MacroFn macros(Connection& connection, const Address* recipient = nullptr) {
    return [this, &connection, recipient](const std::vector<std::string>& names) {
      return macroValues(
          names, MacroContext{host_->me(), connection, connection.transaction(), recipient});
    };
  }

  using Finish = std::function<void(Verdict)>;

  static Finish answer(Next next) {
    return [next](Verdict verdict) {
      if (verdict.code == Code::Cont) {
        next();
      } else {
        next(verdict.code, std::move(verdict.lines));
      }
    };
  }

  /// Runs `stage` on each filter in turn; the first refusal ends it.
  void chain(ConnectionState& st, std::size_t index, Stage stage, Finish finish) {
    if (index >= st.sessions.size()) {
      finish(Verdict{});
      return;
    }
    std::weak_ptr<bool> alive = st.alive;
    ConnectionState* state = &st;
    stage(*st.sessions[index], [this, alive, state, index, stage, finish](Verdict verdict) {
      if (alive.expired()) {
        return;
      }
      if (verdict.discard) {
        state->discard = true;
      }
      if (verdict.code != Code::Cont) {
        finish(std::move(verdict));
        return;
      }
      chain(*state, index + 1, stage, finish);
    });
  }

  /// The connection's filters, after their connect stage (run now if the connect hook did not
  /// run, say because a plugin before this one answered OK); then `then`. A refusal at the
  /// connect stage answers the hook that ran it.
  void withFilters(Next next, Connection& connection, std::function<void(ConnectionState&)> then) {
    if (auto* st = state(connection); st != nullptr && st->connected) {
      then(*st);
      return;
    }
    if (filters_->empty()) {
      next();
      return;
    }
    auto& st = states_[connection.uuid()];
    if (!st) {
      st = std::make_unique<ConnectionState>();
      st->filters = filters_;
      for (const auto& filter : *st->filters) {
        st->sessions.push_back(std::make_unique<FilterSession>(filter, services(connection)));
      }
    }
    st->connected = true;
    ConnectInfo info;
    const Endpoint& remote = connection.remote();
    info.address = remote.ip;
    info.port = remote.port;
    info.hostname = !remote.host.empty() ? remote.host : "[" + remote.ip + "]";
    info.family = remote.ip.empty()                          ? upesi::milter::family::Unknown
                  : remote.ip.find(':') != std::string::npos ? upesi::milter::family::Inet6
                                                             : upesi::milter::family::Inet;
    ConnectionState* state = st.get();
    std::weak_ptr<bool> alive = st->alive;
    auto stage = [this, info, &connection](FilterSession& session, FilterSession::Done done) {
      session.connect(info, macros(connection), std::move(done));
    };
    chain(*state, 0, stage, [alive, state, then, next](Verdict verdict) {
      if (alive.expired()) {
        return;
      }
      if (verdict.code != Code::Cont) {
        next(verdict.code, std::move(verdict.lines));
        return;
      }
      then(*state);
    });
  }

  // ---------------------------------------------------------------------------------- hooks

  void onConnect(Next next, Connection& connection, const HookParams&) {
    withFilters(next, connection, [next](ConnectionState&) { next(); });
  }

  void onHelo(Next next, Connection& connection, const HookParams& params) {
    const std::string name(params.host);
    withFilters(next, connection, [this, next, name, &connection](ConnectionState& st) {
      chain(
          st, 0,
          [this, name, &connection](FilterSession& session, FilterSession::Done done) {
            session.helo(name, macros(connection), std::move(done));
          },
          answer(next));
    });
  }

  void onMail(Next next, Connection& connection, const HookParams& params) {
    if (params.address == nullptr) {
      next();
      return;
    }
    auto args = envelopeArgs(*params.address, params.esmtp);
    withFilters(next, connection, [this, next, args, &connection](ConnectionState& st) {
      st.discard = false;
      chain(
          st, 0,
          [this, args, &connection](FilterSession& session, FilterSession::Done done) {
            session.mail(args, macros(connection), std::move(done));
          },
          answer(next));
    });
  }

  void onRcpt(Next next, Connection& connection, const HookParams& params) {
    if (params.address == nullptr) {
      next();
      return;
    }
    auto recipient = std::make_shared<Address>(*params.address);
    auto args = envelopeArgs(*recipient, params.esmtp);
    if (params.esmtp == nullptr && connection.transaction() != nullptr) {
      // rcpt_ok has no parameters of its own: the DSN ones the core parsed stand for them.
      const RcptOptions options = connection.transaction()->rcptOptions(*recipient);
      if (options.notify.given) {
        args.push_back("NOTIFY=" + smtp::formatDsnNotify(options.notify));
      }
      if (!options.orcpt_type.empty()) {
        args.push_back("ORCPT=" + options.orcpt_type + ";" +
                       smtp::encodeXtext(options.orcpt_address));
      }
    }
    withFilters(next, connection, [this, next, args, recipient, &connection](ConnectionState& st) {
      chain(
          st, 0,
          [this, args, recipient, &connection](FilterSession& session, FilterSession::Done done) {
            session.rcpt(args, macros(connection, recipient.get()), std::move(done));
          },
          answer(next));
    });
  }

  void onData(Next next, Connection& connection, const HookParams&) {
    withFilters(next, connection, [this, next, &connection](ConnectionState& st) {
      chain(
          st, 0,
          [this, &connection](FilterSession& session, FilterSession::Done done) {
            session.data(macros(connection), std::move(done));
          },
          answer(next));
    });
  }

  void onMessage(Next next, Connection& connection, const HookParams&) {
    if (connection.transaction() == nullptr) {
      next();
      return;
    }
    withFilters(next, connection, [this, next, &connection](ConnectionState& st) {
      messageToFilter(st, 0, connection, next);
    });
  }

  /// Filter `index` gets the message as the filters before it left it: read afresh (off the
  /// loop: it may be spooled to a file) for each filter that still takes it.
  void messageToFilter(ConnectionState& st, std::size_t index, Connection& connection, Next next) {
    if (index >= st.sessions.size()) {
      finishMessage(st, connection);
      next();
      return;
    }
    std::weak_ptr<bool> alive = st.alive;
    ConnectionState* state = &st;
    FilterSession& session = *st.sessions[index];
    auto txn = connection.sharedTransaction();
    auto applier = std::make_shared<ModificationApplier>(
        *txn, false,
        [this, &connection, name = session.name()](LogLevel level, const std::string& text) {
          host_->log(level, fmt::format("milter {}: {}", name, text), &connection);
        });
    auto after = [this, alive, state, index, txn, applier, next, &connection](Verdict verdict) {
      if (alive.expired()) {
        return;
      }
      applier->finish(verdict.code == Code::Cont && !verdict.discard);
      if (verdict.discard) {
        state->discard = true;
      }
      if (verdict.code != Code::Cont) {
        next(verdict.code, std::move(verdict.lines));
        return;
      }
      messageToFilter(*state, index + 1, connection, next);
    };
    if (!session.active()) {
      session.message(nullptr, macros(connection), {}, after); // its standing verdict
      return;
    }
    auto message = std::make_shared<std::string>();
    auto read_ok = std::make_shared<bool>(false);
    host_->runInThreadPool(
        [txn, message, read_ok] {
          *read_ok = txn->writeMessage([&message](std::string_view chunk) {
            message->append(chunk);
            return true;
          });
        },
        [this, alive, state, index, message, read_ok, applier, after, next, &connection] {
          if (alive.expired() || !next.pending()) {
            return;
          }
          if (!*read_ok) {
            host_->log(LogLevel::Error, "milter: cannot read the message", &connection);
            next(Code::DenySoft, "4.3.0 Message could not be read, try again later");
            return;
          }
          FilterSession& filter = *state->sessions[index];
          applier->setLeadingSpace(filter.leadingSpace());
          filter.message(
              message, macros(connection),
              [applier](const upesi::milter::FilterReply& change) { applier->apply(change); },
              after);
        });
  }

  /// Quarantine left by a filter that failed with default_action quarantine.
  void finishMessage(ConnectionState& st, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return;
    }
    for (const auto& session : st.sessions) {
      if (!session->quarantineReason().empty() && !txn->notes().contains("quarantine")) {
        txn->notes()["quarantine"] = session->quarantineReason();
      }
    }
  }

  void onQueue(Next next, Connection& connection, const HookParams&) {
    auto* st = state(connection);
    if (st == nullptr || !st->discard) {
      next();
      return;
    }
    host_->log(LogLevel::Info, "milter: message discarded by a filter", &connection);
    next(Code::Ok, "Message discarded");
  }

  void onReset(Next next, Connection& connection, const HookParams&) {
    if (auto* st = state(connection)) {
      st->discard = false;
      for (auto& session : st->sessions) {
        session->abort();
      }
    }
    next();
  }

  void onDisconnect(Next next, Connection& connection, const HookParams&) {
    states_.erase(connection.uuid()); // each session says QUIT_NC (pooled) or QUIT
    next();
  }

  Host* host_ = nullptr;
  std::shared_ptr<const Filters> filters_ = std::make_shared<const Filters>();
  std::unique_ptr<ConnectionPool> pool_;
  std::unordered_map<std::string, std::unique_ptr<ConnectionState>> states_;
  std::map<std::string, metrics::CachedHandle<metrics::Counter>> counters_;
};

} // namespace upesi::plugins::milter

std::unique_ptr<upesi::Plugin> upesi_builtin_milter() {
  return std::make_unique<upesi::plugins::milter::Milter>();
}
