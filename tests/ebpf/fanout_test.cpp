// Fan-out (ebpf/bpf/fanout.bpf.c) through bpf_prog_test_run with packet fixtures. The copies
// bpf_clone_redirect emits leave through the loopback device of a private network namespace
// (nothing leaves the test), where an AF_PACKET socket captures them.
#include "tmc/bpf/fanout.h"

#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "bpf_test_support.h"
#include "transport/kernel_fanout.h"

namespace tmc::bpf::test {
namespace {

const Endpoint kMembers[3] = {
    {"10.77.0.1", 7001, {0x02, 0, 0, 0, 0, 0x01}},
    {"10.77.0.2", 7002, {0x02, 0, 0, 0, 0, 0x02}},
    {"10.77.0.3", 7003, {0x02, 0, 0, 0, 0, 0x03}},
};

FanoutMember member_of(const Endpoint& endpoint) {
  FanoutMember member;
  member.ipv4 = ipv4_bytes(endpoint.ipv4);
  member.port = endpoint.port;
  member.mac = endpoint.mac;
  return member;
}

class FanoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TMC_REQUIRE_BPF();
    static bool isolated = false;
    if (!isolated) {
      // A private netns: copies go to its loopback, which forwards nothing anywhere.
      ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ifreq request{};
      std::strcpy(request.ifr_name, "lo");
      ASSERT_EQ(ioctl(fd, SIOCGIFFLAGS, &request), 0);
      request.ifr_flags |= IFF_UP;
      ASSERT_EQ(ioctl(fd, SIOCSIFFLAGS, &request), 0);
      close(fd);
      isolated = true;
    }
    capture_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
    ASSERT_GE(capture_, 0) << std::strerror(errno);
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
    ASSERT_EQ(bind(capture_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    loader_ = std::make_unique<FanoutLoader>();
    loader_->set_members(kChannel, {member_of(kMembers[0]), member_of(kMembers[1]), member_of(kMembers[2])});
  }
  void TearDown() override {
    if (capture_ >= 0) close(capture_);
  }

  // Frames the program transmitted on loopback since the last call.
  std::vector<Bytes> captured() {
    std::vector<Bytes> frames;
    for (int i = 0; i < 64; i++) {
      Bytes buffer(2048);
      sockaddr_ll from{};
      socklen_t length = sizeof from;
      ssize_t n = recvfrom(capture_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &length);
      if (n < 0) break;
      if (from.sll_pkttype != PACKET_OUTGOING) continue;
      buffer.resize(static_cast<size_t>(n));
      frames.push_back(buffer);
    }
    return frames;
  }

  static void expect_addressed_to(const Bytes& frame, const Endpoint& member, const Bytes& payload) {
    ASSERT_EQ(frame.size(), kPayloadOffset + payload.size());
    EXPECT_TRUE(std::equal(member.mac.begin(), member.mac.end(), frame.begin())) << "destination MAC";
    auto address = ipv4_bytes(member.ipv4);
    EXPECT_TRUE(std::equal(address.begin(), address.end(), frame.begin() + kEthernetLength + 16)) << "destination IP";
    EXPECT_EQ(get16(frame.data() + kEthernetLength + kIpv4Length + 2), member.port);
    EXPECT_EQ(ipv4_header_checksum(frame), 0) << "IPv4 checksum";
    EXPECT_EQ(udp_checksum(frame), 0) << "UDP checksum";
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), frame.begin() + kPayloadOffset)) << "payload";
  }

  static constexpr uint32_t kChannel = 21;
  int capture_ = -1;
  std::unique_ptr<FanoutLoader> loader_;
};

