// core/reassembler: fragments in any order become the original message; duplicates are ignored,
// contradicting fragments rejected and counted, abandoned partial messages discarded, and the
// buffered bytes bounded by kMaxBufferedBytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/reassembler.h"
#include "tmc/wire_format.h"

namespace tmc::core {
namespace {

using Bytes = std::vector<std::byte>;

Bytes message_bytes(std::size_t size, unsigned seed) {
  Bytes bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = std::byte((i * 31 + seed) & 0xFF);
  return bytes;
}

struct Fragment {
  wire::DataHeader header;
  Bytes payload;
};

// Splits `message` the way the sender does (wire::fragment_size geometry), sequences from `first`.
std::vector<Fragment> fragment(const Bytes& message, std::uint32_t count, std::uint64_t first) {
  std::vector<Fragment> fragments;
  const std::uint32_t size = wire::fragment_size(static_cast<std::uint32_t>(message.size()), count);
  for (std::uint32_t i = 0; i < count; ++i) {
    Fragment f;
    f.header.sequence = first + i;
    f.header.message_length = static_cast<std::uint32_t>(message.size());
    f.header.fragment_index = i;
    f.header.fragment_count = count;
    const std::size_t offset = std::size_t(size) * i;
    const std::size_t length = i + 1 < count ? size : message.size() - offset;
    f.payload.assign(message.begin() + offset, message.begin() + offset + length);
    fragments.push_back(std::move(f));
  }
  return fragments;
}

std::optional<CompleteMessage> feed(Reassembler& r, const Fragment& f, std::uint16_t flags = TMC_FLAG_ORDERED) {
  return r.on_fragment(f.header, flags, f.payload);
}

TEST(Reassembler, SingleFragmentMessageIsCompleteAtOnce) {
  Reassembler r;
  const Bytes message = message_bytes(100, 1);
  auto fragments = fragment(message, 1, 77);
  auto complete = feed(r, fragments[0], TMC_FLAG_ACK_REQUESTED);
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->payload, message);
  EXPECT_EQ(complete->first_sequence, 77u);
  EXPECT_EQ(complete->fragment_count, 1u);
  EXPECT_EQ(complete->flags, TMC_FLAG_ACK_REQUESTED);
  EXPECT_EQ(r.partial_messages(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(Reassembler, InOrderFragments) {
  Reassembler r;
  const Bytes message = message_bytes(1000, 2);
  auto fragments = fragment(message, 3, 10);
  EXPECT_FALSE(feed(r, fragments[0]));
  EXPECT_EQ(r.partial_messages(), 1u);
  EXPECT_EQ(r.buffered_bytes(), 1000u);
  EXPECT_FALSE(feed(r, fragments[1]));
  auto complete = feed(r, fragments[2]);
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->payload, message);
  EXPECT_EQ(complete->first_sequence, 10u);
  EXPECT_EQ(complete->fragment_count, 3u);
  EXPECT_EQ(r.partial_messages(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

// The message buffer is allocated once, at the message's length, whatever the arrival order
// (in order: fragments appended; out of order: sized once and copied into place).
TEST(Reassembler, MessageBufferIsAllocatedOnceAtTheMessageLength) {
  const Bytes message = message_bytes(12000, 4);
  const auto fragments = fragment(message, 9, 100);
  for (const std::vector<int>& order : {std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}, std::vector<int>{0, 1, 2, 8, 3, 4, 5, 6, 7},
                                        std::vector<int>{8, 7, 6, 5, 4, 3, 2, 1, 0}}) {
    Reassembler r;
    std::optional<CompleteMessage> complete;
    for (int index : order) {
      EXPECT_FALSE(complete) << "complete before the last fragment";
      complete = feed(r, fragments[index]);
      if (!complete) EXPECT_EQ(r.buffered_bytes(), message.size());
    }
    ASSERT_TRUE(complete);
    EXPECT_EQ(complete->payload, message);
    EXPECT_EQ(complete->payload.capacity(), message.size());
    EXPECT_EQ(r.buffered_bytes(), 0u);
  }
}

TEST(Reassembler, EveryPermutationOfFourFragments) {
  const Bytes message = message_bytes(4001, 3);  // 1001 + 1001 + 1001 + 998
  const auto fragments = fragment(message, 4, 500);
  std::vector<int> order{0, 1, 2, 3};
  int permutations = 0;
  do {
    Reassembler r;
    for (std::size_t k = 0; k < order.size(); ++k) {
      auto complete = feed(r, fragments[order[k]]);
      if (k + 1 < order.size()) {
        ASSERT_FALSE(complete);
      } else {
        ASSERT_TRUE(complete);
        EXPECT_EQ(complete->payload, message);
        EXPECT_EQ(complete->first_sequence, 500u);
      }
    }
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 24);
}

TEST(Reassembler, InterleavedMessagesAreKeptApart) {
  Reassembler r;
  const Bytes a = message_bytes(300, 4), b = message_bytes(500, 5);
  const auto fa = fragment(a, 2, 0), fb = fragment(b, 3, 2);
  EXPECT_FALSE(feed(r, fb[2]));
  EXPECT_FALSE(feed(r, fa[1]));
  EXPECT_FALSE(feed(r, fb[0]));
  EXPECT_EQ(r.partial_messages(), 2u);
  EXPECT_EQ(r.buffered_bytes(), 800u);
  auto done_a = feed(r, fa[0]);
  ASSERT_TRUE(done_a);
  EXPECT_EQ(done_a->payload, a);
  auto done_b = feed(r, fb[1]);
  ASSERT_TRUE(done_b);
  EXPECT_EQ(done_b->payload, b);
  EXPECT_EQ(done_b->first_sequence, 2u);
}

TEST(Reassembler, DuplicateFragmentsAreIgnored) {
  Reassembler r;
  const Bytes message = message_bytes(900, 6);
  const auto fragments = fragment(message, 3, 40);
  EXPECT_FALSE(feed(r, fragments[0]));
  EXPECT_FALSE(feed(r, fragments[0]));  // must not count towards completion
  EXPECT_FALSE(feed(r, fragments[1]));
  EXPECT_FALSE(feed(r, fragments[1]));
  auto complete = feed(r, fragments[2]);
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->payload, message);
  EXPECT_EQ(r.inconsistent(), 0u);
}

TEST(Reassembler, DuplicateWithDifferentBytesDoesNotOverwrite) {
  Reassembler r;
  const Bytes message = message_bytes(600, 7);
  auto fragments = fragment(message, 2, 0);
  EXPECT_FALSE(feed(r, fragments[0]));
  Fragment forged = fragments[0];
  std::fill(forged.payload.begin(), forged.payload.end(), std::byte{0xEE});
  EXPECT_FALSE(feed(r, forged));
  auto complete = feed(r, fragments[1]);
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->payload, message);  // the first copy wins
}

TEST(Reassembler, InconsistentFragmentsAreRejectedAndCounted) {
  Reassembler r;
  const Bytes message = message_bytes(1000, 8);
  const auto fragments = fragment(message, 3, 10);
  EXPECT_FALSE(feed(r, fragments[0]));
  // Same first sequence (10), other message length.
  Fragment other_length = fragment(message_bytes(1003, 8), 3, 10)[1];
  EXPECT_FALSE(feed(r, other_length));
  EXPECT_EQ(r.inconsistent(), 1u);
  // Same first sequence, other fragment count (sequence 11 = 10 + index 1 of 2).
  Fragment other_count = fragment(message_bytes(1000, 8), 2, 10)[1];
  EXPECT_FALSE(feed(r, other_count));
  EXPECT_EQ(r.inconsistent(), 2u);
  EXPECT_EQ(r.partial_messages(), 1u);
  // The original message still completes, untouched.
  EXPECT_FALSE(feed(r, fragments[2]));
  auto complete = feed(r, fragments[1]);
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->payload, message);
}

TEST(Reassembler, DiscardBelowDropsOnlyFullyAbandonedMessages) {
  Reassembler r;
  const auto a = fragment(message_bytes(300, 9), 3, 10);   // sequences 10..12
  const auto b = fragment(message_bytes(200, 10), 2, 13);  // 13..14
  const auto c = fragment(message_bytes(200, 11), 2, 20);  // 20..21
  feed(r, a[0]);
  feed(r, b[1]);
  feed(r, c[0]);
  ASSERT_EQ(r.partial_messages(), 3u);
  EXPECT_EQ(r.discard_below(10), 0u);
  EXPECT_EQ(r.discard_below(12), 0u);  // 12 is still a live sequence of message a
  EXPECT_EQ(r.partial_messages(), 3u);
  EXPECT_EQ(r.discard_below(14), 1u);  // a (10..12) is gone; b (13..14) keeps 14
  EXPECT_EQ(r.partial_messages(), 2u);
  EXPECT_EQ(r.buffered_bytes(), 400u);
  EXPECT_EQ(r.discard_below(15), 1u);
  EXPECT_EQ(r.buffered_bytes(), 200u);
  // A late fragment of a discarded message starts a fresh partial, it does not complete anything.
  EXPECT_FALSE(feed(r, a[1]));
  EXPECT_EQ(r.discard_below(1000), 2u);
  EXPECT_EQ(r.partial_messages(), 0u);
  EXPECT_EQ(r.buffered_bytes(), 0u);
}

TEST(Reassembler, EvictionKeepsBufferedBytesWithinTheBound) {
  // 64 MiB messages: the fifth does not fit next to four others within 256 MiB.
  Reassembler r;
  const std::uint32_t length = 64u << 20;
  const std::uint32_t count = 2;
  const std::uint32_t size = wire::fragment_size(length, count);
  Bytes first_half(size, std::byte{0x5A});
  for (std::uint64_t m = 0; m < 6; ++m) {
    wire::DataHeader header;
    header.sequence = 10 * m;
    header.message_length = length;
    header.fragment_index = 0;
    header.fragment_count = count;
    EXPECT_FALSE(r.on_fragment(header, 0, first_half));
    EXPECT_LE(r.buffered_bytes(), Reassembler::kMaxBufferedBytes) << "after message " << m;
  }
  EXPECT_EQ(r.partial_messages(), Reassembler::kMaxBufferedBytes / length);
  EXPECT_EQ(r.evicted(), 6 - Reassembler::kMaxBufferedBytes / length);
  EXPECT_EQ(r.buffered_bytes(), std::size_t(r.partial_messages()) * length);
  // The oldest were evicted: the newest still completes.
  wire::DataHeader last;
  last.sequence = 51;
  last.message_length = length;
  last.fragment_index = 1;
  last.fragment_count = count;
  Bytes second_half(length - size, std::byte{0xA5});
  auto complete = r.on_fragment(last, 0, second_half);
  ASSERT_TRUE(complete);
  EXPECT_EQ(complete->payload.size(), length);
  EXPECT_EQ(complete->payload.front(), std::byte{0x5A});
  EXPECT_EQ(complete->payload.back(), std::byte{0xA5});
}

// A first fragment announcing a message larger than the bound (or than any sender may send)
// is rejected instead of allocating it.
TEST(Reassembler, ASingleOversizedMessageDoesNotExceedTheBound) {
  Reassembler r;
  wire::DataHeader header;
  header.message_length = static_cast<std::uint32_t>(Reassembler::kMaxBufferedBytes + 4096);
  header.fragment_count = 4096 + 1;  // fragment_size = 65537 bytes (one fragment's payload)
  header.fragment_index = 0;
  header.sequence = 1;
  const Bytes payload(wire::fragment_size(header.message_length, header.fragment_count), std::byte{1});
  EXPECT_FALSE(r.on_fragment(header, 0, payload));
  EXPECT_LE(r.buffered_bytes(), Reassembler::kMaxBufferedBytes);
}

}  // namespace
}  // namespace tmc::core
