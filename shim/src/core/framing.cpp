#include "core/framing.h"

#include <algorithm>
#include <cstring>

namespace tmc::shim {

void Framer::feed(std::span<const std::byte> bytes) {
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

void Framer::add_boundary(std::size_t length) {
  if (length > 0) boundaries_.push_back(length);
}

std::vector<std::byte> Framer::take(std::size_t length) {
  std::vector<std::byte> message(buffer_.begin() + static_cast<std::ptrdiff_t>(start_),
                                 buffer_.begin() + static_cast<std::ptrdiff_t>(start_ + length));
  start_ += length;
  line_scanned_ = 0;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return message;
}

std::optional<std::vector<std::byte>> Framer::next() {
  std::size_t available = buffered();
  if (available == 0) return std::nullopt;
  const std::byte* data = buffer_.data() + start_;
  if (fallback_) return take(std::min(available, kChunk));
  switch (framing_) {
    case Framing::stream:
      return take(std::min(available, kChunk));
    case Framing::length_prefixed_u16:
    case Framing::length_prefixed_u32: {
      std::size_t header = framing_ == Framing::length_prefixed_u16 ? 2 : 4;
      if (available < header) return std::nullopt;
      std::size_t length = 0;
      for (std::size_t i = 0; i < header; ++i) length = (length << 8) | static_cast<std::uint8_t>(data[i]);
      if (length + header > kMaxMessage) {
        fallback_ = true;
        return take(std::min(available, kChunk));
      }
      if (available < header + length) return std::nullopt;
      return take(header + length);
    }
    case Framing::line: {
      auto begin = data + line_scanned_;
      auto end = data + available;
      auto newline = std::find(begin, end, std::byte{'\n'});
      if (newline != end) return take(static_cast<std::size_t>(newline - data) + 1);
      line_scanned_ = available;
      if (available >= kChunk) return take(kChunk);
      return std::nullopt;
    }
    case Framing::send_call: {
      if (boundaries_.empty()) return std::nullopt;
      std::size_t length = boundaries_.front();
      if (length > kMaxMessage) {
        boundaries_.pop_front();
        fallback_ = true;
        return take(std::min(available, kChunk));
      }
      if (available < length) return std::nullopt;
      boundaries_.pop_front();
      return take(length);
    }
  }
  return std::nullopt;
}

std::optional<std::vector<std::byte>> Framer::flush() {
  if (auto message = next()) return message;
  std::size_t available = buffered();
  if (available == 0) return std::nullopt;
  // Bytes no boundary accounts for (sendfile/splice on a send-call socket, a truncated
  // length-prefixed message at end of stream): one message, cut to kChunk.
  if (framing_ == Framing::send_call) boundaries_.clear();
  return take(std::min(available, kChunk));
}

}  // namespace tmc::shim