TEST_F(FanoutTest, OneSendBecomesOneCopyPerMember) {
  TmcHeader header;
  header.channel_id = kChannel;
  Bytes payload = tmc_payload(header);
  Bytes frame = udp_frame(kSender, kMembers[0], payload);
  captured();
  auto result = run_tc(loader_->program_fd(), frame);
  EXPECT_EQ(result.retval, kPass);
  // Copies leave in member order for members[0..n-2]; the original goes to the last member.
  auto copies = captured();
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0], frame) << "the first copy is the packet as sent, to members[0]";
  expect_addressed_to(copies[0], kMembers[0], payload);
  expect_addressed_to(copies[1], kMembers[1], payload);
  expect_addressed_to(result.output, kMembers[2], payload);
  // Only the destination changed (MAC, IP, port and the two checksums).
  Bytes masked_in = frame, masked_out = result.output;
  for (Bytes* b : {&masked_in, &masked_out}) {
    for (size_t i = 0; i < 6; i++) (*b)[i] = 0;                                                  // dst MAC
    for (size_t i : {24, 25, 30, 31, 32, 33, 36, 37, 40, 41}) (*b)[i] = 0;  // IP csum, dst IP, dst port, UDP csum
  }
  EXPECT_EQ(masked_in, masked_out);

  FanoutCounters counters = loader_->counters(kChannel);
  EXPECT_EQ(counters.fanned_out, 1u);
  EXPECT_EQ(counters.copies, 2u);
  EXPECT_EQ(counters.copy_errors, 0u);
}

TEST_F(FanoutTest, AZeroUdpChecksumStaysZero) {
  TmcHeader header;
  header.channel_id = kChannel;
  Bytes frame = udp_frame(kSender, kMembers[0], tmc_payload(header));
  frame[kEthernetLength + kIpv4Length + 6] = 0;
  frame[kEthernetLength + kIpv4Length + 7] = 0;
  captured();
  run_tc(loader_->program_fd(), frame);
  auto copies = captured();
  ASSERT_EQ(copies.size(), 2u);
  for (const auto& copy : copies) {
    EXPECT_EQ(get16(copy.data() + kEthernetLength + kIpv4Length + 6), 0);
    EXPECT_EQ(ipv4_header_checksum(copy), 0);
  }
}

TEST_F(FanoutTest, UnicastTrafficIsNotFannedOut) {
  std::vector<std::pair<std::string, Bytes>> cases;
  TmcHeader base;
  base.channel_id = kChannel;
  {
    TmcHeader h = base;
    h.stream = 0;
    cases.emplace_back("point-to-point stream", tmc_frame(h, kSender, kMembers[0]));
  }
  {
    TmcHeader h = base;
    h.flags = TMC_FLAG_RETRANSMIT;
    cases.emplace_back("retransmission", tmc_frame(h, kSender, kMembers[0]));
  }
  {
    TmcHeader h = base;
    h.type = TMC_TYPE_ACK;
    cases.emplace_back("ack", tmc_frame(h, kSender, kMembers[0]));
  }
  cases.emplace_back("addressed to another member", tmc_frame(base, kSender, kMembers[1]));
  {
    TmcHeader h = base;
    h.channel_id = kChannel + 1;
    cases.emplace_back("unregistered channel", tmc_frame(h, kSender, kMembers[0]));
  }
  {
    TmcHeader h = base;
    h.version = 2;
    cases.emplace_back("malformed", tmc_frame(h, kSender, kMembers[0]));
  }
  cases.emplace_back("not TMC", udp_frame(kSender, kMembers[0], Bytes(64, 0x33)));
  {  // same port as members[0], but the channel's members are IPv4
    TmcHeader h = base;
    Endpoint6 to = kReceiver6;
    to.port = kMembers[0].port;
    cases.emplace_back("IPv6 to a channel of IPv4 members", udp6_frame(kSender6, to, tmc_payload(h)));
  }
  cases.emplace_back("ARP", arp_frame());
  captured();
  for (const auto& [name, frame] : cases) {
    auto result = run_tc(loader_->program_fd(), frame);
    EXPECT_EQ(result.retval, kPass) << name;
    EXPECT_EQ(result.output, frame) << name;
    EXPECT_TRUE(captured().empty()) << name;
  }
  EXPECT_EQ(loader_->counters(kChannel).fanned_out, 0u);
}

