#include "common/milter/commands.hpp"

#include "common/milter/packet.hpp"

namespace upesi::milter {
namespace {

void appendString(std::string& out, std::string_view text) {
  for (const char c : text) {
    out += c == '\0' ? ' ' : c;
  }
  out += '\0';
}

std::string encodeArgs(char command, const std::vector<std::string>& args) {
  std::string data;
  for (const auto& arg : args) {
    appendString(data, arg);
  }
  return framePacket(command, data);
}

std::string encodeOneString(char command, std::string_view text) {
  std::string data;
  appendString(data, text);
  return framePacket(command, data);
}

} // namespace

std::string encodeOptNeg(std::uint32_t version, std::uint32_t actions, std::uint32_t steps) {
  std::string data;
  appendUint32(data, version);
  appendUint32(data, actions);
  appendUint32(data, steps);
  return framePacket(command::OptNeg, data);
}

std::string encodeMacros(char for_command, const Macros& macros) {
  std::string data(1, for_command);
  for (const auto& [name, value] : macros) {
    appendString(data, name);
    appendString(data, value);
  }
  return framePacket(command::Macro, data);
}

std::string encodeConnect(std::string_view hostname, char family, std::uint16_t port,
                          std::string_view address) {
  std::string data;
  appendString(data, hostname);
  data += family;
  if (family != family::Unknown) {
    appendUint16(data, port);
    appendString(data, address);
  }
  return framePacket(command::Connect, data);
}

std::string encodeHelo(std::string_view name) {
  return encodeOneString(command::Helo, name);
}

std::string encodeMail(const std::vector<std::string>& args) {
  return encodeArgs(command::Mail, args);
}

std::string encodeRcpt(const std::vector<std::string>& args) {
  return encodeArgs(command::Rcpt, args);
}

std::string encodeData() {
  return framePacket(command::Data);
}

std::string encodeHeader(std::string_view name, std::string_view value) {
  std::string data;
  appendString(data, name);
  appendString(data, value);
  return framePacket(command::Header, data);
}

std::string encodeEoh() {
  return framePacket(command::Eoh);
}

std::string encodeBody(std::string_view chunk) {
  return framePacket(command::Body, chunk);
}

std::string encodeBodyEob() {
  return framePacket(command::BodyEob);
}

std::string encodeAbort() {
  return framePacket(command::Abort);
}

std::string encodeQuit() {
  return framePacket(command::Quit);
}

std::string encodeQuitNc() {
  return framePacket(command::QuitNc);
}

std::string encodeUnknown(std::string_view command_line) {
  return encodeOneString(command::Unknown, command_line);
}

} // namespace upesi::milter
