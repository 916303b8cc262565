// transport::UdpSocket on real loopback sockets.
#include <gtest/gtest.h>
#include <sys/resource.h>

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

}  // namespace
}  // namespace tmc::transport
