#include "plugins/milter/filter_session.hpp"

#include "common/milter/negotiation.hpp"
#include "plugins/milter/header_fields.hpp"

#include <fmt/format.h>

namespace upesi::plugins::milter {

namespace cmd = upesi::milter::command;
namespace step = upesi::milter::step;
using upesi::milter::FilterReply;
using upesi::milter::MacroStage;
using upesi::milter::Packet;
using upesi::milter::ReplyKind;

namespace {

constexpr const char* TempfailText = "4.7.1 Service unavailable - try again later";
constexpr const char* RejectText = "5.7.1 Command rejected";

const char* commandName(char command) {
  switch (command) {
  case cmd::OptNeg:
    return "option negotiation";
  case cmd::Connect:
    return "connect";
  case cmd::Helo:
    return "helo";
  case cmd::Mail:
    return "mail";
  case cmd::Rcpt:
    return "rcpt";
  case cmd::Data:
    return "data";
  case cmd::Header:
    return "header";
  case cmd::Eoh:
    return "end of header";
  case cmd::Body:
    return "body";
  case cmd::BodyEob:
    return "end of message";
  default:
    return "command";
  }
}

// The negotiated action a modification needs.
std::uint32_t actionFor(ReplyKind kind) {
  namespace action = upesi::milter::action;
  switch (kind) {
  case ReplyKind::AddHeader:
    return action::AddHeaders;
  case ReplyKind::InsertHeader:
    return action::AddHeaders;
  case ReplyKind::ChangeHeader:
    return action::ChangeHeaders;
  case ReplyKind::AddRcpt:
    return action::AddRcpt;
  case ReplyKind::AddRcptPar:
    return action::AddRcptPar;
  case ReplyKind::DelRcpt:
    return action::DelRcpt;
  case ReplyKind::ChangeFrom:
    return action::ChangeFrom;
  case ReplyKind::ReplaceBody:
    return action::ChangeBody;
  case ReplyKind::Quarantine:
    return action::Quarantine;
  default:
    return 0;
  }
}

std::chrono::milliseconds ms(std::chrono::seconds s) {
  return s;
}

} // namespace

FilterSession::FilterSession(const FilterConfig& config, SessionServices services)
    : config_(config), services_(std::move(services)) {}

FilterSession::~FilterSession() {
  *alive_ = false;
  if (connection_) {
    connection_->close(upesi::milter::encodeQuit());
  }
}

bool FilterSession::leadingSpace() const {
  return connection_ && connection_->negotiated.leadingSpace();
}

void FilterSession::count(const std::string& outcome) const {
  if (services_.count) {
    services_.count(config_.name, outcome);
  }
}

std::vector<std::string> FilterSession::macroNames(MacroStage stage) const {
  const auto index = static_cast<std::size_t>(stage);
  if (connection_) {
    const auto& asked = connection_->negotiated.macros[index];
    if (asked) {
      return *asked;
    }
  }
  return config_.macros[index];
}

bool FilterSession::skipStage(Done& done) {
  switch (state_) {
  case State::Active:
    return false;
  case State::Failed:
    done(failed_verdict_);
    return true;
  default:
    done(Verdict{});
    return true;
  }
}

// ------------------------------------------------------------------------------------ connect

void FilterSession::connect(const ConnectInfo& info, MacroFn macros, Done done) {
  connect_info_ = info;
  if (state_ != State::Fresh) {
    done(Verdict{});
    return;
  }
  if (auto pooled = services_.pool->take(config_.name)) {
    connection_ = std::move(pooled);
    state_ = State::Active;
    // A pooled connection the filter dropped a moment ago fails at once: connect afresh then.
    retry_ = std::make_unique<Retry>(Retry{info, macros});
    sendConnect(info, macros, std::move(done));
    return;
  }
  negotiate(info, std::move(macros), std::move(done));
}

void FilterSession::negotiate(const ConnectInfo& info, MacroFn macros, Done done) {
  auto offered = upesi::milter::offerFor(config_.protocol);
  if (!offered) {
    done_ = std::move(done);
    fail(offered.error());
    return;
  }
  connection_ = FilterConnection::create(services_.loop);
  done_ = std::move(done);
  std::weak_ptr<bool> alive = alive_;
  connection_->connect(
      config_.socket, ms(config_.connect_timeout),
      [this, alive, info, macros = std::move(macros), offer = *offered](const std::string& error) {
        if (alive.expired()) {
          return;
        }
        if (!error.empty()) {
          fail(fmt::format("cannot connect to {}: {}", config_.socket.text, error));
          return;
        }
        connection_->exchange(
            upesi::milter::encodeOptNeg(offer.version, offer.actions, offer.steps),
            ms(config_.command_timeout),
            [this, alive, info, macros, offer](Packet&& packet) {
              if (alive.expired()) {
                return true;
              }
              auto reply = upesi::milter::decodeOptNegReply(packet);
              if (!reply) {
                fail("option negotiation: " + reply.error());
                return true;
              }
              auto negotiated = upesi::milter::negotiate(offer, *reply);
              if (!negotiated) {
                fail("option negotiation: " + negotiated.error());
                return true;
              }
              connection_->negotiated = std::move(*negotiated);
              state_ = State::Active;
              auto then = std::move(done_);
              done_ = nullptr;
              sendConnect(info, macros, std::move(then));
              return true;
            },
            [this, alive](const std::string& why) {
              if (!alive.expired()) {
                fail("option negotiation: " + why);
              }
            });
      });
}

void FilterSession::sendConnect(const ConnectInfo& info, const MacroFn& macros, Done done) {
  std::vector<Step> steps;
  addCommand(steps, MacroStage::Connect, cmd::Connect,
             upesi::milter::encodeConnect(info.hostname, info.family, info.port, info.address),
             step::NoConnect, step::NrConnect, macros);
  run(std::move(steps), std::move(done));
}

// ------------------------------------------------------------------------- envelope stages

void FilterSession::helo(const std::string& name, MacroFn macros, Done done) {
  helo_name_ = name;
  if (skipStage(done)) {
    return;
  }
  std::vector<Step> steps;
  addCommand(steps, MacroStage::Helo, cmd::Helo, upesi::milter::encodeHelo(name), step::NoHelo,
             step::NrHelo, macros);
  run(std::move(steps), std::move(done));
}

void FilterSession::mail(const std::vector<std::string>& args, MacroFn macros, Done done) {
  if (state_ == State::Failed && connect_info_) {
    // A new transaction tries a failed filter again: connect, HELO, then this MAIL.
    state_ = State::Fresh;
    std::weak_ptr<bool> alive = alive_;
    connect(*connect_info_, macros, [this, alive, args, macros, done](Verdict verdict) {
      if (alive.expired()) {
        return;
      }
      if (verdict.code != Code::Cont || state_ != State::Active || helo_name_.empty()) {
        if (verdict.code != Code::Cont || state_ != State::Active) {
          done(std::move(verdict));
        } else {
          mail(args, macros, done);
        }
        return;
      }
      helo(helo_name_, macros, [this, alive, args, macros, done](Verdict after_helo) {
        if (alive.expired()) {
          return;
        }
        if (after_helo.code != Code::Cont || state_ != State::Active) {
          done(std::move(after_helo));
          return;
        }
        mail(args, macros, done);
      });
    });
    return;
  }
  if (skipStage(done)) {
    return;
  }
  in_message_ = true;
  std::vector<Step> steps;
  addCommand(steps, MacroStage::Mail, cmd::Mail, upesi::milter::encodeMail(args), step::NoMail,
             step::NrMail, macros);
  run(std::move(steps), std::move(done));
}

void FilterSession::rcpt(const std::vector<std::string>& args, MacroFn macros, Done done) {
  if (skipStage(done)) {
    return;
  }
  std::vector<Step> steps;
  addCommand(steps, MacroStage::Rcpt, cmd::Rcpt, upesi::milter::encodeRcpt(args), step::NoRcpt,
             step::NrRcpt, macros);
  run(std::move(steps), std::move(done));
}

void FilterSession::data(MacroFn macros, Done done) {
  if (skipStage(done)) {
    return;
  }
  std::vector<Step> steps;
  addCommand(steps, MacroStage::Data, cmd::Data, upesi::milter::encodeData(), step::NoData,
             step::NrData, macros);
  run(std::move(steps), std::move(done));
}

void FilterSession::message(std::shared_ptr<const std::string> message, MacroFn macros,
                            ModificationSink sink, Done done) {
  if (skipStage(done)) {
    return;
  }
  const auto& negotiated = connection_->negotiated;
  message_ = std::move(message);
  const SplitMessage split = splitMessage(*message_);
  std::vector<Step> steps;
  if (negotiated.sends(step::NoHeaders)) {
    for (const auto& field : split.fields) {
      Step header;
      header.command = cmd::Header;
      header.bytes = upesi::milter::encodeHeader(
          field.name, headerValueForFilter(field.value, negotiated.leadingSpace()));
      header.reply = negotiated.replies(step::NrHeader);
      header.content = true;
      steps.push_back(std::move(header));
    }
  }
  addCommand(steps, MacroStage::Eoh, cmd::Eoh, upesi::milter::encodeEoh(), step::NoEoh, step::NrEoh,
             macros, true);
  if (negotiated.sends(step::NoBody)) {
    const std::size_t body_start = static_cast<std::size_t>(split.body.data() - message_->data());
    for (std::size_t offset = 0; offset < split.body.size();
         offset += upesi::milter::BodyChunkSize) {
      Step chunk;
      chunk.command = cmd::Body;
      chunk.offset = body_start + offset;
      chunk.length = std::min(upesi::milter::BodyChunkSize, split.body.size() - offset);
      chunk.reply = negotiated.replies(step::NrBody);
      chunk.content = true;
      steps.push_back(std::move(chunk));
    }
  }
  Step eom;
  eom.command = cmd::BodyEob;
  eom.bytes = upesi::milter::encodeMacros(cmd::BodyEob, macros(macroNames(MacroStage::Eom))) +
              upesi::milter::encodeBodyEob();
  eom.content = true;
  steps.push_back(std::move(eom));
  run(std::move(steps), std::move(done), std::move(sink));
}

void FilterSession::addCommand(std::vector<Step>& steps, MacroStage stage, char command,
                               std::string bytes, std::uint32_t no_step, std::uint32_t nr_step,
                               const MacroFn& macros, bool content) const {
  const auto& negotiated = connection_->negotiated;
  // A command outside the offered version is never sent, nor its macros; one the filter
  // declined still gets its macros, as Postfix sends them.
  const std::uint32_t outside_version = step::NoSendMask & ~negotiated.offer.steps;
  if ((no_step & outside_version) != 0) {
    return;
  }
  Step step;
  step.command = command;
  step.content = content;
  step.bytes = upesi::milter::encodeMacros(command, macros(macroNames(stage)));
  if (negotiated.sends(no_step)) {
    step.bytes += bytes;
    step.reply = negotiated.replies(nr_step);
  } else {
    step.reply = false;
  }
  steps.push_back(std::move(step));
}

// ------------------------------------------------------------------------------- the runner

void FilterSession::run(std::vector<Step> steps, Done done, ModificationSink sink) {
  if (!steps.empty()) {
    at_message_boundary_ = false;
  }
  steps_ = std::move(steps);
  step_ = 0;
  done_ = std::move(done);
  sink_ = std::move(sink);
  runFrom(0);
}

void FilterSession::runFrom(std::size_t index) {
  std::string unanswered; // commands that get no reply go out with the next one
  for (step_ = index; step_ < steps_.size(); ++step_) {
    Step& step = steps_[step_];
    std::string bytes = std::move(step.bytes);
    if (step.command == cmd::Body) {
      bytes =
          upesi::milter::encodeBody(std::string_view(*message_).substr(step.offset, step.length));
    }
    if (!step.reply) {
      unanswered += bytes;
      continue;
    }
    unanswered += bytes;
    std::weak_ptr<bool> alive = alive_;
    connection_->exchange(
        std::move(unanswered), ms(step.content ? config_.content_timeout : config_.command_timeout),
        [this, alive](Packet&& packet) {
          if (alive.expired()) {
            return true;
          }
          return onPacket(std::move(packet));
        },
        [this, alive](const std::string& why) {
          if (!alive.expired()) {
            fail(fmt::format("{}: {}", commandName(steps_[step_].command), why));
          }
        });
    return;
  }
  if (!unanswered.empty()) {
    connection_->send(std::move(unanswered));
  }
  finish(Verdict{});
}

bool FilterSession::onPacket(Packet&& packet) {
  const char command = steps_[step_].command;
  auto reply = upesi::milter::decodeReply(packet, command);
  if (!reply) {
    fail(fmt::format("{}: {}", commandName(command), reply.error()));
    return true;
  }
  if (reply->isModification()) {
    const std::uint32_t needed = actionFor(reply->kind);
    if (!connection_->negotiated.allows(needed)) {
      fail(fmt::format("{}: {} without having negotiated it", commandName(command),
                       upesi::milter::kindName(reply->kind)));
      return true;
    }
    count(upesi::milter::kindName(reply->kind));
    if (sink_) {
      sink_(*reply);
    }
    return false;
  }
  decided(*reply, command);
  return true;
}

void FilterSession::decided(const FilterReply& reply, char command) {
  count(upesi::milter::kindName(reply.kind));
  if (command == cmd::BodyEob) {
    // libmilter stays at the message's end only after CONTINUE; any other answer takes it back
    // to HELO, where it ignores QUIT_NC and then every command of the next connection.
    at_message_boundary_ = reply.kind == ReplyKind::Continue;
    in_message_ = false; // an ABORT now would be out of place
  }
  const bool connection_stage = command == cmd::Connect || command == cmd::Helo;
  switch (reply.kind) {
  case ReplyKind::Continue:
    runFrom(step_ + 1);
    return;
  case ReplyKind::Skip:
    if (command == cmd::Body) {
      while (step_ + 1 < steps_.size() && steps_[step_ + 1].command == cmd::Body) {
        ++step_;
      }
    }
    runFrom(step_ + 1);
    return;
  case ReplyKind::Accept:
    if (connection_stage) {
      state_ = State::Off;
      connection_->close(upesi::milter::encodeQuit());
      connection_.reset();
    } else {
      state_ = State::AcceptedMessage;
    }
    finish(Verdict{});
    return;
  case ReplyKind::Discard:
    state_ = State::AcceptedMessage;
    finish(Verdict{Code::Cont, {}, true});
    return;
  default:
    break;
  }
  Verdict verdict;
  switch (reply.kind) {
  case ReplyKind::Reject:
    verdict = {Code::Deny, {RejectText}};
    break;
  case ReplyKind::Tempfail:
    verdict = {Code::DenySoft, {TempfailText}};
    break;
  case ReplyKind::Shutdown:
    verdict = {Code::DenySoftDisconnect, {"4.7.0 Service unavailable - closing connection"}};
    break;
  case ReplyKind::ReplyCode: {
    verdict.code = reply.code == 421  ? Code::DenySoftDisconnect
                   : reply.code < 500 ? Code::DenySoft
                                      : Code::Deny;
    for (const auto& line : reply.lines) {
      verdict.lines.push_back(line.empty() ? reply.enhanced : reply.enhanced + " " + line);
    }
    break;
  }
  default:
    verdict = {Code::DenySoft, {TempfailText}};
    break;
  }
  if (command == cmd::Mail) {
    in_message_ = false; // refused: the filter's transaction never began, nothing to abort
  }
  if (command == cmd::Connect || reply.kind == ReplyKind::Shutdown ||
      verdict.code == Code::DenySoftDisconnect) {
    // Refused for good: nothing more goes to the filter on this connection.
    state_ = State::Rejected;
    connection_->close(upesi::milter::encodeQuit());
    connection_.reset();
  }
  finish(std::move(verdict));
}

void FilterSession::finish(Verdict verdict) {
  retry_.reset();
  auto done = std::move(done_);
  done_ = nullptr;
  sink_ = nullptr;
  steps_.clear();
  message_.reset();
  if (done) {
    done(std::move(verdict));
  }
}

void FilterSession::fail(const std::string& why) {
  if (auto retry = std::move(retry_)) {
    if (services_.log) {
      services_.log(
          LogLevel::Info,
          fmt::format("milter {}: pooled connection: {}; connecting afresh", config_.name, why));
    }
    if (connection_) {
      connection_->close();
      connection_.reset();
    }
    state_ = State::Fresh;
    auto done = std::move(done_);
    done_ = nullptr;
    negotiate(retry->info, std::move(retry->macros), std::move(done));
    return;
  }
  count("error");
  if (connection_) {
    connection_->close();
    connection_.reset();
  }
  Verdict verdict;
  switch (config_.default_action) {
  case DefaultAction::Accept:
    state_ = State::Off;
    break;
  case DefaultAction::Quarantine:
    state_ = State::Off;
    quarantine_ = fmt::format("milter {} unavailable", config_.name);
    break;
  case DefaultAction::Reject:
    state_ = State::Failed;
    verdict = {Code::Deny, {"5.7.1 Service unavailable"}};
    break;
  case DefaultAction::Tempfail:
    state_ = State::Failed;
    verdict = {Code::DenySoft, {TempfailText}};
    break;
  }
  failed_verdict_ = verdict;
  if (services_.log) {
    services_.log(LogLevel::Error, fmt::format("milter {}: {} (default_action {})", config_.name,
                                               why, actionName(config_.default_action)));
  }
  finish(std::move(verdict));
}

// --------------------------------------------------------------------------------- the ends

void FilterSession::abort() {
  if (state_ == State::AcceptedMessage) {
    state_ = State::Active;
  }
  if (state_ == State::Active && in_message_ && connection_) {
    connection_->send(upesi::milter::encodeAbort()); // fit for a next MAIL, not for QUIT_NC
  }
  in_message_ = false;
}

void FilterSession::end() {
  *alive_ = false;
  done_ = nullptr;
  sink_ = nullptr;
  if (!connection_) {
    return;
  }
  auto connection = std::move(connection_);
  connection_.reset();
  const bool reusable = (state_ == State::Active || state_ == State::AcceptedMessage) &&
                        at_message_boundary_ && !in_message_ && connection->ready();
  if (reusable) {
    connection->send(upesi::milter::encodeQuitNc());
    services_.pool->put(config_.name, std::move(connection));
  } else {
    connection->close(upesi::milter::encodeQuit());
  }
  state_ = State::Off;
}

} // namespace upesi::plugins::milter
