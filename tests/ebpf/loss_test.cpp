// Loss injector (ebpf/bpf/loss.bpf.c) through bpf_prog_test_run with packet fixtures; the
// loss rates are measured over many runs of the same frame.
#include "tmc/bpf/loss_injector.h"

#include <gtest/gtest.h>

#include "bpf_test_support.h"

namespace tmc::bpf::test {
namespace {

class LossTest : public ::testing::Test {
 protected:
  void SetUp() override { TMC_REQUIRE_BPF(); }
};

LossConfig config_of(double rate, uint64_t seed = 0, std::vector<uint16_t> ports = {},
                     std::optional<LossConfig::Gilbert> gilbert = std::nullopt) {
  LossConfig config;
  config.rate = rate;
  config.seed = seed;
  config.ports = std::move(ports);
  config.gilbert = gilbert;
  return config;
}

Bytes udp_to(uint16_t port) {
  Endpoint to = kReceiver;
  to.port = port;
  return udp_frame(kSender, to, Bytes(32, 0x22));
}

TEST_F(LossTest, RateZeroNeverDropsRateOneAlwaysDrops) {
  LossInjector none(config_of(0.0, 1));
  EXPECT_EQ(run_tc(none.program_fd(), udp_to(9000), 1000).retval, kPass);
  EXPECT_EQ(none.stats().seen, 1000u);
  EXPECT_EQ(none.stats().dropped, 0u);

  LossInjector all(config_of(1.0, 1));
  EXPECT_EQ(run_tc(all.program_fd(), udp_to(9000), 1000).retval, kDrop);
  EXPECT_EQ(all.stats().dropped, 1000u);
}

TEST_F(LossTest, MeasuredRateMatchesTheConfiguredRate) {
  constexpr uint32_t kPackets = 200000;
  for (double rate : {0.01, 0.25}) {
    LossInjector injector(config_of(rate, 12345));
    run_tc(injector.program_fd(), udp_to(9000), kPackets);
    LossStats stats = injector.stats();
    ASSERT_EQ(stats.seen, kPackets);
    double measured = double(stats.dropped) / stats.seen;
    EXPECT_NEAR(measured, rate, rate * 0.1) << "rate " << rate;
  }
}

TEST_F(LossTest, NeverDropsArp) {
  LossInjector all(config_of(1.0));
  Bytes arp = arp_frame();
  auto result = run_tc(all.program_fd(), arp, 100);
  EXPECT_EQ(result.retval, kPass);
  EXPECT_EQ(result.output, arp);
  EXPECT_EQ(all.stats().seen, 0u);
}

TEST_F(LossTest, PortFilterLimitsLossToListedPorts) {
  LossInjector injector(config_of(1.0, 0, {7001, 7003}));
  EXPECT_EQ(run_tc(injector.program_fd(), udp_to(7001)).retval, kDrop);
  EXPECT_EQ(run_tc(injector.program_fd(), udp_to(7003)).retval, kDrop);
  EXPECT_EQ(run_tc(injector.program_fd(), udp_to(7002)).retval, kPass);
  Endpoint from = kSender;
  from.port = 7003;  // source port listed
  EXPECT_EQ(run_tc(injector.program_fd(), udp_frame(from, kReceiver /* 7001 */, Bytes(8))).retval, kDrop);
  Endpoint to = kReceiver;
  to.port = 9;
  EXPECT_EQ(run_tc(injector.program_fd(), udp_frame(kSender, to, Bytes(8))).retval, kPass);
  EXPECT_EQ(injector.stats().seen, 3u);
  EXPECT_EQ(injector.stats().dropped, 3u);
}

TEST_F(LossTest, NeverDropsIcmpv6AlsoBehindAHopByHopHeader) {
  LossInjector all(config_of(1.0));
  Ipv6Layout neighbour_discovery;
  neighbour_discovery.upper_layer = kIcmpv6;
  Ipv6Layout multicast_listener_report;  // MLD: ICMPv6 behind a hop-by-hop router alert
  multicast_listener_report.upper_layer = kIcmpv6;
  multicast_listener_report.extensions = {kHopByHop};
  for (const auto& layout : {neighbour_discovery, multicast_listener_report}) {
    Bytes frame = udp6_frame(kSender6, kReceiver6, Bytes(24, 0), layout);
    auto result = run_tc(all.program_fd(), frame, 50);
    EXPECT_EQ(result.retval, kPass);
    EXPECT_EQ(result.output, frame);
  }
  EXPECT_EQ(all.stats().seen, 0u);
  EXPECT_EQ(run_tc(all.program_fd(), udp6_frame(kSender6, kReceiver6, Bytes(8))).retval, kDrop) << "IPv6 UDP is eligible";
}

TEST_F(LossTest, PortFilterFindsIpv6PortsBehindExtensionHeaders) {
  LossInjector injector(config_of(1.0, 0, {7001}));
  Ipv6Layout options;
  options.extensions = {kDestinationOptions, kRouting};
  Endpoint6 other = kReceiver6;
  other.port = 7002;
  EXPECT_EQ(run_tc(injector.program_fd(), udp6_frame(kSender6, kReceiver6, Bytes(8), options)).retval, kDrop);
  EXPECT_EQ(run_tc(injector.program_fd(), udp6_frame(kSender6, kReceiver6, Bytes(8))).retval, kDrop);
  EXPECT_EQ(run_tc(injector.program_fd(), udp6_frame(kSender6, other, Bytes(8), options)).retval, kPass);
  EXPECT_EQ(injector.stats().dropped, 2u);
}

TEST_F(LossTest, GilbertElliottLosesAtTheStationaryRateInBursts) {
  // Good->bad 1%, bad->good 10%, bad loses everything: P(bad) = 0.01 / 0.11 = 9.09%.
  constexpr uint32_t kPackets = 200000;
  LossConfig config = config_of(0.0, 99, {}, LossConfig::Gilbert{0.01, 0.10, 1.0});
  LossInjector injector(config);
  run_tc(injector.program_fd(), udp_to(9000), kPackets);
  LossStats stats = injector.stats();
  double measured = double(stats.dropped) / stats.seen;
  EXPECT_NEAR(measured, 0.01 / 0.11, 0.0909 * 0.15);

  // Bursts: with the same average loss, Bernoulli loss would rarely drop 2 in a row; here the
  // mean burst is 1/0.10 = 10 packets. Observe it packet by packet.
  LossInjector bursty(config);
  int drops = 0, bursts = 0;
  bool previous_dropped = false;
  for (int i = 0; i < 20000; i++) {
    bool dropped = run_tc(bursty.program_fd(), udp_to(9000)).retval == kDrop;
    if (dropped) {
      drops++;
      if (!previous_dropped) bursts++;
    }
    previous_dropped = dropped;
  }
  ASSERT_GT(bursts, 0);
  EXPECT_GT(double(drops) / bursts, 5.0) << "mean burst length";
}

TEST_F(LossTest, RejectsBadConfiguration) {
  EXPECT_THROW(LossInjector(config_of(1.5)), Error);
  EXPECT_THROW(LossInjector(config_of(-0.1)), Error);
  LossConfig too_many_ports = config_of(0.1);
  too_many_ports.ports.assign(17, 1);
  EXPECT_THROW(LossInjector{too_many_ports}, Error);
  try {
    LossInjector injector(config_of(2));
    ADD_FAILURE() << "accepted rate 2";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("rate"), std::string::npos) << error.what();
    EXPECT_EQ(error.error_code(), EINVAL);
  }
}

}  // namespace
}  // namespace tmc::bpf::test
