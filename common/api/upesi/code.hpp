// Return codes a hook hands to `next`, numbered as haraka-constants numbers them so that logs
// and plugin authors see the same values as in Haraka.
#pragma once

#include <optional>
#include <string_view>

namespace upesi {

enum class Code : int {
  Cont = 900,               ///< no opinion: the next plugin runs
  Stop = 901,               ///< stop the chain, no reply of its own
  Deny = 902,               ///< permanent rejection (5xx)
  DenySoft = 903,           ///< temporary rejection (4xx)
  DenyDisconnect = 904,     ///< 5xx, then close the connection
  Disconnect = 905,         ///< close the connection
  Ok = 906,                 ///< accept: the chain stops here
  HookNext = 907,           ///< only in unrecognized_command: run the hook named in msg instead
  Delay = 908,              ///< only in send_email: retry after msg seconds
  DenySoftDisconnect = 909, ///< 4xx, then close the connection
};

constexpr std::string_view toString(Code code) {
  switch (code) {
  case Code::Cont:
    return "CONT";
  case Code::Stop:
    return "STOP";
  case Code::Deny:
    return "DENY";
  case Code::DenySoft:
    return "DENYSOFT";
  case Code::DenyDisconnect:
    return "DENYDISCONNECT";
  case Code::Disconnect:
    return "DISCONNECT";
  case Code::Ok:
    return "OK";
  case Code::HookNext:
    return "HOOK_NEXT";
  case Code::Delay:
    return "DELAY";
  case Code::DenySoftDisconnect:
    return "DENYSOFTDISCONNECT";
  }
  return "UNKNOWN";
}

constexpr bool isDeny(Code code) {
  return code == Code::Deny || code == Code::DenySoft || code == Code::DenyDisconnect ||
         code == Code::DenySoftDisconnect;
}

} // namespace upesi
