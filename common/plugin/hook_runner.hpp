// HookRunner: runs the chain of one hook for one connection (or queue item), plugin by plugin.
//
// Contract (Haraka's plugin semantics):
// - Plugins run in HookTable order. CONT goes on to the next plugin; any other code ends the
//   chain — except connect_init and disconnect, where every plugin runs and codes are ignored.
// - A DENY* from any hook but init_* and deny first runs the deny hook; if a deny plugin answers
//   OK, the rejection is overridden and the rest of the original chain runs.
// - Plugins listed in transaction.notes.skip_plugins are skipped.
// - `next` resolves exactly once: inline (the runner loops, it does not recurse) or later from
//   the loop. A second call is logged and ignored; a late call after a timeout or cancel() is a
//   no-op. A plugin that does not answer within its timeout counts as DENYSOFT "plugin timeout".
// - An exception thrown by a hook is logged at CRIT and counts as CONT.
// - cancel() (the client went away) drops the pending plugin; the done callback is not called.
//
// Threading: the loop thread. The runner must outlive nothing: it is shared-owned and the
// Next objects plugins hold refer to it weakly.
#pragma once

#include <upesi/connection.hpp>
#include <upesi/next.hpp>

#include "common/plugin/hook_result.hpp"
#include "common/plugin/hook_table.hpp"
#include "common/util/uv_handle.hpp"

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>

namespace upesi::plugin {

class HookRunner final : public Next::Target, public std::enable_shared_from_this<HookRunner> {
public:
  using Done = std::function<void(HookResult)>;

  /// Starts the chain of `hook`; `done` runs once with the outcome (possibly before run()
  /// returns). What `params` points into must stay valid until then: `arguments`, when given,
  /// owns it, and the runner keeps it as long as it lives. `loop` may be null where no loop runs
  /// (the master): then there are no timeouts, and only inline answers can arrive.
  static std::shared_ptr<HookRunner> run(uv_loop_t* loop, const HookTable& table, Hook hook,
                                         Connection& connection, const HookParams& params,
                                         std::string log_uuid, Done done,
                                         std::shared_ptr<const void> arguments = nullptr);

  HookRunner(uv_loop_t* loop, const HookTable& table, Hook hook, Connection& connection,
             const HookParams& params, std::string log_uuid, Done done,
             std::shared_ptr<const void> arguments);
  ~HookRunner() override;
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  /// Stops the chain: the pending plugin's answer will be ignored and `done` is not called.
  void cancel();

  void resolve(std::uint64_t ticket, Code code, std::vector<std::string> lines) override;
  bool isPending(std::uint64_t ticket) const override;

private:
  void advance();
  void callCurrent();
  void handleAnswer(Code code, std::vector<std::string> lines);
  void finish(HookResult result);
  void startTimer();
  void stopTimer();
  bool skipped(const plugin::HookRegistration& registration);
  static void onTimeout(uv_timer_t* timer);

  uv_loop_t* loop_;
  const HookTable& table_;
  Hook hook_;
  Connection& connection_;
  HookParams params_;
  std::shared_ptr<const void> arguments_; // what params_ points into, when the runner owns it
  std::string log_uuid_;
  Done done_;

  std::size_t index_ = 0;                           // the plugin whose answer is awaited
  std::chrono::steady_clock::time_point called_at_; // when it was called
  std::uint64_t ticket_ = 0;                        // ticket of that answer; 0: none awaited
  std::uint64_t next_ticket_ = 1;
  bool dispatching_ = false; // inside a plugin call: answers are queued, not processed
  bool have_inline_answer_ = false;
  Code inline_code_ = Code::Cont;
  std::vector<std::string> inline_lines_;
  bool finished_ = false;
  UvHandle<uv_timer_t> timer_;

  // The deny hook, run when a plugin of this chain denies.
  std::shared_ptr<HookRunner> deny_runner_;
  DenyInfo deny_info_;
};

} // namespace upesi::plugin
