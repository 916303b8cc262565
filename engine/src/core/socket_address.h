// An IPv4/IPv6 UDP address with value semantics, parsed from "host:port" / "[v6]:port".
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>

namespace tmc::core {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  static std::optional<SocketAddress> parse(const std::string& text);  // numeric host only
  static SocketAddress from(const sockaddr* address, socklen_t length);
  static SocketAddress ipv4(std::uint32_t host_order_address, std::uint16_t port);
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack AF_INET6 socket reports for
  // an IPv4 peer) as the AF_INET address it stands for; any other address unchanged. Receive
  // paths apply it, so a peer has one form whichever socket family heard it.
  SocketAddress without_v4_mapping() const;

  int family() const { return storage.ss_family; }
  std::uint16_t port() const;
  void set_port(std::uint16_t port);
  bool is_multicast() const;
  bool is_unspecified() const;  // 0.0.0.0 / ::
  const sockaddr* raw() const { return reinterpret_cast<const sockaddr*>(&storage); }
  std::string to_string() const;

  bool operator==(const SocketAddress& other) const;
  bool operator!=(const SocketAddress& other) const { return !(*this == other); }
};

struct SocketAddressHash {
  std::size_t operator()(const SocketAddress& address) const;
};

}  // namespace tmc::core
