// Next: the continuation handed to every hook (Haraka's `next`).
//
// Call it exactly once, now or later, from the loop thread: next(Code::Ok), next(Code::Deny,
// "no such user"), next(Code::DenySoft, {"line one", "line two"}). A second call is logged and
// ignored. A call after the client disconnected or after the hook timed out does nothing.
//
// A refusal's text may choose its reply code, as Haraka's DSN objects do: a first line starting
// with a code of the refusal's class and an enhanced code ("451 4.7.1 Greylisted") gives both;
// otherwise the hook's own codes stand (450 4.7.1 for a DENYSOFT at RCPT, and so on).
// Next is cheap to copy, so it can be captured by callbacks; every copy refers to the same
// pending answer.
#pragma once

#include <upesi/code.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace upesi {

class Next {
public:
  /// Implemented by the hook runner.
  class Target {
  public:
    virtual ~Target() = default;
    virtual void resolve(std::uint64_t ticket, Code code, std::vector<std::string> lines) = 0;
    virtual bool isPending(std::uint64_t ticket) const = 0;
  };

  Next(std::weak_ptr<Target> target, std::uint64_t ticket)
      : target_(std::move(target)), ticket_(ticket) {}

  void operator()(Code code = Code::Cont) const { resolve(code, {}); }
  void operator()(Code code, std::string message) const {
    std::vector<std::string> lines;
    if (!message.empty()) {
      lines.push_back(std::move(message));
    }
    resolve(code, std::move(lines));
  }
  void operator()(Code code, const char* message) const { (*this)(code, std::string(message)); }
  void operator()(Code code, std::vector<std::string> lines) const {
    resolve(code, std::move(lines));
  }

  /// False once answered, timed out, or the client went away: stop expensive work then.
  bool pending() const {
    auto target = target_.lock();
    return target && target->isPending(ticket_);
  }

private:
  void resolve(Code code, std::vector<std::string> lines) const {
    if (auto target = target_.lock()) {
      target->resolve(ticket_, code, std::move(lines));
    }
  }

  std::weak_ptr<Target> target_;
  std::uint64_t ticket_;
};

} // namespace upesi
