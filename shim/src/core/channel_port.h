// The bridge's view of a TMC channel. Production uses tmc::Channel (engine_port.cpp); unit
// tests use an in-process implementation, so the bridging core is tested without the engine
// and without LD_PRELOAD.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tmc/manifest.h"

namespace tmc::shim {

struct PortStats {
  std::uint64_t messages_sent = 0, bytes_sent = 0, messages_delivered = 0, bytes_delivered = 0;
  std::uint64_t packets_sent = 0, packets_received = 0, retransmissions = 0, abandoned = 0;
  std::uint64_t malformed_dropped = 0, duplicates_dropped = 0;
  // UDP GSO super-packets sent (and the packets in them), GRO-coalesced datagrams received
  // (and the packets split from them): tmc::ChannelStats.
  std::uint64_t gso_sends = 0, gso_segments = 0, gro_receives = 0, gro_segments = 0;
  std::uint64_t corked_packets = 0;  // through the kernel's cork (streaming large sends)
  double smoothed_rtt_us = 0, rtt_p99_us = 0;
};

class ChannelPort {
 public:
  // Handlers run on the channel's runtime thread and must not block.
  using MessageHandler = std::function<void(std::vector<std::byte>&& payload, const sockaddr_storage& source)>;
  using ControlHandler =
      std::function<void(std::uint8_t subtype, std::uint32_t argument, const sockaddr_storage& source)>;

  virtual ~ChannelPort() = default;
  // Sends one message to the peer (or the group); `per_message` overrides channel defaults.
  // `done` runs exactly once, on any thread, when the engine has decided the message.
  virtual void send(std::span<const std::byte> payload, const Manifest* per_message, std::function<void()> done) = 0;
  // A TMC_TYPE_CONTROL packet to "host:port" (wire_format.h subtypes).
  virtual void send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& address) = 0;
  // The single peer of a connection-style channel ("host:port").
  virtual void set_peer(const std::string& address) = 0;
  virtual std::uint16_t local_port() const = 0;
  virtual void on_message(MessageHandler handler) = 0;
  virtual void on_control(ControlHandler handler) = 0;
  virtual PortStats stats() const = 0;
  virtual void close() = 0;

  // Datagram channels (udp-sender / udp-receiver sockets, datagram_bridge.h). The defaults
  // refuse, so a port that only serves stream connections need not implement them.
  // One message to the channel peer at "host:port" only (it becomes a member on first use).
  virtual void send_to(std::span<const std::byte> payload, const std::string& address, const Manifest* per_message,
                       std::function<void()> done) {
    (void)payload, (void)address, (void)per_message;
    done();
    throw std::logic_error("this channel port does not send datagrams");
  }
  // Also receive what is sent to the IP multicast group "239.1.2.3:7000".
  virtual void join_group(const std::string& group) {
    (void)group;
    throw std::logic_error("this channel port cannot join a multicast group");
  }
};

class ChannelFactory {
 public:
  virtual ~ChannelFactory() = default;
  // A channel bound to UDP `local_address` ("0.0.0.0:7000"; port 0 = ephemeral).
  // Throws std::exception when it cannot be opened (e.g. the port is taken).
  virtual std::unique_ptr<ChannelPort> open(const Manifest& manifest, const std::string& local_address) = 0;
};

}  // namespace tmc::shim
