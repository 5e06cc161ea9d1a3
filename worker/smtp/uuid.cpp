#include "worker/smtp/uuid.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <sys/random.h>
#include <unistd.h>

namespace upesi::smtp {
namespace {

// Random bytes come in batches: one getrandom call per 256 uuids. A forked child refills
// before its first uuid, so it never repeats its parent's bytes.
class RandomPool {
public:
  void fill(std::uint8_t* out, std::size_t n) {
    if (pid_ != ::getpid()) {
      pid_ = ::getpid();
      refill();
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (used_ == pool_.size()) {
        refill();
      }
      out[i] = pool_[used_++];
    }
  }

private:
  void refill() {
    std::size_t got = 0;
    while (got < pool_.size()) {
      ssize_t r = ::getrandom(pool_.data() + got, pool_.size() - got, 0);
      if (r > 0) {
        got += static_cast<std::size_t>(r);
      }
    }
    used_ = 0;
  }
  std::array<std::uint8_t, 4096> pool_{};
  std::size_t used_ = 4096;
  pid_t pid_ = 0;
};

} // namespace

std::string newUuid() {
  static thread_local RandomPool pool;
  std::array<std::uint8_t, 16> b{};
  pool.fill(b.data(), b.size());
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0FU) | 0x40U);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3FU) | 0x80U);
  return fmt::format("{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-"
                     "{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                     b[12], b[13], b[14], b[15]);
}

} // namespace upesi::smtp