// The engine's GSO class (transport::fanout_gso_class) is the program's decision, packet by
// packet: the engine batches into one UDP GSO super-packet only datagrams of one class, and the
// program judges a super-packet by its first header — so a class-1 datagram must be exactly
// one the program fans out. Every combination of type, flag, stream, destination and channel.
TEST_F(FanoutTest, EngineGsoClassIsTheProgramsDecision) {
  auto engine_address = [](const Endpoint& endpoint) {
    return *core::SocketAddress::parse(endpoint.ipv4 + ":" + std::to_string(endpoint.port));
  };
  const core::SocketAddress first_member = engine_address(kMembers[0]);
  int fanned = 0, passed = 0;
  for (uint8_t type = 1; type <= TMC_TYPE_MAX; ++type)
    for (uint16_t flags : {0u, unsigned(TMC_FLAG_RETRANSMIT), unsigned(TMC_FLAG_ACK_REQUESTED | TMC_FLAG_ORDERED),
                           unsigned(TMC_FLAG_ACK_REQUESTED | TMC_FLAG_RETRANSMIT)})
      for (uint16_t stream : {0, 1, 9})
        for (const Endpoint* to : {&kMembers[0], &kMembers[1]})
          for (uint32_t channel : {kChannel, kChannel + 1}) {
            TmcHeader header;
            header.type = type;
            header.flags = flags;
            header.stream = stream;
            header.channel_id = channel;
            const Bytes payload = tmc_payload(header);
            const Bytes frame = udp_frame(kSender, *to, payload);
            const std::string name = "type " + std::to_string(type) + " flags " + std::to_string(flags) + " stream " +
                                     std::to_string(stream) + " to " + to->ipv4 + " channel " + std::to_string(channel);
            captured();
            run_tc(loader_->program_fd(), frame);
            const bool program_fans_out = !captured().empty();
            const std::uint8_t engine_class = transport::fanout_gso_class(
                kChannel, first_member, engine_address(*to),
                std::span(reinterpret_cast<const std::byte*>(payload.data()), payload.size()));
            EXPECT_EQ(engine_class, program_fans_out ? 1 : 0) << name;
            (program_fans_out ? fanned : passed)++;
          }
  EXPECT_EQ(fanned, 2 * 2 * 2) << "DATA and SEQUENCE, 2 flag sets without RETRANSMIT, 2 group streams";
  EXPECT_GT(passed, 0);
}

TEST_F(FanoutTest, MembershipChangesTakeEffect) {
  TmcHeader header;
  header.channel_id = kChannel;
  Bytes frame = tmc_frame(header, kSender, kMembers[0]);
  loader_->set_members(kChannel, {member_of(kMembers[0]), member_of(kMembers[2])});
  captured();
  auto result = run_tc(loader_->program_fd(), frame);
  auto copies = captured();
  ASSERT_EQ(copies.size(), 1u);
  expect_addressed_to(copies[0], kMembers[0], tmc_payload(header));
  expect_addressed_to(result.output, kMembers[2], tmc_payload(header));

  loader_->set_members(kChannel, {member_of(kMembers[0])});
  result = run_tc(loader_->program_fd(), frame);
  EXPECT_TRUE(captured().empty()) << "a single member needs no copy";
  EXPECT_EQ(result.output, frame);

  loader_->remove_channel(kChannel);
  result = run_tc(loader_->program_fd(), frame);
  EXPECT_TRUE(captured().empty());
  EXPECT_EQ(result.output, frame);
}

// Reference checksums computed from scratch over a frame whose IPv4 header is `ihl` words long
// (RFC 791 header checksum; RFC 768 UDP checksum with a computed 0 sent as 0xFFFF).
uint16_t reference_ipv4_check(Bytes frame) {
  uint8_t* ip = frame.data() + kEthernetLength;
  const size_t header = (ip[0] & 0x0F) * 4u;
  put16(ip + 10, 0);
  return fold(sum16(ip, header));
}
uint16_t reference_udp_check(Bytes frame) {
  uint8_t* ip = frame.data() + kEthernetLength;
  uint8_t* udp = ip + (ip[0] & 0x0F) * 4u;
  put16(udp + 6, 0);
  const uint16_t length = get16(udp + 4);
  uint32_t sum = sum16(ip + 12, 8) + 17 + length;
  const uint16_t check = fold(sum16(udp, length, sum));
  return check == 0 ? 0xFFFF : check;
}

