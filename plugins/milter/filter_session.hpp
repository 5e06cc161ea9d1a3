// FilterSession: one filter for one SMTP connection. It gets a connection (from the worker's
// pool, else a new one and option negotiation), sends each SMTP stage's command with the
// stage's macros, waits for the reply within the stage's timeout, and turns the reply into the
// verdict the plugin hands to `next`. A filter that is down, slow or out of step gets its
// default_action.
//
// States: Fresh -> Active -> (AcceptedMessage <-> Active) -> Done, or Failed/Off at any point.
//   Active           every stage goes to the filter
//   AcceptedMessage  the filter accepted (or discarded) this message: nothing until ABORT
//   Off              the filter accepted the connection, or failed with default_action accept
//                    or quarantine: nothing more for this SMTP connection
//   Failed           it failed with default_action reject/tempfail: every later stage of the
//                    transaction gets that; the next MAIL connects again
//   Rejected         it refused the connection: nothing more is sent
//
// Callbacks: `done` is called exactly once per stage, possibly inline (a stage the filter does
// not take), else from the loop. After end() nothing is called.
//
// Threading: the loop thread.
#pragma once

#include <upesi/code.hpp>
#include <upesi/log_level.hpp>

#include "common/milter/commands.hpp"
#include "common/milter/reply.hpp"
#include "plugins/milter/connection_pool.hpp"
#include "plugins/milter/milter_config.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace upesi::plugins::milter {

struct Verdict {
  Code code = Code::Cont;
  std::vector<std::string> lines;
  bool discard = false; ///< accept the message with 250 and drop it
};

/// What a session needs from the plugin.
struct SessionServices {
  uv_loop_t* loop = nullptr;
  ConnectionPool* pool = nullptr;
  std::function<void(LogLevel, const std::string&)> log;
  /// Counts one event: a reply kind ("continue", "reject"...) or "error".
  std::function<void(const std::string& filter, const std::string& outcome)> count;
};

struct ConnectInfo {
  std::string hostname; ///< rDNS name, else "[ip]"
  char family = upesi::milter::family::Unknown;
  std::uint16_t port = 0;
  std::string address;
};

class FilterSession {
public:
  using Done = std::function<void(Verdict)>;
  /// The macro values for names a stage sends.
  using MacroFn = std::function<upesi::milter::Macros(const std::vector<std::string>& names)>;
  /// A modification at the end of the message, already checked against the negotiation.
  using ModificationSink = std::function<void(const upesi::milter::FilterReply&)>;

  FilterSession(const FilterConfig& config, SessionServices services);
  ~FilterSession();
  FilterSession(const FilterSession&) = delete;
  FilterSession& operator=(const FilterSession&) = delete;

  void connect(const ConnectInfo& info, MacroFn macros, Done done);
  void helo(const std::string& name, MacroFn macros, Done done);
  void mail(const std::vector<std::string>& args, MacroFn macros, Done done);
  void rcpt(const std::vector<std::string>& args, MacroFn macros, Done done);
  void data(MacroFn macros, Done done);
  /// The message as stored (header, empty line, body; CRLF).
  void message(std::shared_ptr<const std::string> message, MacroFn macros, ModificationSink sink,
               Done done);
  /// RSET or the end of a transaction: ABORT when a message was begun.
  void abort();
  /// The SMTP connection ends: the filter connection goes back to the pool after QUIT_NC, or
  /// is closed with QUIT.
  void end();

  const std::string& name() const { return config_.name; }
  /// Whether the filter still takes this connection's stages.
  bool active() const { return state_ == State::Active; }
  /// A quarantine reason that default_action quarantine left (empty: none).
  const std::string& quarantineReason() const { return quarantine_; }
  /// Whether the filter negotiated SMFIP_HDR_LEADSPC (its header values keep their space).
  bool leadingSpace() const;

private:
  enum class State { Fresh, Active, AcceptedMessage, Off, Failed, Rejected };

  struct Step {
    char command = 0;
    std::string bytes;      ///< the packet (and the macros before it)
    std::size_t offset = 0; ///< Body: where its chunk starts in message_
    std::size_t length = 0; ///< Body: its size
    bool reply = true;      ///< the filter answers it
    bool content = false;   ///< content_timeout rather than command_timeout
  };

  void negotiate(const ConnectInfo& info, MacroFn macros, Done done);
  void sendConnect(const ConnectInfo& info, const MacroFn& macros, Done done);
  /// The steps of one stage: macros for `stage` (when the version defines the command) and the
  /// command itself unless the filter declined it.
  void addCommand(std::vector<Step>& steps, upesi::milter::MacroStage stage, char command,
                  std::string bytes, std::uint32_t no_step, std::uint32_t nr_step,
                  const MacroFn& macros, bool content = false) const;
  void run(std::vector<Step> steps, Done done, ModificationSink sink = {});
  void runFrom(std::size_t index);
  bool onPacket(upesi::milter::Packet&& packet);
  void decided(const upesi::milter::FilterReply& reply, char command);
  void finish(Verdict verdict);
  void fail(const std::string& why);
  std::vector<std::string> macroNames(upesi::milter::MacroStage stage) const;
  /// A stage the filter no longer takes: the verdict it gets (Cont, or the failure's).
  bool skipStage(Done& done);
  void count(const std::string& outcome) const;

  struct Retry {
    ConnectInfo info;
    MacroFn macros;
  };

  const FilterConfig& config_;
  SessionServices services_;
  State state_ = State::Fresh;
  std::shared_ptr<FilterConnection> connection_;
  bool in_message_ = false;
  // libmilter takes QUIT_NC only at a message's end answered with CONTINUE: elsewhere (after an
  // ACCEPT, a refusal or an ABORT) it ignores it and every later command, so the connection
  // goes back to the pool only then. Postfix never reuses a filter connection at all.
  bool at_message_boundary_ = false;
  Verdict failed_verdict_;
  std::string quarantine_;

  // The stage running.
  std::vector<Step> steps_;
  std::size_t step_ = 0;
  Done done_;
  ModificationSink sink_;
  std::shared_ptr<const std::string> message_;
  std::optional<ConnectInfo> connect_info_; // for a new try at the next transaction
  std::string helo_name_;
  std::unique_ptr<Retry> retry_; // the connect stage on a pooled connection
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::plugins::milter
