// tmc::SequencerService — a dedicated sequencer for the total-order channels of a manifest
// (ordering: total): the process the capabilities file's `sequencer: "host:port"` names when it
// is no member. `tmc sequencer` runs one; tests run it in-process.
//
//   tmc::SequencerService sequencer(manifest, {.listen = "127.0.0.1:7100"});
//   // members: capabilities.sequencer = sequencer.name()
//
// It receives the group stream's total-order DATA (the members send it there as to one more
// receiver that is no member: it is never a target and never counts for a send's completion),
// acknowledges it when the channel is reliable, stamps each message once with the next group
// sequence, multicasts the STAMPS to the members (batched) or a HEARTBEAT when idle, answers
// REQUESTs for missing stamps and takes part in view changes. When it goes silent the members
// move to the next view, sequenced by the members by name (docs/transport.md "Total order").
// It delivers nothing and sends no messages.
#pragma once

#include <memory>
#include <string>

#include "tmc/capabilities.h"
#include "tmc/channel.h"
#include "tmc/manifest.h"

namespace tmc {

struct SequencerOptions {
  // Address to bind, "host:port". "" = the capabilities file's sequencer address. Port 0 binds
  // an ephemeral port; the name is then the bound address (name()).
  std::string listen;
  // The operator's capabilities file; nullptr = the file named by $TMC_CAPABILITIES, else none.
  // Its `sequencer`, when set, must be a host:port: the name members know the sequencer by.
  std::shared_ptr<const Capabilities> capabilities;
  std::shared_ptr<Runtime> runtime;       // nullptr = the process-wide default runtime
  std::shared_ptr<FaultInjector> faults;  // optional: drop/duplicate/reorder/corrupt on receive
};

class SequencerService {
 public:
  // Throws std::invalid_argument when the manifest's ordering is not total, when neither
  // `listen` nor the capabilities name an address, or when the capabilities' sequencer is a
  // member name; tmc::ConfigError for a malformed $TMC_CAPABILITIES file; std::system_error
  // when the address cannot be bound.
  explicit SequencerService(const Manifest& manifest, const SequencerOptions& options = {});
  ~SequencerService();
  SequencerService(const SequencerService&) = delete;
  SequencerService& operator=(const SequencerService&) = delete;

  // "host:port" as the members' capabilities file must name it (`sequencer:`).
  const std::string& name() const { return name_; }
  std::uint16_t local_port() const;
  // A member's address (members whose address the manifest leaves empty).
  void add_member(const Member& member);
  // messages_stamped, sequencer / sequencer_view (the current view and its sequencer, which is
  // this one until it is deposed), sequencer_changes, packets, acks.
  Stats stats() const;
  std::string plan() const;
  void close();  // stops stamping and answering

 private:
  std::string name_;
  std::unique_ptr<Channel> channel_;
};

}  // namespace tmc
