// A redis-server of the test's own: loopback only, on a port the kernel had free, nothing saved
// to disk, its files in a temporary directory; stopped (SIGCONT first, if stopped) at the end.
// kill() and restart() make the outages the client must live through.
#pragma once

#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <netinet/in.h>
#include <signal.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace upesi::test {

class RedisServer {
public:
  /// `extra`: more redis-server arguments ("--requirepass", "secret").
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    port_ = freePort();
    start();
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }

  void start() {
    REQUIRE(pid_ <= 0);
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_.str(),
                                     "--logfile",
                                     (dir_.path() / "redis.log").string()};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    REQUIRE(waitUntilListening());
  }

  /// SIGKILL: no goodbye on any connection.
  void kill() { signalAndReap(SIGKILL); }
  void pause() { REQUIRE(::kill(pid_, SIGSTOP) == 0); }
  void resume() { REQUIRE(::kill(pid_, SIGCONT) == 0); }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      signalAndReap(SIGTERM);
    }
  }

  std::string log() const { return dir_.read("redis.log"); }

private:
  static std::uint16_t freePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
  }

  bool waitUntilListening() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        return false; // it exited: the log says why
      }
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port_);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      ::close(fd);
      if (up) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  void signalAndReap(int signal) {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  TempDir dir_;
  std::vector<std::string> extra_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

} // namespace upesi::test