// The incrementally updated checksums (IPv4 header by the program itself, RFC 1624; UDP by
// bpf_l4_csum_replace) equal a from-scratch computation for every copy, over seeded random
// addresses, ports (including 0xFFFF and equal ports), payload lengths (odd ones too), TOS
// and IP ids, so carries and the 0/0xFFFF cases of one's complement arithmetic are exercised.
TEST_F(FanoutTest, RewrittenChecksumsMatchAReferenceComputation) {
  std::mt19937 random(20261201);
  auto address = [&] {
    const uint32_t special[] = {0x00000000u, 0xFFFFFFFFu, 0x0A4D0001u, 0xFFFF0000u, 0x0000FFFFu};
    uint32_t value = random() % 4 == 0 ? special[random() % 5] : static_cast<uint32_t>(random());
    char text[INET_ADDRSTRLEN];
    in_addr in{htonl(value)};
    inet_ntop(AF_INET, &in, text, sizeof text);
    return std::string(text);
  };
  auto port = [&] {
    const uint16_t special[] = {1, 0xFFFF, 0x8000, 0x00FF};
    return random() % 4 == 0 ? special[random() % 4] : static_cast<uint16_t>(1 + random() % 65535);
  };
  constexpr uint32_t kChannelSweep = 31;
  int checked = 0;
  for (int trial = 0; trial < 300; trial++) {
    Endpoint members[3];
    for (int i = 0; i < 3; i++) members[i] = {address(), port(), {0x02, 0, 0, 0, uint8_t(trial), uint8_t(i)}};
    if (trial % 5 == 0) members[2].port = members[1].port;   // no port change for one copy
    if (trial % 7 == 0) members[1].ipv4 = members[0].ipv4;   // no address change for one copy
    loader_->set_members(kChannelSweep, {member_of(members[0]), member_of(members[1]), member_of(members[2])});
    TmcHeader header;
    header.channel_id = kChannelSweep;
    header.sequence = random();
    Bytes body(random() % 200, 0);
    for (auto& byte : body) byte = static_cast<uint8_t>(random());
    const Bytes payload = tmc_payload(header, body);
    const Endpoint sender{address(), port(), {0x02, 0, 0, 0, 0, 0x99}};
    Bytes frame = udp_frame(sender, members[0], payload, static_cast<uint8_t>(random()));
    uint8_t* ip = frame.data() + kEthernetLength;
    put16(ip + 4, static_cast<uint16_t>(random()));  // IP id, then the header checksum again
    put16(ip + 10, 0);
    put16(ip + 10, fold(sum16(ip, kIpv4Length)));
    captured();
    auto result = run_tc(loader_->program_fd(), frame);
    ASSERT_EQ(result.retval, kPass) << "trial " << trial;
    auto copies = captured();
    ASSERT_EQ(copies.size(), 2u) << "trial " << trial;
    const Bytes* out[3] = {&copies[0], &copies[1], &result.output};
    for (int i = 0; i < 3; i++) {
      const Bytes& copy = *out[i];
      ASSERT_EQ(copy.size(), frame.size());
      const uint8_t* copy_ip = copy.data() + kEthernetLength;
      EXPECT_EQ(get16(copy_ip + 10), reference_ipv4_check(copy)) << "trial " << trial << " member " << i;
      EXPECT_EQ(get16(copy_ip + kIpv4Length + 6), reference_udp_check(copy)) << "trial " << trial << " member " << i;
      EXPECT_EQ(get16(copy_ip + kIpv4Length + 2), members[i].port);
      auto expected = ipv4_bytes(members[i].ipv4);
      EXPECT_TRUE(std::equal(expected.begin(), expected.end(), copy_ip + 16)) << "trial " << trial;
      checked++;
    }
  }
  EXPECT_EQ(checked, 900);
  EXPECT_EQ(loader_->counters(kChannelSweep).copy_errors, 0u);
}

