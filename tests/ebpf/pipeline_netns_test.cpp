// The programs attached together on real interfaces (network namespaces): the sender's
// classifier marks a latency-sensitive channel with DSCP EF on egress; on the receiver's
// ingress the classifier counts every packet and early drop then removes duplicates and stale
// packets, so user space receives each message once. Loaders are destroyed outside the netns
// they attached in, which must still detach there.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/ip.h>

#include <optional>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/classifier.h"
#include "tmc/bpf/early_drop.h"
#include "udp_helpers.h"

namespace tmc::bpf::test {
namespace {

constexpr uint32_t kChannel = 9;
constexpr uint16_t kPort = 7001;

std::string ingress_filters(const std::string& ns, const char* direction = "ingress") {
  std::string filters;
  run_command("ip netns exec " + ns + " tc filter show dev eth0 " + direction, &filters);
  return filters;
}

TEST(PipelineNetnsTest, ClassifyMarksAndEarlyDropRemovesDuplicates) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(2);
  UdpSocket receiver(bed.host(0), Testbed::ip(0), kPort);
  int on = 1;
  ASSERT_EQ(setsockopt(receiver.fd(), IPPROTO_IP, IP_RECVTOS, &on, sizeof on), 0);
  UdpSocket sender(bed.host(1), Testbed::ip(1), 0);

  std::optional<ClassifierLoader> receiver_classifier, sender_classifier;
  std::optional<EarlyDropLoader> early_drop;
  {
    InNetns inside(bed.host(0));
    int eth0 = static_cast<int>(if_nametoindex("eth0"));
    receiver_classifier.emplace();
    receiver_classifier->attach(eth0);
    early_drop.emplace();
    early_drop->attach(eth0);
  }
  {
    InNetns inside(bed.host(1));
    sender_classifier.emplace();
    sender_classifier->attach(static_cast<int>(if_nametoindex("eth0")));
    ChannelClass expedited;
    expedited.dscp = 46;
    expedited.priority = 6;
    sender_classifier->set_channel_class(kChannel, expedited);
  }

  auto send = [&](uint64_t sequence) {
    TmcHeader header;
    header.channel_id = kChannel;
    header.flags = TMC_FLAG_DROP_STALE;
    header.sequence = sequence;
    Bytes payload = tmc_payload(header);
    ASSERT_TRUE(sender.send_to(Testbed::ip(0), kPort, payload.data(), payload.size()));
  };
  for (uint64_t s = 0; s < 10; s++) send(s);
  for (uint64_t s = 9; s < 10; s++) send(s);  // duplicate of the newest
  send(3);                                     // stale
  send(9);                                     // duplicate again

  size_t received = 0, expedited = 0;
  for (int attempt = 0; attempt < 100; attempt++) {
    uint8_t data[2048];
    char control[64];
    iovec vector{data, sizeof data};
    msghdr message{};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    pollfd waiter{receiver.fd(), POLLIN, 0};
    if (poll(&waiter, 1, 100) <= 0) break;
    if (recvmsg(receiver.fd(), &message, 0) <= 0) continue;
    received++;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && (*CMSG_DATA(c) >> 2) == 46) expedited++;
  }
  EXPECT_EQ(received, 10u) << "each message once";
  EXPECT_EQ(expedited, received) << "DSCP EF set by the sender's classifier";

  ChannelCounters sent = sender_classifier->counters(kChannel);
  EXPECT_EQ(sent.egress.packets, 13u);
  ChannelCounters arrived = receiver_classifier->counters(kChannel);
  EXPECT_EQ(arrived.ingress.packets, 13u) << "the classifier runs before early drop";
  {
    InNetns inside(bed.host(0));  // as `tmc stats` would, from another loader-less process
    auto seen = ClassifierLoader::counters_on(static_cast<int>(if_nametoindex("eth0")));
    ASSERT_EQ(seen.count(kChannel), 1u);
    EXPECT_EQ(seen[kChannel].ingress.packets, 13u);
    EXPECT_EQ(seen[kChannel].ingress.bytes, arrived.ingress.bytes);
  }
  EarlyDropCounters drops = early_drop->counters(kChannel);
  EXPECT_EQ(drops.passed, 10u);
  EXPECT_EQ(drops.duplicates, 2u);
  EXPECT_EQ(drops.stale, 1u);

  // Destroyed here, in the root netns: each must detach in the netns it attached in.
  EXPECT_NE(ingress_filters(bed.host(0)).find("tmc_early_drop"), std::string::npos);
  receiver_classifier.reset();
  early_drop.reset();
  sender_classifier.reset();
  EXPECT_EQ(ingress_filters(bed.host(0)).find("handle 0x544d"), std::string::npos) << ingress_filters(bed.host(0));
  EXPECT_EQ(ingress_filters(bed.host(1), "egress").find("handle 0x544d"), std::string::npos);
}

}  // namespace
}  // namespace tmc::bpf::test
