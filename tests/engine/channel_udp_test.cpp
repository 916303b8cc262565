// tmc::Channel over real UDP sockets: three members on loopback, and IP multicast inside a
// private network namespace the test creates (needs root; skipped with a message otherwise).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "tmc/channel.h"
#include "tmc/fault_injector.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

std::string text_of(const Message& message) {
  return {reinterpret_cast<const char*>(message.payload.data()), message.payload.size()};
}

// Three channels on 127.0.0.1 ephemeral ports that know each other's addresses.
struct Group {
  std::vector<std::unique_ptr<Channel>> members;
  Group(Manifest manifest, const std::string& host = "127.0.0.1",
        std::vector<std::shared_ptr<FaultInjector>> faults = {}) {
    Multicast multicast = manifest.multicast.value_or(Multicast{});
    multicast.members = {{"a", ""}, {"b", ""}, {"c", ""}};
    manifest.multicast = multicast;
    if (!manifest.channel) manifest.channel = "udp-test";
    for (std::size_t i = 0; i < 3; ++i) {
      ChannelOptions options{.self = multicast.members[i].name, .local_address = host + ":0"};
      if (i < faults.size()) options.faults = faults[i];
      members.push_back(std::make_unique<Channel>(manifest, options));
    }
    for (auto& channel : members)
      for (std::size_t i = 0; i < 3; ++i)
        channel->add_member({multicast.members[i].name, host + ":" + std::to_string(members[i]->local_port())});
  }
};

