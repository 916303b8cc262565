// Cutting an application's byte stream into channel messages (policy `framing:`).
//
// Every message carries the exact bytes the application wrote (length prefixes and newlines
// included), so the receiving application reads the identical byte stream when nothing is
// lost, and loses whole messages — never partial ones — on an unreliable channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "policy/policy.h"

namespace tmc::shim {

class Framer {
 public:
  // Messages larger than this are not buffered whole: the framer falls back to `stream`
  // chunks for the rest of the connection (the application's bytes are not what the policy
  // said, but nothing is lost or reordered).
  static constexpr std::size_t kMaxMessage = 16u << 20;
  // `stream` messages and over-long lines are cut at this size.
  static constexpr std::size_t kChunk = 60 * 1024;

  explicit Framer(Framing framing) : framing_(framing) {}

  void feed(std::span<const std::byte> bytes);
  // send-call framing: the application's next send()/write() put `length` bytes in the stream.
  void add_boundary(std::size_t length);
  // The next complete message, if any.
  std::optional<std::vector<std::byte>> next();
  // At end of stream (or, for send-call, when no write is in flight): whatever is left.
  std::optional<std::vector<std::byte>> flush();

  std::size_t buffered() const { return buffer_.size() - start_; }
  Framing framing() const { return framing_; }
  bool fell_back_to_stream() const { return fallback_; }

 private:
  std::vector<std::byte> take(std::size_t length);

  Framing framing_;
  bool fallback_ = false;
  std::vector<std::byte> buffer_;
  std::size_t start_ = 0;
  std::size_t line_scanned_ = 0;  // bytes after start_ already known to hold no '\n'
  std::deque<std::size_t> boundaries_;
};

}  // namespace tmc::shim
