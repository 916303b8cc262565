// core/buffer_pool: buffers given back are handed out again with their capacity (and no
// contents); the pool keeps at most max_buffers buffers and max_bytes of capacity; empty
// buffers are not kept.
#include <gtest/gtest.h>

#include <vector>

#include "core/buffer_pool.h"

namespace tmc::core {
namespace {

std::vector<std::byte> buffer_of(std::size_t size) { return std::vector<std::byte>(size, std::byte{7}); }

TEST(BufferPool, AnEmptyPoolHandsOutAFreshEmptyBuffer) {
  BufferPool pool(4, 1 << 20);
  const auto buffer = pool.take();
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.capacity(), 0u);
}

TEST(BufferPool, AGivenBufferComesBackEmptyWithItsMemory) {
  BufferPool pool(4, 1 << 20);
  auto buffer = buffer_of(1000);
  const std::byte* memory = buffer.data();
  const std::size_t capacity = buffer.capacity();
  pool.give(std::move(buffer));
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.bytes(), capacity);
  auto again = pool.take();
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(again.capacity(), capacity);
  EXPECT_EQ(again.data(), memory);  // the same allocation, not a new one
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(pool.bytes(), 0u);
}

TEST(BufferPool, KeepsAtMostMaxBuffers) {
  BufferPool pool(3, 1 << 20);
  for (int i = 0; i < 10; ++i) pool.give(buffer_of(100));
  EXPECT_EQ(pool.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_GE(pool.take().capacity(), 100u);
  EXPECT_EQ(pool.take().capacity(), 0u);
}

TEST(BufferPool, KeepsAtMostMaxBytesOfCapacity) {
  BufferPool pool(100, 10000);
  for (int i = 0; i < 10; ++i) pool.give(buffer_of(4000));
  EXPECT_EQ(pool.size(), 2u);  // a third would exceed 10000 bytes
  EXPECT_LE(pool.bytes(), 10000u);
  pool.give(buffer_of(20000));  // larger than the whole budget
  EXPECT_EQ(pool.size(), 2u);
}

TEST(BufferPool, BuffersWithoutCapacityAreNotKept) {
  BufferPool pool(4, 1 << 20);
  pool.give({});
  EXPECT_EQ(pool.size(), 0u);
}

}  // namespace
}  // namespace tmc::core
