#include "common/plugin/hook_runner.hpp"

#include "common/log/logger.hpp"
#include "common/metrics/labels.hpp"

#include <fmt/format.h>

namespace upesi::plugin {
namespace {

bool runsEveryPlugin(Hook hook) {
  return hook == Hook::ConnectInit || hook == Hook::Disconnect;
}

// How long the plugin took to answer, into its entry's histogram.
void observeDuration(Hook hook, const HookRegistration& registration,
                     std::chrono::steady_clock::time_point called_at) {
  const metrics::Histogram& histogram = registration.duration.get([&](metrics::Metrics& metrics) {
    return metrics.histogram(metrics::MetricId::HookDuration,
                             metrics::labelPair("hook", toString(hook)) + ',' +
                                 metrics::labelPair("plugin", registration.plugin));
  });
  histogram.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - called_at).count());
}

bool mayBeOverridden(Hook hook) {
  return hook != Hook::InitMaster && hook != Hook::InitChild && hook != Hook::InitHttp &&
         hook != Hook::InitWss && hook != Hook::Deny;
}

} // namespace

std::shared_ptr<HookRunner> HookRunner::run(uv_loop_t* loop, const HookTable& table, Hook hook,
                                            Connection& connection, const HookParams& params,
                                            std::string log_uuid, Done done,
                                            std::shared_ptr<const void> arguments) {
  auto runner =
      std::make_shared<HookRunner>(loop, table, hook, connection, params, std::move(log_uuid),
                                   std::move(done), std::move(arguments));
  runner->advance();
  return runner;
}

HookRunner::HookRunner(uv_loop_t* loop, const HookTable& table, Hook hook, Connection& connection,
                       const HookParams& params, std::string log_uuid, Done done,
                       std::shared_ptr<const void> arguments)
    : loop_(loop), table_(table), hook_(hook), connection_(connection), params_(params),
      arguments_(std::move(arguments)), log_uuid_(std::move(log_uuid)), done_(std::move(done)) {}

HookRunner::~HookRunner() = default;

void HookRunner::cancel() {
  finished_ = true;
  ticket_ = 0;
  done_ = nullptr;
  stopTimer();
  if (deny_runner_) {
    deny_runner_->cancel();
    deny_runner_.reset();
  }
}

bool HookRunner::skipped(const plugin::HookRegistration& registration) {
  Transaction* txn = connection_.transaction();
  if (txn == nullptr) {
    return false;
  }
  const auto& notes = txn->notes();
  auto it = notes.find("skip_plugins");
  if (it == notes.end() || !it->is_array()) {
    return false;
  }
  for (const auto& name : *it) {
    if (name.is_string() && name.get_ref<const std::string&>() == registration.plugin) {
      return true;
    }
  }
  return false;
}

void HookRunner::advance() {
  auto self = shared_from_this(); // `done` may drop the last owner
  const auto& entries = table_.entries(hook_);
  while (!finished_ && !deny_runner_ && ticket_ == 0 && index_ < entries.size()) {
    const auto& registration = entries[index_];
    if (skipped(registration)) {
      ++index_;
      continue;
    }
    ticket_ = next_ticket_++;
    have_inline_answer_ = false;
    dispatching_ = true;
    connection_.setHook(hook_); // a deny hook run in between may have changed it
    called_at_ = std::chrono::steady_clock::now();
    try {
      registration.fn(Next(weak_from_this(), ticket_), connection_, params_);
    } catch (const std::exception& e) {
      log::crit({log_uuid_, registration.plugin}, "{} threw: {}", registration.method, e.what());
      if (!have_inline_answer_ && ticket_ != 0) {
        have_inline_answer_ = true;
        inline_code_ = Code::Cont;
        inline_lines_.clear();
      }
    } catch (...) {
      log::crit({log_uuid_, registration.plugin}, "{} threw a non-standard exception",
                registration.method);
      if (!have_inline_answer_ && ticket_ != 0) {
        have_inline_answer_ = true;
        inline_code_ = Code::Cont;
        inline_lines_.clear();
      }
    }
    dispatching_ = false;
    if (finished_) {
      return; // cancelled from inside the plugin
    }
    if (have_inline_answer_) {
      handleAnswer(inline_code_, std::move(inline_lines_));
      continue;
    }
    startTimer();
    return; // the answer comes later through resolve()
  }
  if (!finished_ && !deny_runner_ && ticket_ == 0 && index_ >= entries.size()) {
    finish(HookResult{});
  }
}

