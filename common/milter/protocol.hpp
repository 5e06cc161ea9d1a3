// The milter protocol's numbers (Sendmail 8.14 libmilter, as Postfix's milter8 client speaks
// it): command and reply letters, the action and protocol-step bits of option negotiation, and
// the macro stages. Every packet is a 4-byte big-endian length, then that many bytes: a command
// letter and its data.
#pragma once

#include <cstddef>
#include <cstdint>

namespace upesi::milter {

// MTA to filter.
namespace command {
inline constexpr char Abort = 'A';
inline constexpr char Body = 'B';
inline constexpr char Connect = 'C';
inline constexpr char Macro = 'D';
inline constexpr char BodyEob = 'E';
inline constexpr char Helo = 'H';
inline constexpr char QuitNc = 'K';
inline constexpr char Header = 'L';
inline constexpr char Mail = 'M';
inline constexpr char Eoh = 'N';
inline constexpr char OptNeg = 'O';
inline constexpr char Quit = 'Q';
inline constexpr char Rcpt = 'R';
inline constexpr char Data = 'T';
inline constexpr char Unknown = 'U';
} // namespace command

// Filter to MTA.
namespace reply {
inline constexpr char AddRcpt = '+';
inline constexpr char DelRcpt = '-';
inline constexpr char AddRcptPar = '2';
inline constexpr char Shutdown = '4';
inline constexpr char Accept = 'a';
inline constexpr char ReplBody = 'b';
inline constexpr char Continue = 'c';
inline constexpr char Discard = 'd';
inline constexpr char ChgFrom = 'e';
inline constexpr char ConnFail = 'f';
inline constexpr char AddHeader = 'h';
inline constexpr char InsHeader = 'i';
inline constexpr char SetSymList = 'l';
inline constexpr char ChgHeader = 'm';
inline constexpr char Progress = 'p';
inline constexpr char Quarantine = 'q';
inline constexpr char Reject = 'r';
inline constexpr char Skip = 's';
inline constexpr char Tempfail = 't';
inline constexpr char ReplyCode = 'y';
inline constexpr char OptNeg = 'O';
} // namespace reply

// What the filter may ask at the end of a message (SMFIF_*).
namespace action {
inline constexpr std::uint32_t AddHeaders = 1u << 0;
inline constexpr std::uint32_t ChangeBody = 1u << 1;
inline constexpr std::uint32_t AddRcpt = 1u << 2;
inline constexpr std::uint32_t DelRcpt = 1u << 3;
inline constexpr std::uint32_t ChangeHeaders = 1u << 4;
inline constexpr std::uint32_t Quarantine = 1u << 5;
inline constexpr std::uint32_t ChangeFrom = 1u << 6;
inline constexpr std::uint32_t AddRcptPar = 1u << 7;
inline constexpr std::uint32_t SetSymList = 1u << 8;
inline constexpr std::uint32_t All = (1u << 9) - 1;
} // namespace action

// Steps the filter does not want (SMFIP_NO*) or will not answer (SMFIP_NR_*), and extensions.
namespace step {
inline constexpr std::uint32_t NoConnect = 1u << 0;
inline constexpr std::uint32_t NoHelo = 1u << 1;
inline constexpr std::uint32_t NoMail = 1u << 2;
inline constexpr std::uint32_t NoRcpt = 1u << 3;
inline constexpr std::uint32_t NoBody = 1u << 4;
inline constexpr std::uint32_t NoHeaders = 1u << 5;
inline constexpr std::uint32_t NoEoh = 1u << 6;
inline constexpr std::uint32_t NrHeader = 1u << 7;
inline constexpr std::uint32_t NoUnknown = 1u << 8;
inline constexpr std::uint32_t NoData = 1u << 9;
inline constexpr std::uint32_t Skip = 1u << 10;
inline constexpr std::uint32_t RcptRej = 1u << 11;
inline constexpr std::uint32_t NrConnect = 1u << 12;
inline constexpr std::uint32_t NrHelo = 1u << 13;
inline constexpr std::uint32_t NrMail = 1u << 14;
inline constexpr std::uint32_t NrRcpt = 1u << 15;
inline constexpr std::uint32_t NrData = 1u << 16;
inline constexpr std::uint32_t NrUnknown = 1u << 17;
inline constexpr std::uint32_t NrEoh = 1u << 18;
inline constexpr std::uint32_t NrBody = 1u << 19;
inline constexpr std::uint32_t HeaderLeadingSpace = 1u << 20;

inline constexpr std::uint32_t NoSendMask =
    NoConnect | NoHelo | NoMail | NoRcpt | NoBody | NoHeaders | NoEoh | NoUnknown | NoData;
inline constexpr std::uint32_t NoReplyMask =
    NrConnect | NrHelo | NrMail | NrRcpt | NrData | NrUnknown | NrHeader | NrEoh | NrBody;
} // namespace step

/// The stages a filter may name macros for in SETSYMLIST (SMFIM_*).
enum class MacroStage : std::uint32_t {
  Connect = 0,
  Helo = 1,
  Mail = 2,
  Rcpt = 3,
  Data = 4,
  Eom = 5,
  Eoh = 6,
};
inline constexpr std::size_t MacroStageCount = 7;

/// Connect families (SMFIA_*).
namespace family {
inline constexpr char Unknown = 'U';
inline constexpr char Unix = 'L';
inline constexpr char Inet = '4';
inline constexpr char Inet6 = '6';
} // namespace family

/// Largest body chunk we send (libmilter's MILTER_CHUNK_SIZE).
inline constexpr std::size_t BodyChunkSize = 65535;
/// A packet from a filter longer than this is garbage: a REPLBODY chunk of up to 1 MB (the
/// largest libmilter negotiates) and room for the rest.
inline constexpr std::size_t MaxReplyPacket = 1024 * 1024 + 64 * 1024;

} // namespace upesi::milter
