#include "core/buffer_pool.h"

#include <utility>

namespace tmc::core {

std::vector<std::byte> BufferPool::take() {
  if (free_.empty()) return {};
  std::vector<std::byte> buffer = std::move(free_.back());
  free_.pop_back();
  bytes_ -= buffer.capacity();
  buffer.clear();
  return buffer;
}

void BufferPool::give(std::vector<std::byte>&& buffer) {
  const std::size_t capacity = buffer.capacity();
  if (capacity == 0 || free_.size() >= max_buffers_ || bytes_ + capacity > max_bytes_) {
    std::vector<std::byte>().swap(buffer);  // freed here
    return;
  }
  bytes_ += capacity;
  free_.push_back(std::move(buffer));
}

}  // namespace tmc::core
