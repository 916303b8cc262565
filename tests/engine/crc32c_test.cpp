// wire/crc32c: RFC 3720 appendix B.4 test vectors, the common "123456789" check value, continuation
// and agreement with a bitwise reference (so both the SSE4.2 and the table path are pinned down).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "wire/crc32c.h"

namespace tmc::wire {
namespace {

// Bit-at-a-time CRC32C straight from the definition: reflected polynomial 0x82F63B78, initial value
// and final XOR 0xFFFFFFFF. Deliberately shares nothing with the implementation under test.
std::uint32_t reference_crc32c(const std::uint8_t* data, std::size_t length) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < length; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::vector<std::uint8_t> pseudo_random_bytes(std::size_t count, std::uint32_t seed) {
  std::vector<std::uint8_t> bytes(count);
  std::uint32_t x = seed;
  for (auto& b : bytes) {
    x = x * 1664525u + 1013904223u;  // LCG: deterministic, no <random> distribution differences
    b = static_cast<std::uint8_t>(x >> 24);
  }
  return bytes;
}

TEST(Crc32c, Rfc3720ThirtyTwoZeroBytes) {
  std::array<std::uint8_t, 32> bytes{};
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x8A9136AAu);
}

TEST(Crc32c, Rfc3720ThirtyTwoOnesBytes) {
  std::array<std::uint8_t, 32> bytes;
  bytes.fill(0xFF);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x62A8AB43u);
}

TEST(Crc32c, Rfc3720AscendingBytes) {
  std::array<std::uint8_t, 32> bytes;
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x46DD794Eu);
}

TEST(Crc32c, Rfc3720DescendingBytes) {
  std::array<std::uint8_t, 32> bytes;
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(31 - i);
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), 0x113FDB5Cu);
}

TEST(Crc32c, CheckValue123456789) {
  const char* text = "123456789";
  EXPECT_EQ(crc32c(text, 9), 0xE3069283u);
}

TEST(Crc32c, EmptyInputIsZeroAndContinuationOfNothingIsIdentity) {
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  EXPECT_EQ(crc32c(nullptr, 0, 0xE3069283u), 0xE3069283u);
}

TEST(Crc32c, ReferenceImplementationMatchesKnownVectors) {
  // Guards the guard: the bitwise reference itself must reproduce the published values.
  const char* text = "123456789";
  EXPECT_EQ(reference_crc32c(reinterpret_cast<const std::uint8_t*>(text), 9), 0xE3069283u);
  std::array<std::uint8_t, 32> zeros{};
  EXPECT_EQ(reference_crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(Crc32c, IncrementalContinuationEqualsOneShotAtEverySplit) {
  const auto bytes = pseudo_random_bytes(300, 7);
  const std::uint32_t whole = crc32c(bytes.data(), bytes.size());
  ASSERT_EQ(whole, reference_crc32c(bytes.data(), bytes.size()));
  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    const std::uint32_t first = crc32c(bytes.data(), split);
    EXPECT_EQ(crc32c(bytes.data() + split, bytes.size() - split, first), whole) << "split at " << split;
  }
}

TEST(Crc32c, ByteAtATimeContinuationEqualsOneShot) {
  const auto bytes = pseudo_random_bytes(100, 11);
  std::uint32_t crc = 0;
  for (std::uint8_t b : bytes) crc = crc32c(&b, 1, crc);
  EXPECT_EQ(crc, crc32c(bytes.data(), bytes.size()));
}

TEST(Crc32c, AllLengthsZeroToSixtyFourAtEveryAlignmentAgreeWithReference) {
  // 8 + 64 bytes so every (offset, length) reads inside the buffer; offsets 0..7 cover every
  // misalignment of the 8-byte SSE4.2 loop.
  const auto bytes = pseudo_random_bytes(8 + 64, 3);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length = 0; length <= 64; ++length) {
      EXPECT_EQ(crc32c(bytes.data() + offset, length), reference_crc32c(bytes.data() + offset, length))
          << "offset " << offset << " length " << length;
    }
  }
}

TEST(Crc32c, LargeUnalignedBufferAgreesWithReference) {
  const auto bytes = pseudo_random_bytes(65536 + 3, 5);
  EXPECT_EQ(crc32c(bytes.data() + 3, 65536), reference_crc32c(bytes.data() + 3, 65536));
}

TEST(Crc32c, SingleBitFlipAlwaysChangesTheValue) {
  auto bytes = pseudo_random_bytes(64, 9);
  const std::uint32_t original = crc32c(bytes.data(), bytes.size());
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_NE(crc32c(bytes.data(), bytes.size()), original) << "bit " << bit;
    bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
}  // namespace tmc::wire
