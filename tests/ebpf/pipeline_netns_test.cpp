// The programs attached together on real interfaces (network namespaces): the sender's
// classifier marks a latency-sensitive channel with DSCP EF on egress; on the receiver's
// ingress the classifier counts every packet and early drop then removes duplicates and stale
// packets, so user space receives each message once. Loaders are destroyed outside the netns
// they attached in, which must still detach there.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/ip.h>

#include <memory>
#include <optional>
#include <thread>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/classifier.h"
#include "tmc/bpf/early_drop.h"
#include "tmc/channel.h"
#include "transport/udp_socket.h"
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

// A fifo-drop-stale channel sending large messages over a veth (MTU 1500): the engine's UDP GSO
// super-packets (up to 44 fragments each) reach the receiver's ingress as one skb with
// gso_segs > 1. Early drop must pass them unjudged — judged by the first fragment's header the
// whole super-packet could be taken for a duplicate — so every message arrives.
TEST(PipelineNetnsTest, EarlyDropPassesTheEnginesGsoSuperPackets) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(2);
  tmc::Manifest manifest;
  manifest.channel = "gso-early-drop";
  manifest.ordering = tmc::Ordering::fifo_drop_stale;
  manifest.multicast = tmc::Multicast{.members = {{"a", Testbed::ip(1) + ":7421"}, {"b", Testbed::ip(0) + ":7422"}}};
  std::optional<EarlyDropLoader> early_drop;
  std::unique_ptr<tmc::Channel> a, b;
  {
    InNetns inside(bed.host(0));
    early_drop.emplace();
    early_drop->attach(static_cast<int>(if_nametoindex("eth0")));
    b = std::make_unique<tmc::Channel>(manifest, tmc::ChannelOptions{.self = "b"});
  }
  {
    InNetns inside(bed.host(1));
    a = std::make_unique<tmc::Channel>(manifest, tmc::ChannelOptions{.self = "a"});
  }
  constexpr int kMessages = 20;
  const std::string large(60000, 'g');  // 43 fragments of one size and a shorter last
  for (int m = 0; m < kMessages; ++m) {
    a->send(std::to_string(m) + large);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // one message per flush
  }
  int delivered = 0;
  while (auto message = b->recv(std::chrono::milliseconds(500))) {
    EXPECT_EQ(message->payload.size(), large.size() + std::to_string(delivered).size());
    ++delivered;
  }
  const tmc::Stats sent = a->stats(), received = b->stats();
  if (sent.gso_sends == 0) GTEST_SKIP() << "the engine's socket has no UDP GSO here";
  EXPECT_EQ(delivered, kMessages) << "no super-packet dropped in the kernel";
  EXPECT_GT(received.gro_receives, 0u) << "the super-packets crossed the veth whole";
  const EarlyDropCounters drops = early_drop->counters(a->channel_id());
  EXPECT_EQ(drops.duplicates, 0u);
  EXPECT_EQ(drops.stale, 0u);
  a.reset();
  b.reset();

  // The case the rule exists for: fragment 0 of a message arrives alone, then a super-packet
  // [fragment 0 again, fragment 1]. Judged by its first header it is a duplicate and fragment 1
  // would be lost with it; passed, user space drops the duplicate and keeps fragment 1.
  UdpSocket receiver(bed.host(0), Testbed::ip(0), kPort);
  std::unique_ptr<tmc::transport::UdpSocket> injector;
  {
    InNetns inside(bed.host(1));
    injector = std::make_unique<tmc::transport::UdpSocket>(*tmc::core::SocketAddress::parse(Testbed::ip(1) + ":0"));
  }
  TmcHeader header;
  header.channel_id = kChannel;
  header.flags = TMC_FLAG_DROP_STALE;
  header.sequence = 100;
  header.fragment_count = 2;
  const Bytes fragment0 = tmc_payload(header);
  header.sequence = 101;
  header.fragment_index = 1;
  const Bytes fragment1 = tmc_payload(header);
  const auto to = *tmc::core::SocketAddress::parse(Testbed::ip(0) + ":" + std::to_string(kPort));
  auto as_bytes = [](const Bytes& packet) { return std::as_bytes(std::span(packet.data(), packet.size())); };
  injector->queue(to, as_bytes(fragment0));
  ASSERT_EQ(injector->flush(), 0u);
  injector->queue(to, as_bytes(fragment0));
  injector->queue(to, as_bytes(fragment1));
  ASSERT_EQ(injector->flush(), 0u);
  ASSERT_EQ(injector->offload_counters().gso_sends, 1u) << "the second flush is one super-packet";
  std::vector<Bytes> arrived;
  for (int attempt = 0; attempt < 50 && arrived.size() < 3; attempt++) {
    pollfd waiter{receiver.fd(), POLLIN, 0};
    if (poll(&waiter, 1, 100) <= 0) continue;
    Bytes data(2048);
    const ssize_t got = recv(receiver.fd(), data.data(), data.size(), 0);  // no UDP_GRO: kernel-split
    if (got > 0) arrived.emplace_back(data.begin(), data.begin() + got);
  }
  EXPECT_EQ(arrived, (std::vector<Bytes>{fragment0, fragment0, fragment1})) << "nothing dropped in the kernel";
  const EarlyDropCounters raw = early_drop->counters(kChannel);
  EXPECT_EQ(raw.passed, 1u) << "only the lone fragment 0 was judged";
  EXPECT_EQ(raw.duplicates, 0u);
  early_drop.reset();
}

}  // namespace
}  // namespace tmc::bpf::test
