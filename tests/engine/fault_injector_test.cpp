// tmc/fault_injector: deterministic for a seed, drop / duplicate / corrupt rates as configured
// over 100k packets, reordering that loses nothing and holds at most reorder_depth packets back,
// corruption that flips exactly one bit.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "tmc/fault_injector.h"

namespace tmc {
namespace {

constexpr std::uint32_t kPackets = 100000;
constexpr std::size_t kPacketSize = 24;

// Packet i: its index in the first 4 bytes, then filler derived from it.
std::vector<std::byte> make_packet(std::uint32_t index) {
  std::vector<std::byte> packet(kPacketSize);
  std::memcpy(packet.data(), &index, 4);
  for (std::size_t i = 4; i < kPacketSize; ++i) packet[i] = std::byte((index * 131 + i * 7) & 0xFF);
  return packet;
}

sockaddr_storage source_address() {
  sockaddr_storage s{};
  s.ss_family = AF_INET;
  reinterpret_cast<sockaddr_in&>(s).sin_port = htons(4242);
  return s;
}

struct Emitted {
  std::uint32_t during;  // index of the packet being processed when this was emitted (kPackets: flush)
  std::vector<std::byte> bytes;
};

std::vector<Emitted> run(const FaultConfig& config, std::uint32_t packets = kPackets, FaultCounters* counters = nullptr) {
  FaultInjector injector(config);
  std::vector<Emitted> out;
  const sockaddr_storage source = source_address();
  std::uint32_t current = 0;
  const FaultInjector::Emit emit = [&](std::span<const std::byte> p, const sockaddr_storage& s) {
    EXPECT_EQ(std::memcmp(&s, &source, sizeof s), 0) << "source must pass through unchanged";
    out.push_back({current, {p.begin(), p.end()}});
  };
  for (current = 0; current < packets; ++current) {
    const auto packet = make_packet(current);
    injector.process(packet, source, emit);
  }
  current = packets;
  injector.flush(emit);
  EXPECT_EQ(injector.held(), 0u);
  if (counters) *counters = injector.counters();
  return out;
}

int differing_bits(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
  int bits = 0;
  for (std::size_t i = 0; i < a.size(); ++i) bits += std::popcount(std::to_integer<unsigned>(a[i] ^ b[i]));
  return bits;
}

// Binomial tolerance: 5 standard deviations of the measured fraction.
double tolerance(double p, double n) { return 5 * std::sqrt(p * (1 - p) / n); }

TEST(FaultInjector, NoFaultsPassesEverythingInOrder) {
  FaultCounters counters;
  const auto out = run({}, 1000, &counters);
  ASSERT_EQ(out.size(), 1000u);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(out[i].bytes, make_packet(i));
    EXPECT_EQ(out[i].during, i);
  }
  EXPECT_EQ(counters.seen, 1000u);
  EXPECT_EQ(counters.dropped + counters.duplicated + counters.reordered + counters.corrupted, 0u);
}

TEST(FaultInjector, SameSeedSameOutcomeOtherSeedOtherOutcome) {
  const FaultConfig config{.drop = 0.1, .duplicate = 0.05, .reorder = 0.1, .corrupt = 0.05, .seed = 1234, .reorder_depth = 5};
  const auto a = run(config, 20000);
  const auto b = run(config, 20000);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].bytes, b[i].bytes) << "emission " << i;
    ASSERT_EQ(a[i].during, b[i].during) << "emission " << i;
  }
  FaultConfig other = config;
  other.seed = 1235;
  const auto c = run(other, 20000);
  bool differs = c.size() != a.size();
  for (std::size_t i = 0; !differs && i < a.size(); ++i) differs = a[i].bytes != c[i].bytes;
  EXPECT_TRUE(differs);
}

TEST(FaultInjector, DropRateOverOneHundredThousandPackets) {
  FaultCounters counters;
  const auto out = run({.drop = 0.1, .seed = 7}, kPackets, &counters);
  EXPECT_EQ(counters.seen, kPackets);
  EXPECT_EQ(out.size(), kPackets - counters.dropped);
  EXPECT_NEAR(double(counters.dropped) / kPackets, 0.1, tolerance(0.1, kPackets));
  // What passes is untouched and in order.
  for (std::size_t i = 1; i < out.size(); ++i) ASSERT_LT(out[i - 1].during, out[i].during);
  for (const auto& e : out) ASSERT_EQ(e.bytes, make_packet(e.during));
}

TEST(FaultInjector, DuplicateRateOverOneHundredThousandPackets) {
  FaultCounters counters;
  const auto out = run({.duplicate = 0.05, .seed = 8}, kPackets, &counters);
  EXPECT_EQ(out.size(), kPackets + counters.duplicated);
  EXPECT_NEAR(double(counters.duplicated) / kPackets, 0.05, tolerance(0.05, kPackets));
  std::vector<int> copies(kPackets, 0);
  for (const auto& e : out) {
    ASSERT_EQ(e.bytes, make_packet(e.during));
    ++copies[e.during];
  }
  std::uint64_t twice = 0;
  for (int c : copies) {
    ASSERT_GE(c, 1);
    ASSERT_LE(c, 2);
    twice += c == 2;
  }
  EXPECT_EQ(twice, counters.duplicated);
}