TEST(ChannelUdp, ThreeMembersReliableFifoOnLoopback) {
  Group group({.ordering = Ordering::fifo, .reliability = Reliability{.kind = Reliability::Kind::all}});
  constexpr int kMessages = 2000;
  std::vector<Completion> completions;
  for (int i = 0; i < kMessages; ++i) completions.push_back(group.members[0]->send("message " + std::to_string(i)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(10s), SendStatus::delivered);
  for (int receiver : {1, 2}) {
    for (int i = 0; i < kMessages; ++i) {
      auto message = group.members[receiver]->recv(5s);
      ASSERT_TRUE(message) << "receiver " << receiver << " message " << i;
      EXPECT_EQ(text_of(*message), "message " + std::to_string(i));
      EXPECT_EQ(message->sender, "a");
    }
  }
  const Stats stats = group.members[0]->stats();
  EXPECT_EQ(stats.messages_sent, static_cast<std::uint64_t>(kMessages));
  EXPECT_GT(stats.acks_received, 0u);
  EXPECT_GT(stats.smoothed_rtt.count(), 0);
}

// Back-to-back sends are coalesced (SendCoalescer) and flushed by the runtime thread: every
// message of a burst arrives, in send order on lossless loopback, including the last one with
// nothing sent after it; a lone send after a pause arrives as well.
// A channel on a dual-stack AF_INET6 socket ([::], as a shimmed server that listened on [::]
// gets) hears an IPv4 peer as ::ffff:a.b.c.d; its acks must still match the member's AF_INET
// address. They did not: every message to the peer was retransmitted until abandoned.
TEST(ChannelUdp, DualStackChannelMatchesAcksOfAnIpv4Peer) {
  // As the shim opens connection channels: no member names in the manifest, the peer added as
  // "peer" by address, so acks are matched by their source address (the sender ids differ).
  Manifest manifest{.ordering = Ordering::fifo, .reliability = Reliability{.kind = Reliability::Kind::all}};
  manifest.channel = "dual-stack-test";
  Channel a(manifest, {.local_address = "[::]:0"});
  Channel b(manifest, {.local_address = "127.0.0.1:0"});
  a.add_member({"peer", "127.0.0.1:" + std::to_string(b.local_port())});
  b.add_member({"peer", "127.0.0.1:" + std::to_string(a.local_port())});
  std::vector<Completion> completions;
  for (int i = 0; i < 20; ++i) completions.push_back(a.send("reply " + std::to_string(i)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(5s), SendStatus::delivered);
  for (int i = 0; i < 20; ++i) {
    auto message = b.recv(5s);
    ASSERT_TRUE(message);
    EXPECT_EQ(text_of(*message), "reply " + std::to_string(i));
  }
  EXPECT_EQ(a.stats().retransmissions, 0u);
  EXPECT_GT(a.stats().smoothed_rtt.count(), 0);
}

TEST(ChannelUdp, CoalescedBurstOfUnreliableSendsArrivesWholeAndInOrder) {
  Group group({});
  constexpr int kMessages = 5000;  // 5000 x ~100 B: far below the 8 MiB socket buffers
  for (int i = 0; i < kMessages; ++i) group.members[0]->send("burst " + std::to_string(i));
  for (int receiver : {1, 2})
    for (int i = 0; i < kMessages; ++i) {
      auto message = group.members[receiver]->recv(5s);
      ASSERT_TRUE(message) << "receiver " << receiver << " message " << i;
      ASSERT_EQ(text_of(*message), "burst " + std::to_string(i));
    }
  std::this_thread::sleep_for(20ms);
  group.members[0]->send("alone");
  for (int receiver : {1, 2}) {
    auto message = group.members[receiver]->recv(5s);
    ASSERT_TRUE(message);
    EXPECT_EQ(text_of(*message), "alone");
  }
}

// A burst followed at once by destroying the channel (which closes it and stops its runtime
// handlers, so a posted flush never runs): what the coalesced sends left queued still leaves.
TEST(ChannelUdp, ClosingFlushesCoalescedSends) {
  Group group({});
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) group.members[0]->send("m" + std::to_string(i));
  group.members[0].reset();
  for (int i = 0; i < kMessages; ++i) {
    auto message = group.members[1]->recv(5s);
    ASSERT_TRUE(message) << i;
    EXPECT_EQ(text_of(*message), "m" + std::to_string(i));
  }
}

TEST(ChannelUdp, ReliableDeliveryThroughInjectedLoss) {
  // Loss on the receivers' side of real sockets, from the engine's own fault injector.
  std::vector<std::shared_ptr<FaultInjector>> faults = {
      nullptr, std::make_shared<FaultInjector>(FaultConfig{.drop = 0.1, .duplicate = 0.05, .reorder = 0.05, .seed = 5}),
      std::make_shared<FaultInjector>(FaultConfig{.drop = 0.1, .seed = 6})};
  Group group({.ordering = Ordering::fifo, .reliability = Reliability{.kind = Reliability::Kind::all}}, "127.0.0.1", faults);
  constexpr int kMessages = 3000;
  std::vector<Completion> completions;
  for (int i = 0; i < kMessages; ++i) completions.push_back(group.members[0]->send(std::to_string(i)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(20s), SendStatus::delivered);
  for (int receiver : {1, 2})
    for (int i = 0; i < kMessages; ++i) {
      auto message = group.members[receiver]->recv(5s);
      ASSERT_TRUE(message);
      ASSERT_EQ(text_of(*message), std::to_string(i));
    }
  EXPECT_GT(group.members[0]->stats().retransmissions, 0u);
  EXPECT_GT(group.members[1]->stats().duplicates_dropped, 0u);
}

// Zero-copy unreliable sends: packets that leave during send() are read from the caller's
// buffer, and send() copies whatever it leaves queued (coalesced bursts) before it returns. The
// caller overwrites one buffer right after every send; each message still arrives as sent —
// 16 KiB messages (one datagram each on loopback, sent at once) and bursts of small ones
// (coalesced, flushed later by the runtime thread), unreliable and reliable through 10% loss.
struct BufferReuseCase {
  const char* name;
  std::size_t size;
  bool reliable;
};
class ChannelUdpBufferReuse : public ::testing::TestWithParam<BufferReuseCase> {};

TEST_P(ChannelUdpBufferReuse, BufferOverwrittenRightAfterSendDoesNotChangeWhatArrives) {
  const auto [name, size, reliable] = GetParam();
  std::vector<std::shared_ptr<FaultInjector>> faults = {
      nullptr, reliable ? std::make_shared<FaultInjector>(FaultConfig{.drop = 0.1, .seed = 9}) : nullptr};
  Manifest manifest{.ordering = Ordering::fifo};
  if (reliable) manifest.reliability = Reliability{.kind = Reliability::Kind::all};
  Group group(manifest, "127.0.0.1", faults);
  // 150 x 16 KiB (~4 MiB of skb memory per receiver): within the 8 MiB socket buffers even
  // when the receivers' runtime thread is slow to drain.
  const int kMessages = size > 1024 ? 150 : 400;
  std::string buffer(size, ' ');
  std::vector<Completion> completions;
  auto contents = [&](int i) {
    std::string text = "message " + std::to_string(i) + " ";
    std::string filled(size, ' ');
    for (std::size_t k = 0; k < size; ++k) filled[k] = text[k % text.size()];
    return filled;
  };
  for (int i = 0; i < kMessages; ++i) {
    const std::string expected = contents(i);
    std::copy(expected.begin(), expected.end(), buffer.begin());
    completions.push_back(group.members[0]->send(std::string_view(buffer)));
    std::fill(buffer.begin(), buffer.end(), '#');  // the caller reuses its buffer at once
  }
  if (reliable)
    for (auto& completion : completions) ASSERT_EQ(completion.wait_for(20s), SendStatus::delivered);
  for (int receiver : {1, 2})
    for (int i = 0; i < kMessages; ++i) {
      auto message = group.members[receiver]->recv(5s);
      ASSERT_TRUE(message) << "receiver " << receiver << " message " << i;
      ASSERT_EQ(text_of(*message), contents(i)) << "receiver " << receiver << " message " << i;
    }
  if (reliable) EXPECT_GT(group.members[0]->stats().retransmissions, 0u);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ChannelUdpBufferReuse,
                         ::testing::Values(BufferReuseCase{"unreliable_64", 64, false},
                                           BufferReuseCase{"unreliable_16k", 16384, false},
                                           BufferReuseCase{"reliable_64", 64, true},
                                           BufferReuseCase{"reliable_16k", 16384, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ChannelUdp, QuorumOfTwoCompletesWhileThirdIsGone) {
  Group group({.reliability = Reliability{.kind = Reliability::Kind::fraction, .fraction = 0.67}});
  // Member c disappears: its socket closes, so nothing it would have acked arrives.
  group.members[2].reset();
  std::vector<Completion> completions;
  for (int i = 0; i < 100; ++i) completions.push_back(group.members[0]->send("x"));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(5s), SendStatus::delivered);
}

TEST(ChannelUdp, AsyncHandlerUpdateAndPlan) {
  Group group({});
  std::atomic<int> received{0};
  std::atomic<int> crc_messages{0};
  group.members[1]->on_message([&](Message message) {
    if (text_of(message).rfind("checked", 0) == 0) ++crc_messages;
    ++received;
  });
  group.members[0]->send("plain", {.targets = Targets{.kind = Targets::Kind::subset, .names = {"b"}}});
  group.members[0]->update({.error_checking = ErrorChecking::crc32c});
  EXPECT_NE(group.members[0]->plan().find("crc32c"), std::string::npos);
  group.members[0]->send("checked", {.targets = Targets{.kind = Targets::Kind::subset, .names = {"b"}}});
  for (int i = 0; i < 200 && received < 2; ++i) std::this_thread::sleep_for(5ms);  // bounded wait, not a timing assertion
  EXPECT_EQ(received.load(), 2);
  EXPECT_EQ(crc_messages.load(), 1);
  EXPECT_FALSE(group.members[2]->recv(50ms)) << "c was not a target";
}

TEST(ChannelUdp, EngineFdsAreHighAndCloseOnExec) {
  Group group({});
  int engine_fds = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    std::error_code error;
    const std::string what = std::filesystem::read_symlink(entry.path(), error).string();
    if (error || fd < 3) continue;
    // Every socket, eventfd, timerfd and epoll instance of this process belongs to the engine.
    if (what.rfind("socket:", 0) != 0 && what.rfind("anon_inode:", 0) != 0) continue;
    const int flags = fcntl(fd, F_GETFD);
    if (flags < 0) continue;  // the directory's own fd, already closed
    EXPECT_TRUE(flags & FD_CLOEXEC) << what << " fd " << fd;
    EXPECT_GE(fd, 16) << what << " fd " << fd << " is low-numbered";
    ++engine_fds;
  }
  EXPECT_GE(engine_fds, 6);  // 3 sockets + 3 timerfds (+ epoll + eventfd)
}

// IP multicast needs a multicast-capable interface and a route; a private network namespace
// gives both without touching the host. The test runs in its own process (ctest runs each
// test separately), and the namespace disappears with it.
bool enter_private_network_namespace(std::string& why) {
  if (geteuid() != 0) {
    why = "needs root to create a network namespace";
    return false;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    why = std::string("unshare(CLONE_NEWNET) failed: ") + strerror(errno);
    return false;
  }
  if (std::system("ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo") != 0) {
    why = "could not configure lo in the private namespace (iproute2 missing?)";
    return false;
  }
  return true;
}

TEST(ChannelUdp, IpMulticastGroupReachesAllMembersWithOneSend) {
  std::string why;
  if (!enter_private_network_namespace(why)) GTEST_SKIP() << why;
  Group group({.multicast = Multicast{.group = "239.255.7.7:47001"},
               .ordering = Ordering::fifo,
               .reliability = Reliability{.kind = Reliability::Kind::all}});
  constexpr int kMessages = 500;
  std::vector<Completion> completions;
  for (int i = 0; i < kMessages; ++i) completions.push_back(group.members[0]->send("m" + std::to_string(i)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(10s), SendStatus::delivered);
  for (int receiver : {1, 2})
    for (int i = 0; i < kMessages; ++i) {
      auto message = group.members[receiver]->recv(5s);
      ASSERT_TRUE(message);
      ASSERT_EQ(text_of(*message), "m" + std::to_string(i));
    }
  const Stats stats = group.members[0]->stats();
  // One multicast packet per message reached both receivers (retransmissions aside).
  EXPECT_EQ(stats.packets_sent - stats.retransmissions, static_cast<std::uint64_t>(kMessages));
  EXPECT_NE(group.members[0]->plan().find("239.255.7.7"), std::string::npos);
}

}  // namespace
}  // namespace tmc
