// Compiling a manifest into the primitive pipeline a message goes through.
//
// Every primitive is one row of one explicit name -> factory table (primitive_table()): the
// manifest names a primitive per feature, the table's factory configures that stage of the
// CompiledPipeline, and a name that is not in the table fails the compile. plan() prints the
// stages the compile chose.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "tmc/manifest.h"

namespace tmc::core {

struct CompiledPipeline {
  std::uint16_t flags = 0;  // TMC_FLAG_* on the message's DATA packets
  Ordering ordering = Ordering::none;
  Reliability reliability;  // kind none: unreliable
  Targets targets;
  bool checksum = false;
  std::uint32_t mtu = 1500;
  std::size_t max_payload = 0;  // per DATA packet
  std::optional<Duration> deadline;
  std::vector<std::string> send_stages;     // for plan(), in order
  std::vector<std::string> receive_stages;
};

struct Primitive {
  const char* feature;  // manifest key
  const char* name;     // value naming the primitive
  const char* summary;
  void (*configure)(CompiledPipeline& pipeline, const Manifest& manifest);  // the factory
};

const std::vector<Primitive>& primitive_table();

// Compiles an effective manifest (per-message merged over channel defaults). Throws
// std::invalid_argument naming the feature for anything it cannot realise.
// nic_checksum_offload: the transport plan found checksum offload on every member host
// (capabilities file), so `error_checking: crc32c` compiles to the NIC instead of software CRC32C.
CompiledPipeline compile_pipeline(const Manifest& manifest, bool nic_checksum_offload = false);

// Derived channel id: CRC32C of the channel name, never 0.
std::uint32_t channel_id_for(const std::string& name);
// A member's sender id: CRC32C of its name, never 0.
std::uint32_t sender_id_for(const std::string& member_name);

}  // namespace tmc::core
