// transport::UdpSocket on real loopback sockets.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <cerrno>

#include <map>
#include <memory>
#include <vector>

#include "core/socket_address.h"
#include "transport/udp_socket.h"

namespace tmc::transport {
namespace {

// Ephemeral binds must each get a port of their own. With SO_REUSEADDR set before an ephemeral
// bind, Linux may hand out a port another SO_REUSEADDR socket holds (about a dozen duplicates
// in 900 binds), and that port's datagrams then reach only one of the two sockets: connections
// through the shim stalled that way above ~150 concurrent connections.
TEST(UdpSocket, EphemeralPortsAreNeverShared) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  constexpr rlim_t kSockets = 900;
  if (limit.rlim_cur < kSockets + 64) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, kSockets + 256);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < kSockets + 64) GTEST_SKIP() << "RLIMIT_NOFILE too low: " << limit.rlim_cur;
  const auto local = core::SocketAddress::parse("127.0.0.1:0");
  ASSERT_TRUE(local);
  std::vector<std::unique_ptr<UdpSocket>> sockets;
  std::map<std::uint16_t, int> holders;
  for (rlim_t i = 0; i < kSockets; ++i) {
    sockets.push_back(std::make_unique<UdpSocket>(*local));
    ++holders[sockets.back()->local_address().port()];
  }
  int shared = 0;
  for (const auto& [port, count] : holders) shared += count - 1;
  EXPECT_EQ(shared, 0) << "ephemeral ports handed out more than once";
}

// A chosen port can still be bound twice (multicast members on one host share the group port),
// but not a port an ephemeral bind holds.
TEST(UdpSocket, ChosenPortIsSharedEphemeralPortIsNot) {
  UdpSocket ephemeral(*core::SocketAddress::parse("127.0.0.1:0"));
  const auto taken = core::SocketAddress::parse("127.0.0.1:" + std::to_string(ephemeral.local_address().port()));
  EXPECT_THROW(UdpSocket again(*taken), std::system_error);
  const auto chosen = core::SocketAddress::parse("127.0.0.2:" + std::to_string(ephemeral.local_address().port()));
  UdpSocket first(*chosen);
  UdpSocket second(*chosen);
  EXPECT_EQ(first.local_address(), second.local_address());
}

// A datagram to a port nobody listens on: the kernel's ICMP port unreachable comes back as
// EPOLLERR, and receive_errors() names the destination with ECONNREFUSED.
TEST(UdpSocket, PortUnreachableIsReportedWithItsDestination) {
  const auto closed = [] {
    UdpSocket taken(*core::SocketAddress::parse("127.0.0.1:0"));
    return taken.local_address();  // released again when `taken` closes
  }();
  UdpSocket sender(*core::SocketAddress::parse("127.0.0.1:0"));
  const std::byte datagram[8]{};
  sender.queue(closed, datagram);
  EXPECT_EQ(sender.flush(), 0u);
  pollfd poll_fd{sender.fd(), 0, 0};
  ASSERT_EQ(poll(&poll_fd, 1, 2000), 1);
  EXPECT_TRUE(poll_fd.revents & POLLERR);
  std::vector<std::pair<std::string, int>> errors;
  EXPECT_EQ(sender.receive_errors([&](const core::SocketAddress& destination, int error) {
    errors.emplace_back(destination.to_string(), error);
  }), 1u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].first, closed.to_string());
  EXPECT_EQ(errors[0].second, ECONNREFUSED);
  poll_fd.revents = 0;
  EXPECT_EQ(poll(&poll_fd, 1, 0), 0) << "the error queue is drained";
}

}  // namespace
}  // namespace tmc::transport
