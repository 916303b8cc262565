// Big-endian field access for the transport packet codecs (credit, sequence).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tmc::wire_be {

template <typename T>
inline T load(std::span<const std::byte> bytes, std::size_t offset) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) value = static_cast<T>((value << 8) | std::to_integer<T>(bytes[offset + i]));
  return value;
}

template <typename T>
inline void store(std::span<std::byte> bytes, std::size_t offset, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    bytes[offset + sizeof(T) - 1 - i] = static_cast<std::byte>((value >> (8 * i)) & 0xFF);
}

}  // namespace tmc::wire_be
