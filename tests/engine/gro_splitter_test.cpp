// transport/gro_splitter: a UDP_GRO datagram is cut back into the datagrams as sent — full
// segments, an odd shorter last one, never a byte outside the buffer.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "transport/gro_splitter.h"

namespace tmc::transport {
namespace {

std::vector<std::byte> bytes(std::size_t count) {
  std::vector<std::byte> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::byte>(i * 7 + 1);
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> split(std::span<const std::byte> datagram, std::size_t segment_size,
                                                       std::size_t* returned = nullptr) {
  std::vector<std::pair<std::size_t, std::size_t>> slices;  // offset, length
  const std::size_t count = split_gro_datagram(datagram, segment_size, [&](std::span<const std::byte> segment) {
    slices.emplace_back(static_cast<std::size_t>(segment.data() - datagram.data()), segment.size());
  });
  if (returned) *returned = count;
  return slices;
}

TEST(GroSplitter, EqualSegments) {
  const auto datagram = bytes(3 * 1472);
  std::size_t count = 0;
  const auto slices = split(datagram, 1472, &count);
  EXPECT_EQ(count, 3u);
  EXPECT_EQ(slices, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 1472}, {1472, 1472}, {2944, 1472}}));
}

TEST(GroSplitter, OddLastSegmentIsShorter) {
  const auto datagram = bytes(2 * 1000 + 17);
  const auto slices = split(datagram, 1000);
  EXPECT_EQ(slices, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 1000}, {1000, 1000}, {2000, 17}}));
}

TEST(GroSplitter, NoControlMessageOrOneSegmentIsTheWholeDatagram) {
  const auto datagram = bytes(500);
  EXPECT_EQ(split(datagram, 0), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 500}}));
  EXPECT_EQ(split(datagram, 500), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 500}}));
  EXPECT_EQ(split(datagram, 9000), (std::vector<std::pair<std::size_t, std::size_t>>{{0, 500}}));
}

TEST(GroSplitter, EmptyDatagramHasNoSegments) {
  std::size_t count = 7;
  EXPECT_TRUE(split({}, 100, &count).empty());
  EXPECT_EQ(count, 0u);
}

TEST(GroSplitter, SegmentsCoverTheDatagramExactlyForAnySize) {
  const auto datagram = bytes(4096);
  for (std::size_t length : {1ul, 2ul, 99ul, 1471ul, 4095ul, 4096ul})
    for (std::size_t segment : {1ul, 3ul, 64ul, 1472ul, 4095ul}) {
      const std::span<const std::byte> view(datagram.data(), length);
      const auto slices = split(view, segment);
      std::size_t expected_offset = 0;
      for (std::size_t k = 0; k < slices.size(); ++k) {
        EXPECT_EQ(slices[k].first, expected_offset);
        EXPECT_GT(slices[k].second, 0u);
        if (k + 1 < slices.size()) {
          EXPECT_EQ(slices[k].second, std::min(segment, length));
        }
        expected_offset += slices[k].second;
      }
      EXPECT_EQ(expected_offset, length) << "length " << length << " segment " << segment;
      EXPECT_EQ(slices.size(), (length + segment - 1) / segment);
    }
}

TEST(GroSplitter, SegmentBytesAreTheDatagramsOwn) {
  const auto datagram = bytes(250);
  std::vector<std::byte> joined;
  split_gro_datagram(std::span<const std::byte>(datagram), 100,
                     [&](std::span<const std::byte> segment) { joined.insert(joined.end(), segment.begin(), segment.end()); });
  EXPECT_EQ(joined, datagram);
}

}  // namespace
}  // namespace tmc::transport
