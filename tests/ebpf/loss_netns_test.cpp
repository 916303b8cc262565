// Loss injector end to end through the tmc-loss CLI, as the harness uses it: three hosts on a
// bridge, loss on the receiver's eth0 ingress; 20k datagrams measure the rate; detaching
// restores 0% loss. Also the CLI's argument and error handling.
#include <gtest/gtest.h>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "udp_helpers.h"

namespace tmc::bpf::test {
namespace {

const std::string kCli = TMC_LOSS_CLI;
constexpr uint16_t kPort = 7001;

// Sends `count` datagrams from host 1 to host 0 in bursts, draining the receiver between
// bursts so its socket never overflows. Returns how many arrived.
size_t send_and_count(UdpSocket& sender, UdpSocket& receiver, int count) {
  size_t received = 0;
  uint8_t payload[64] = {};
  for (int sent = 0; sent < count;) {
    for (int burst = 0; burst < 500 && sent < count; burst++, sent++) {
      put32(payload, static_cast<uint32_t>(sent));
      sender.send_to(Testbed::ip(0), kPort, payload, sizeof payload);
    }
    received += receiver.drain(nullptr, 5);
  }
  received += receiver.drain(nullptr, 50);
  return received;
}

bool parse_stats(const std::string& text, unsigned long long* seen, unsigned long long* dropped) {
  return std::sscanf(text.c_str(), "seen=%llu dropped=%llu", seen, dropped) == 2;
}

TEST(LossNetnsTest, MeasuredRateIsTheConfiguredRateAndDetachRestoresZeroLoss) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(3);
  UdpSocket receiver(bed.host(0), Testbed::ip(0), kPort);
  UdpSocket sender(bed.host(1), Testbed::ip(1), 0);
  const std::string in_receiver = "ip netns exec " + bed.host(0) + " " + kCli;

  std::string output;
  ASSERT_EQ(run_command(in_receiver + " attach --dev eth0 --rate 0.01 --seed 4242 --ports " + std::to_string(kPort),
                        &output),
            0)
      << output;
  constexpr int kPackets = 20000;
  size_t received = send_and_count(sender, receiver, kPackets);
  double loss = 1.0 - double(received) / kPackets;
  std::printf("configured 1%%, measured %.3f%% (%zu of %d lost)\n", loss * 100, kPackets - received, kPackets);
  EXPECT_GE(loss, 0.008) << "received " << received;
  EXPECT_LE(loss, 0.012) << "received " << received;

  ASSERT_EQ(run_command(in_receiver + " stats --dev eth0", &output), 0) << output;
  unsigned long long seen = 0, dropped = 0;
  ASSERT_TRUE(parse_stats(output, &seen, &dropped)) << output;
  EXPECT_EQ(seen, unsigned(kPackets)) << "only the listed port is eligible";
  EXPECT_EQ(dropped, kPackets - received) << "every loss is the injector's";

  ASSERT_EQ(run_command(in_receiver + " detach --dev eth0", &output), 0) << output;
  EXPECT_EQ(send_and_count(sender, receiver, kPackets), size_t(kPackets)) << "0% loss after detach";
  EXPECT_NE(run_command(in_receiver + " stats --dev eth0", &output), 0);
}

TEST(LossNetnsTest, GilbertBurstsAndReattachReplaceTheFilter) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(2);
  UdpSocket receiver(bed.host(0), Testbed::ip(0), kPort);
  UdpSocket sender(bed.host(1), Testbed::ip(1), 0);
  const std::string in_receiver = "ip netns exec " + bed.host(0) + " " + kCli;
  std::string output;
  // A first attach, then a second one replacing it (no stacking of filters).
  ASSERT_EQ(run_command(in_receiver + " attach --dev eth0 --rate 1", &output), 0) << output;
  ASSERT_EQ(run_command(in_receiver + " attach --dev eth0 --rate 0 --seed 5 --gilbert 0.01,0.1,1", &output), 0)
      << output;
  constexpr int kPackets = 10000;
  size_t received = send_and_count(sender, receiver, kPackets);
  double loss = 1.0 - double(received) / kPackets;
  EXPECT_NEAR(loss, 0.01 / 0.11, 0.05) << "stationary loss of the bad state";
  std::string filters;
  run_command("ip netns exec " + bed.host(0) + " tc filter show dev eth0 ingress", &filters);
  size_t count = 0;
  for (size_t at = filters.find("handle 0x544d"); at != std::string::npos;
       at = filters.find("handle 0x544d", at + 1))
    count++;
  EXPECT_EQ(count, 1u) << filters;
  ASSERT_EQ(run_command(in_receiver + " detach --dev eth0", &output), 0) << output;
}

TEST(LossCliTest, BadArgumentsGiveAClearErrorAndExitCode2) {
  struct Case {
    std::string arguments;
    std::string message;
  };
  const Case cases[] = {
      {"", "missing command"},
      {"explode --dev lo", "unknown command"},
      {"attach --rate 0.1", "--dev IFACE is required"},
      {"attach --dev lo", "--rate FRACTION is required"},
      {"attach --dev lo --rate 1.5", "--rate must be a number within [0, 1]"},
      {"attach --dev lo --rate abc", "--rate must be"},
      {"attach --dev lo --rate 0.1 --ports 80,x", "--ports entry"},
      {"attach --dev lo --rate 0.1 --ports 0", "--ports entry must be 1..65535"},
      {"attach --dev lo --rate 0.1 --gilbert 0.1,0.2", "--gilbert takes"},
      {"attach --dev lo --rate 0.1 --gilbert 0.1,0.2,7", "LOSS_IN_BAD"},
      {"attach --dev lo --rate 0.1 --seed -3", "--seed"},
      {"detach --dev lo --rate 0.1", "only for attach"},
      {"attach --dev lo --rate", "needs a value"},
  };
  for (const auto& c : cases) {
    std::string output;
    EXPECT_EQ(run_command(kCli + " " + c.arguments, &output), 2) << c.arguments << "\n" << output;
    EXPECT_NE(output.find(c.message), std::string::npos) << c.arguments << "\n" << output;
    EXPECT_NE(output.find("usage:"), std::string::npos);
  }
}

TEST(LossCliTest, MissingInterfaceOrFilterExitsNonzeroWithAMessage) {
  TMC_REQUIRE_BPF();
  if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Testbed bed(1);
  const std::string in_host = "ip netns exec " + bed.host(0) + " " + kCli;
  std::string output;
  EXPECT_EQ(run_command(in_host + " attach --dev nosuchif0 --rate 0.1", &output), 1);
  EXPECT_NE(output.find("no interface 'nosuchif0'"), std::string::npos) << output;
  EXPECT_EQ(run_command(in_host + " stats --dev eth0", &output), 1);
  EXPECT_NE(output.find("no tmc-loss filter"), std::string::npos) << output;
  EXPECT_EQ(run_command(in_host + " detach --dev eth0", &output), 1);
  EXPECT_NE(output.find("no tmc-loss filter"), std::string::npos) << output;
}

}  // namespace
}  // namespace tmc::bpf::test
