// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) — RFC 3720 appendix B.4, the checksum
// of iSCSI, SCTP (RFC 4960 appendix B) and ext4. Uses the SSE4.2 crc32 instruction when the CPU
// has it, a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tmc::wire {

// Continues a CRC over `data`: crc32c(b, crc32c(a)) == crc32c(a ++ b). Start with 0.
std::uint32_t crc32c(const void* data, std::size_t length, std::uint32_t crc = 0);

}  // namespace tmc::wire
