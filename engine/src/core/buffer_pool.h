// BufferPool: a bounded free list of byte buffers, so a buffer freed on one thread is reused
// instead of going back to malloc. A reliable packet's encoded bytes are allocated when an
// application thread sends and freed when the runtime thread processes its acknowledgement;
// glibc handles that producer/consumer pattern badly (the consumer's tcache fills, every free
// takes the producer's arena lock, every malloc misses its tcache). Recycling the vectors keeps
// both ends off the allocator. Not thread-safe: the owner's lock guards it.
#pragma once

#include <cstddef>
#include <vector>

namespace tmc::core {

class BufferPool {
 public:
  // Keeps at most `max_buffers` buffers holding at most `max_bytes` of capacity in total.
  BufferPool(std::size_t max_buffers, std::size_t max_bytes) : max_buffers_(max_buffers), max_bytes_(max_bytes) {}

  // An empty buffer (size 0), with the capacity of a recycled one when the pool has any.
  std::vector<std::byte> take();
  // Returns `buffer` to the pool, or frees it when the pool is full (by count or bytes) or the
  // buffer has no capacity.
  void give(std::vector<std::byte>&& buffer);

  std::size_t size() const { return free_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t max_buffers_, max_bytes_;
  std::size_t bytes_ = 0;  // capacity held in free_
  std::vector<std::vector<std::byte>> free_;
};

}  // namespace tmc::core