TEST(FaultInjector, CorruptRateOverOneHundredThousandPackets) {
  FaultCounters counters;
  const auto out = run({.corrupt = 0.02, .seed = 9}, kPackets, &counters);
  ASSERT_EQ(out.size(), kPackets);
  std::uint64_t corrupted = 0;
  for (const auto& e : out) {
    const int bits = differing_bits(e.bytes, make_packet(e.during));
    ASSERT_LE(bits, 1);
    corrupted += bits;
  }
  EXPECT_EQ(corrupted, counters.corrupted);
  EXPECT_NEAR(double(corrupted) / kPackets, 0.02, tolerance(0.02, kPackets));
}

TEST(FaultInjector, CombinedRatesMatchTheirConditionalProbabilities) {
  // drop is decided first, then reorder, then duplicate: expected fractions of `seen` are
  // drop, (1 - drop) * reorder, (1 - drop) * (1 - reorder) * duplicate.
  FaultCounters counters;
  const double drop = 0.05, reorder = 0.1, duplicate = 0.04;
  const auto out = run({.drop = drop, .duplicate = duplicate, .reorder = reorder, .seed = 10}, kPackets, &counters);
  const double n = kPackets;
  EXPECT_NEAR(counters.dropped / n, drop, tolerance(drop, n));
  EXPECT_NEAR(counters.reordered / n, (1 - drop) * reorder, tolerance((1 - drop) * reorder, n));
  const double dup = (1 - drop) * (1 - reorder) * duplicate;
  EXPECT_NEAR(counters.duplicated / n, dup, tolerance(dup, n));
  EXPECT_EQ(out.size(), kPackets - counters.dropped + counters.duplicated);
}

TEST(FaultInjector, ReorderEmitsEveryPacketExactlyOnceAfterFlush) {
  const unsigned depth = 6;
  FaultCounters counters;
  const auto out = run({.reorder = 0.3, .seed = 11, .reorder_depth = depth}, kPackets, &counters);
  ASSERT_EQ(out.size(), std::size_t(kPackets));
  std::vector<int> seen(kPackets, 0);
  std::uint64_t out_of_order = 0, held_back = 0;
  std::uint32_t previous = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t index;
    std::memcpy(&index, out[i].bytes.data(), 4);
    ASSERT_LT(index, kPackets);
    ASSERT_EQ(out[i].bytes, make_packet(index)) << "reordering must not alter bytes";
    ++seen[index];
    if (i > 0 && index < previous) ++out_of_order;
    previous = index;
    // A held packet comes out while one of the next `depth` packets is processed (or at flush).
    if (out[i].during != index) {
      ++held_back;
      ASSERT_GT(out[i].during, index);
      if (out[i].during != kPackets) {
        ASSERT_LE(out[i].during - index, depth) << "packet " << index;
      }
    }
  }
  for (std::uint32_t i = 0; i < kPackets; ++i) ASSERT_EQ(seen[i], 1) << "packet " << i;
  EXPECT_EQ(held_back, counters.reordered);
  EXPECT_NEAR(double(counters.reordered) / kPackets, 0.3, tolerance(0.3, kPackets));
  EXPECT_GT(out_of_order, kPackets / 10);
}

TEST(FaultInjector, FlushReleasesHeldPackets) {
  FaultInjector injector({.reorder = 1.0, .seed = 3, .reorder_depth = 100});
  int emitted = 0;
  const FaultInjector::Emit emit = [&](std::span<const std::byte>, const sockaddr_storage&) { ++emitted; };
  const auto source = source_address();
  for (std::uint32_t i = 0; i < 5; ++i) injector.process(make_packet(i), source, emit);
  EXPECT_EQ(injector.held(), 5u);
  EXPECT_EQ(emitted, 0);
  injector.flush(emit);
  EXPECT_EQ(injector.held(), 0u);
  EXPECT_EQ(emitted, 5);
}

TEST(FaultInjector, CorruptionFlipsExactlyOneBit) {
  FaultCounters counters;
  const auto out = run({.corrupt = 1.0, .seed = 12}, 20000, &counters);
  ASSERT_EQ(out.size(), 20000u);
  EXPECT_EQ(counters.corrupted, 20000u);
  std::vector<int> flipped_bit_count(kPacketSize * 8, 0);
  for (const auto& e : out) {
    const auto original = make_packet(e.during);
    ASSERT_EQ(e.bytes.size(), original.size());
    ASSERT_EQ(differing_bits(e.bytes, original), 1);
    for (std::size_t bit = 0; bit < kPacketSize * 8; ++bit)
      if (std::to_integer<unsigned>(e.bytes[bit / 8] ^ original[bit / 8]) >> (bit % 8) & 1u) ++flipped_bit_count[bit];
  }
  // Every bit position gets hit (uniform over the packet, 20000 / 192 ~ 104 each).
  for (std::size_t bit = 0; bit < flipped_bit_count.size(); ++bit) EXPECT_GT(flipped_bit_count[bit], 30) << "bit " << bit;
}

TEST(FaultInjector, EmptyPacketIsNeverCorrupted) {
  FaultInjector injector({.corrupt = 1.0, .seed = 1});
  int emitted = 0;
  injector.process({}, source_address(), [&](std::span<const std::byte> p, const sockaddr_storage&) {
    EXPECT_TRUE(p.empty());
    ++emitted;
  });
  EXPECT_EQ(emitted, 1);
  EXPECT_EQ(injector.counters().corrupted, 0u);
}

}  // namespace
}  // namespace tmc
