// Fan-out end to end: three member hosts and a sender on a bridge (network namespaces). One
// send per message from the sender reaches all three members; detaching restores unicast.
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <set>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/fanout.h"
#include "udp_helpers.h"

namespace tmc::bpf::test {
namespace {

constexpr int kMembers = 3;
constexpr int kSenderHost = 3;
constexpr uint32_t kChannel = 77;
constexpr uint16_t kBasePort = 7001;

uint64_t sequence_of(const uint8_t* data, size_t length) {
  if (length < TMC_DATA_HEADER_SIZE) return UINT64_MAX;
  return (uint64_t(get32(data + TMC_OFF_SEQUENCE)) << 32) | get32(data + TMC_OFF_SEQUENCE + 4);
}

// Turns transmit checksum offload of `device` (in the current netns) off, so UDP checksums are
// complete before tc egress and the receivers verify them (veth otherwise passes
// CHECKSUM_PARTIAL packets that nobody checks).
void disable_tx_checksum_offload(const char* device) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ethtool_value value{};
  value.cmd = ETHTOOL_STXCSUM;
  value.data = 0;
  ifreq request{};
  std::strncpy(request.ifr_name, device, IFNAMSIZ - 1);
  request.ifr_data = reinterpret_cast<char*>(&value);
  int result = ioctl(fd, SIOCETHTOOL, &request);
  int error = errno;
  close(fd);
  ASSERT_EQ(result, 0) << "ETHTOOL_STXCSUM: " << std::strerror(error);
}

void fan_out_to_three_members(bool software_checksums, bool ipv6 = false) {
  Testbed bed(kMembers + 1, ipv6);
  auto ip = [&](int i) { return ipv6 ? Testbed::ip6(i) : Testbed::ip(i); };
  std::vector<std::unique_ptr<UdpSocket>> receivers;
  std::vector<FanoutMember> members;
  for (int i = 0; i < kMembers; i++) {
    uint16_t port = static_cast<uint16_t>(kBasePort + i);
    receivers.push_back(std::make_unique<UdpSocket>(bed.host(i), ip(i), port));
    const std::string address = ipv6 ? "[" + ip(i) + "]" : ip(i);
    members.push_back(FanoutMember::parse(address + ":" + std::to_string(port), Testbed::mac(i)));
  }
  UdpSocket sender(bed.host(kSenderHost), ip(kSenderHost), 0);

  constexpr int kMessages = 300;
  std::vector<std::set<uint64_t>> got(kMembers);
  {
    InNetns in_sender(bed.host(kSenderHost));  // the loader attaches and detaches here
    if (software_checksums) {
      disable_tx_checksum_offload("eth0");
      if (::testing::Test::HasFatalFailure()) return;
    }
    FanoutLoader fanout;
    fanout.attach(static_cast<int>(if_nametoindex("eth0")));
    fanout.set_members(kChannel, members);

    for (int m = 0; m < kMessages; m++) {
      TmcHeader header;
      header.channel_id = kChannel;
      header.sequence = m;
      Bytes payload = tmc_payload(header);
      ASSERT_TRUE(sender.send_to(ip(0), kBasePort, payload.data(), payload.size()));
      if (m % 50 == 49) {
        for (int i = 0; i < kMembers; i++)
          receivers[i]->drain([&](const uint8_t* d, size_t n) { got[i].insert(sequence_of(d, n)); }, 5);
      }
    }
    for (int i = 0; i < kMembers; i++)
      receivers[i]->drain([&](const uint8_t* d, size_t n) { got[i].insert(sequence_of(d, n)); });
    for (int i = 0; i < kMembers; i++) EXPECT_EQ(got[i].size(), size_t(kMessages)) << "member " << i;
    FanoutCounters counters = fanout.counters(kChannel);
    EXPECT_EQ(counters.fanned_out, uint64_t(kMessages));
    EXPECT_EQ(counters.copies, uint64_t(kMessages * (kMembers - 1)));
    EXPECT_EQ(counters.copy_errors, 0u);

    // A point-to-point packet to members[0] stays unicast.
    TmcHeader unicast;
    unicast.channel_id = kChannel;
    unicast.stream = 0;
    unicast.sequence = 100000;
    Bytes payload = tmc_payload(unicast);
    ASSERT_TRUE(sender.send_to(ip(0), kBasePort, payload.data(), payload.size()));
    EXPECT_EQ(receivers[0]->drain(nullptr), 1u);
    EXPECT_EQ(receivers[1]->drain(nullptr), 0u);
    EXPECT_EQ(receivers[2]->drain(nullptr), 0u);
  }  // FanoutLoader destroyed: filter detached

  std::string filters;
  run_command("ip netns exec " + bed.host(kSenderHost) + " tc filter show dev eth0 egress", &filters);
  EXPECT_EQ(filters.find("tmc_fanout"), std::string::npos) << filters;
  for (int m = 0; m < 20; m++) {
    TmcHeader header;
    header.channel_id = kChannel;
    header.sequence = kMessages + m;
    Bytes payload = tmc_payload(header);
    ASSERT_TRUE(sender.send_to(ip(0), kBasePort, payload.data(), payload.size()));
  }
  EXPECT_EQ(receivers[0]->drain(nullptr), 20u);
  EXPECT_EQ(receivers[1]->drain(nullptr), 0u) << "no fan-out after detach";
  EXPECT_EQ(receivers[2]->drain(nullptr), 0u);
}

TEST(FanoutNetnsTest, OneSendReachesEveryMemberAndDetachRestoresUnicast) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  fan_out_to_three_members(/*software_checksums=*/false);
}

TEST(FanoutNetnsTest, CopiesCarryValidChecksumsWithoutOffload) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  fan_out_to_three_members(/*software_checksums=*/true);  // a bad UDP checksum would be dropped
}

TEST(FanoutNetnsTest, Ipv6OneSendReachesEveryMember) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  fan_out_to_three_members(/*software_checksums=*/false, /*ipv6=*/true);
}

TEST(FanoutNetnsTest, Ipv6CopiesCarryValidChecksumsWithoutOffload) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  fan_out_to_three_members(/*software_checksums=*/true, /*ipv6=*/true);  // IPv6 UDP checksums are mandatory
}

}  // namespace
}  // namespace tmc::bpf::test
