// Address patterns of policy rules: CIDR prefixes and port ranges.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace tmc::shim {

// An IPv4 or IPv6 address, IPv4 held as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) so one
// comparison serves both families.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const IpAddress&) const = default;
  bool is_v4() const;
  std::string to_string() const;
};

// Parses "10.0.0.1", "::1", "[::1]". nullopt when malformed.
std::optional<IpAddress> parse_ip(std::string_view text);

// An address prefix; "0.0.0.0/0" and "::/0" match every address of their family, "any" matches all.
struct Cidr {
  IpAddress network;
  int prefix_bits = 0;  // over the 128-bit (mapped) form
  bool any = true;
  bool contains(const IpAddress& address) const;
  std::string to_string() const;
};

// Parses "10.0.0.0/8", "10.1.2.3" (a /32), "fd00::/8", "any". nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

struct PortRange {
  std::uint16_t first = 0, last = 65535;
  bool contains(std::uint16_t port) const { return port >= first && port <= last; }
  bool operator==(const PortRange&) const = default;
};

// The address and port of an AF_INET / AF_INET6 sockaddr; nullopt for other families.
struct InetEndpoint {
  IpAddress address;
  std::uint16_t port = 0;
  std::string to_string() const;  // "10.0.0.1:80", "[::1]:80"
};
std::optional<InetEndpoint> endpoint_of(const sockaddr* address, socklen_t length);

// Parses "host:port" / "[v6]:port" with a numeric host. nullopt when malformed.
std::optional<InetEndpoint> parse_endpoint(std::string_view text);

}  // namespace tmc::shim