void HookRunner::resolve(std::uint64_t ticket, Code code, std::vector<std::string> lines) {
  if (finished_ || ticket != ticket_ || ticket == 0 || (dispatching_ && have_inline_answer_)) {
    const auto& entries = table_.entries(hook_);
    std::string plugin = index_ < entries.size() ? entries[index_].plugin : std::string("?");
    if (!finished_) {
      log::warn({log_uuid_, plugin},
                "next() called more than once, or too late, in {} ({}): "
                "ignored",
                toString(hook_), toString(code));
    }
    return;
  }
  if (dispatching_) {
    have_inline_answer_ = true;
    inline_code_ = code;
    inline_lines_ = std::move(lines);
    return;
  }
  auto self = shared_from_this();
  stopTimer();
  handleAnswer(code, std::move(lines));
  advance();
}

bool HookRunner::isPending(std::uint64_t ticket) const {
  return !finished_ && ticket != 0 && ticket == ticket_ && !(dispatching_ && have_inline_answer_);
}

void HookRunner::handleAnswer(Code code, std::vector<std::string> lines) {
  const auto& registration = table_.entries(hook_)[index_];
  ticket_ = 0;
  observeDuration(hook_, registration, called_at_);
  if (log::Logger::instance().enabled(log::Level::Debug)) {
    log::debug({log_uuid_, registration.plugin},
               "hook={} plugin={} function={} retval={} msg=\"{}\"", toString(hook_),
               registration.plugin, registration.method, toString(code),
               lines.empty() ? std::string() : lines.front());
  }
  if (runsEveryPlugin(hook_) || code == Code::Cont) {
    ++index_;
    return;
  }
  if (isDeny(code) && mayBeOverridden(hook_) && !table_.empty(Hook::Deny)) {
    deny_info_ = DenyInfo{code, lines, registration.plugin, registration.method, hook_, &params_};
    HookParams deny_params;
    deny_params.deny = &deny_info_;
    std::weak_ptr<HookRunner> weak = weak_from_this();
    HookResult denial{code, std::move(lines), registration.plugin};
    // The deny chain answers later or inline; either way its verdict lands here.
    deny_runner_ = std::make_shared<HookRunner>(
        loop_, table_, Hook::Deny, connection_, deny_params, log_uuid_,
        [weak, denial = std::move(denial)](HookResult verdict) mutable {
          auto self = weak.lock();
          if (!self || self->finished_) {
            return;
          }
          auto keep = std::move(self->deny_runner_);
          if (verdict.code == Code::Ok) {
            log::info({self->log_uuid_, verdict.plugin}, "deny hook overrode {} from {}",
                      toString(denial.code), denial.plugin);
            ++self->index_;
            self->advance();
          } else {
            self->finish(std::move(denial));
          }
        },
        nullptr); // deny_info_ lives in this runner, which outlives its deny runner
    deny_runner_->advance();
    return;
  }
  finish(HookResult{code, std::move(lines), registration.plugin});
}

void HookRunner::finish(HookResult result) {
  if (finished_) {
    return;
  }
  finished_ = true;
  stopTimer();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) {
    done(std::move(result));
  }
}

void HookRunner::startTimer() {
  const auto& registration = table_.entries(hook_)[index_];
  if (registration.timeout.count() <= 0 || loop_ == nullptr) {
    return; // no loop (the master's init_master): nothing could answer late anyway
  }
  if (!timer_) {
    timer_.open(loop_, uv_timer_init, this);
  }
  uv_timer_start(timer_.get(), onTimeout, static_cast<std::uint64_t>(registration.timeout.count()),
                 0);
}

void HookRunner::stopTimer() {
  if (timer_) {
    uv_timer_stop(timer_.get());
  }
}

void HookRunner::onTimeout(uv_timer_t* timer) {
  auto* raw = static_cast<HookRunner*>(timer->data);
  if (raw == nullptr || raw->finished_ || raw->ticket_ == 0) {
    return;
  }
  auto self = raw->shared_from_this();
  const auto& registration = self->table_.entries(self->hook_)[self->index_];
  log::crit({self->log_uuid_, registration.plugin}, "{} timed out after {} s in hook {}",
            registration.method, registration.timeout.count() / 1000, toString(self->hook_));
  self->handleAnswer(Code::DenySoft, {"plugin timeout"});
  self->advance();
}

} // namespace upesi::plugin