// IPv4 options (IHL 6): the UDP header moves by 4 bytes; the program rewrites the right bytes
// and leaves the options alone.
TEST_F(FanoutTest, PacketsWithIpOptionsAreRewrittenAtTheRightOffsets) {
  TmcHeader header;
  header.channel_id = kChannel;
  const Bytes payload = tmc_payload(header);
  const Bytes options = {0x01, 0x01, 0x01, 0x00};  // NOP NOP NOP, end of options (RFC 791)
  Bytes frame = udp_frame(kSender, kMembers[0], payload);
  frame.insert(frame.begin() + kEthernetLength + kIpv4Length, options.begin(), options.end());
  uint8_t* ip = frame.data() + kEthernetLength;
  ip[0] = 0x46;
  put16(ip + 2, static_cast<uint16_t>(get16(ip + 2) + 4));
  put16(ip + 10, reference_ipv4_check(frame));
  put16(ip + 24 + 6, reference_udp_check(frame));
  captured();
  auto result = run_tc(loader_->program_fd(), frame);
  ASSERT_EQ(result.retval, kPass);
  auto copies = captured();
  ASSERT_EQ(copies.size(), 2u);
  const Bytes* out[3] = {&copies[0], &copies[1], &result.output};
  for (int i = 0; i < 3; i++) {
    const Bytes& copy = *out[i];
    ASSERT_EQ(copy.size(), frame.size());
    const uint8_t* copy_ip = copy.data() + kEthernetLength;
    EXPECT_TRUE(std::equal(kMembers[i].mac.begin(), kMembers[i].mac.end(), copy.begin())) << i;
    auto expected = ipv4_bytes(kMembers[i].ipv4);
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), copy_ip + 16)) << i;
    EXPECT_TRUE(std::equal(options.begin(), options.end(), copy_ip + 20)) << "options untouched " << i;
    EXPECT_EQ(get16(copy_ip + 24), kSender.port) << "source port " << i;
    EXPECT_EQ(get16(copy_ip + 24 + 2), kMembers[i].port) << i;
    EXPECT_EQ(get16(copy_ip + 10), reference_ipv4_check(copy)) << i;
    EXPECT_EQ(get16(copy_ip + 24 + 6), reference_udp_check(copy)) << i;
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), copy.begin() + kEthernetLength + 24 + kUdpLength)) << i;
  }
}

const Endpoint6 kMembers6[3] = {
    {"fd00:77::1", 7001, {0x02, 0, 0, 0, 0, 0x01}},
    {"fd00:77::2", 7002, {0x02, 0, 0, 0, 0, 0x02}},
    {"fd00:77:1::3", 7003, {0x02, 0, 0, 0, 0, 0x03}},
};

FanoutMember member_of(const Endpoint6& endpoint) {
  return FanoutMember::parse("[" + endpoint.ipv6 + "]:" + std::to_string(endpoint.port), [&] {
    char text[32];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", endpoint.mac[0], endpoint.mac[1], endpoint.mac[2],
                  endpoint.mac[3], endpoint.mac[4], endpoint.mac[5]);
    return std::string(text);
  }());
}

// With a destination-options header (the field-by-field path) and without one (the program's
// stack copy of the headers, one store per copy).
class FanoutIpv6Test : public FanoutTest, public ::testing::WithParamInterface<bool> {};

