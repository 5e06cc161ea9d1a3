// Encoders for every command the MTA sends a filter, each returning the packet's wire form.
// Strings go out NUL-terminated; a NUL inside one (which the protocol cannot carry) becomes a
// space, so nothing from a client can shift the fields the filter reads.
#pragma once

#include "common/milter/protocol.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::milter {

using Macros = std::vector<std::pair<std::string, std::string>>;

std::string encodeOptNeg(std::uint32_t version, std::uint32_t actions, std::uint32_t steps);
/// The macros for the command `for_command` (a command letter) that follows.
std::string encodeMacros(char for_command, const Macros& macros);
/// `family`: family::Inet, Inet6, Unix or Unknown; port and address are left out for Unknown.
std::string encodeConnect(std::string_view hostname, char family, std::uint16_t port,
                          std::string_view address);
std::string encodeHelo(std::string_view name);
/// MAIL and RCPT: the path ("<a@b>") first, then each ESMTP parameter ("SIZE=100").
std::string encodeMail(const std::vector<std::string>& args);
std::string encodeRcpt(const std::vector<std::string>& args);
std::string encodeData();
std::string encodeHeader(std::string_view name, std::string_view value);
std::string encodeEoh();
std::string encodeBody(std::string_view chunk);
std::string encodeBodyEob();
std::string encodeAbort();
std::string encodeQuit();
std::string encodeQuitNc();
std::string encodeUnknown(std::string_view command_line);

} // namespace upesi::milter
