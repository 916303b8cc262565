// UDP sockets for the netns tests: bound in a given netns, large buffers, bounded draining.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

#include "netns_testbed.h"

namespace tmc::bpf::test {

class UdpSocket {
 public:
  // A socket living in netns `ns`, bound to ip:port (port 0: any); an IPv6 socket when `ip`
  // holds a ':'.
  UdpSocket(const std::string& ns, const std::string& ip, uint16_t port) {
    InNetns inside(ns);
    fd_ = socket(ip.find(':') != std::string::npos ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    int buffer = 16 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer);
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer);
    sockaddr_storage address = make_any_address(ip, port);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), length_of(address)) != 0)
      throw std::runtime_error("bind " + ip + ":" + std::to_string(port) + " failed");
  }
  ~UdpSocket() {
    if (fd_ >= 0) close(fd_);
  }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  int fd() const { return fd_; }

  static sockaddr_in make_address(const std::string& ip, uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
    return address;
  }

  static sockaddr_storage make_any_address(const std::string& ip, uint16_t port) {
    sockaddr_storage storage{};
    if (ip.find(':') == std::string::npos) {
      sockaddr_in address = make_address(ip, port);
      std::memcpy(&storage, &address, sizeof address);
    } else {
      auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
      address->sin6_family = AF_INET6;
      address->sin6_port = htons(port);
      inet_pton(AF_INET6, ip.c_str(), &address->sin6_addr);
    }
    return storage;
  }
  static socklen_t length_of(const sockaddr_storage& address) {
    return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }

  bool send_to(const std::string& ip, uint16_t port, const void* data, size_t length) {
    sockaddr_storage address = make_any_address(ip, port);
    return sendto(fd_, data, length, 0, reinterpret_cast<sockaddr*>(&address), length_of(address)) ==
           static_cast<ssize_t>(length);
  }

  // Receives until nothing arrives for `quiet_ms` (bounded by `limit_ms` in total); calls
  // `on_datagram` for each. Returns the number received.
  size_t drain(const std::function<void(const uint8_t*, size_t)>& on_datagram, int quiet_ms = 20,
               int limit_ms = 5000) {
    size_t received = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
    uint8_t buffer[2048];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd waiter{fd_, POLLIN, 0};
      if (poll(&waiter, 1, quiet_ms) <= 0) break;
      ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n < 0) continue;
      received++;
      if (on_datagram) on_datagram(buffer, static_cast<size_t>(n));
    }
    return received;
  }

 private:
  int fd_ = -1;
};

}  // namespace tmc::bpf::test