TEST_P(FanoutIpv6Test, OneIpv6SendBecomesOneCopyPerMember) {
  constexpr uint32_t kChannel6 = 22;
  loader_->set_members(kChannel6, {member_of(kMembers6[0]), member_of(kMembers6[1]), member_of(kMembers6[2])});
  TmcHeader header;
  header.channel_id = kChannel6;
  const Bytes payload = tmc_payload(header);
  Ipv6Layout layout;
  if (GetParam()) layout.extensions = {kDestinationOptions};  // the UDP header is found behind it
  const Bytes frame = udp6_frame(kSender6, kMembers6[0], payload, layout);
  const size_t udp_at = udp6_offset(layout);
  captured();
  auto result = run_tc(loader_->program_fd(), frame);
  EXPECT_EQ(result.retval, kPass);
  auto copies = captured();
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0], frame) << "the first copy is the packet as sent, to members[0]";
  const Bytes* delivered[3] = {&copies[0], &copies[1], &result.output};
  for (int i = 0; i < 3; i++) {
    const Bytes& out = *delivered[i];
    ASSERT_EQ(out.size(), frame.size()) << i;
    EXPECT_TRUE(std::equal(kMembers6[i].mac.begin(), kMembers6[i].mac.end(), out.begin())) << "destination MAC " << i;
    auto address = ipv6_bytes(kMembers6[i].ipv6);
    EXPECT_TRUE(std::equal(address.begin(), address.end(), out.begin() + kEthernetLength + 24)) << "destination IP " << i;
    EXPECT_EQ(get16(out.data() + udp_at + 2), kMembers6[i].port) << i;
    EXPECT_EQ(udp6_checksum(out, udp_at), 0) << "UDP checksum " << i;
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), out.begin() + udp_at + kUdpLength)) << "payload " << i;
    // Nothing else changed: source, extension header, hop limit, flow label.
    EXPECT_TRUE(std::equal(frame.begin() + 6, frame.begin() + kEthernetLength + 24, out.begin() + 6)) << i;
    EXPECT_TRUE(std::equal(frame.begin() + kEthernetLength + kIpv6Length, frame.begin() + udp_at + 2,
                           out.begin() + kEthernetLength + kIpv6Length)) << i;
  }
  FanoutCounters counters = loader_->counters(kChannel6);
  EXPECT_EQ(counters.fanned_out, 1u);
  EXPECT_EQ(counters.copies, 2u);
  EXPECT_EQ(counters.copy_errors, 0u);

  // An IPv4 packet to the IPv6 channel's port is left alone; so is an IPv6 one to another member.
  Endpoint to4 = kMembers[0];
  EXPECT_EQ(run_tc(loader_->program_fd(), udp_frame(kSender, to4, payload)).output, udp_frame(kSender, to4, payload));
  const Bytes to_second = udp6_frame(kSender6, kMembers6[1], payload);
  EXPECT_EQ(run_tc(loader_->program_fd(), to_second).output, to_second);
  EXPECT_TRUE(captured().empty());
  EXPECT_EQ(loader_->counters(kChannel6).fanned_out, 1u);
}

INSTANTIATE_TEST_SUITE_P(ExtensionHeader, FanoutIpv6Test, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "WithDestinationOptions" : "Plain"; });

TEST_F(FanoutTest, RejectsBadMemberLists) {
  EXPECT_THROW(FanoutMember::parse("[fd00::1:5000", "02:00:00:00:00:01"), Error);
  EXPECT_THROW(FanoutMember::parse("[fd00::zz]:5000", "02:00:00:00:00:01"), Error);
  EXPECT_THROW(FanoutMember::parse("fd00::1]:5000", "02:00:00:00:00:01"), Error);
  FanoutMember six = FanoutMember::parse("[fd00::7]:5001", "02:00:00:00:00:07");
  EXPECT_TRUE(six.is_ipv6);
  EXPECT_EQ(six.ipv6[15], 7);
  EXPECT_EQ(six.port, 5001);
  EXPECT_THROW(loader_->set_members(1, {member_of(kMembers[0]), six}), Error) << "mixed families";
  EXPECT_THROW(loader_->set_members(1, {}), Error);
  EXPECT_THROW(loader_->set_members(1, std::vector<FanoutMember>(kFanoutMaxMembers + 1)), Error);
  EXPECT_THROW(FanoutMember::parse("10.0.0.1", "02:00:00:00:00:01"), Error);
  EXPECT_THROW(FanoutMember::parse("10.0.0.300:5", "02:00:00:00:00:01"), Error);
  EXPECT_THROW(FanoutMember::parse("10.0.0.1:70000", "02:00:00:00:00:01"), Error);
  EXPECT_THROW(FanoutMember::parse("10.0.0.1:5", "02:00:00:00:00"), Error);
  FanoutMember member = FanoutMember::parse("10.0.0.1:5000", "02:aa:00:00:00:01");
  EXPECT_EQ(member.port, 5000);
  EXPECT_EQ(member.ipv4[3], 1);
  EXPECT_EQ(member.mac[1], 0xAA);
}

}  // namespace
}  // namespace tmc::bpf::test
