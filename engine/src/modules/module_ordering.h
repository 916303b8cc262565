// A receive-side ordering implemented by a module (tmc_ordering_ops, module ABI version 2) behind
// core::ReceiveOrdering: one module instance per inbound stream.
//
// The host owns the message bytes: a message the module holds stays here, keyed by the handle
// the module was given, until the module hands the handle back from release() (deliver or drop)
// or the stream ends. A misbehaving module cannot corrupt the stream: a verdict outside the ABI
// drops the message, a handle it does not hold ends that release() round, a round calls
// release() at most held() + 1 times, and a timer left in the past after a round is cleared
// (it would wake the channel at once, forever); each is counted in module_errors().
//
// Messages without TMC_FLAG_ORDERED (ordering: none per message) and total-order messages pass
// straight through (delivered on completion, as DeliveryOrder does).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/receive_ordering.h"
#include "tmc/module_abi.h"
#include "tmc/manifest.h"

namespace tmc {

class LoadedModule;

class ModuleOrdering final : public core::ReceiveOrdering {
 public:
  // `instance` comes from ops->create(); destroyed with ops->destroy().
  ModuleOrdering(std::shared_ptr<const LoadedModule> module, const tmc_ordering_ops* ops, void* instance,
                 std::uint32_t sender_id, std::uint16_t stream);
  ~ModuleOrdering() override;
  ModuleOrdering(const ModuleOrdering&) = delete;
  ModuleOrdering& operator=(const ModuleOrdering&) = delete;

  void on_message(core::CompleteMessage&& message, std::uint64_t cumulative, bool late, core::TimePoint now,
                  std::vector<core::CompleteMessage>& out) override;
  void on_progress(std::uint64_t cumulative, core::TimePoint now, std::vector<core::CompleteMessage>& out) override;
  core::TimePoint next_timer() const override;
  bool accepts_late() const override { return true; }
  std::size_t held() const override { return held_.size(); }
  std::uint64_t dropped() const override { return dropped_; }
  std::uint64_t module_errors() const { return module_errors_; }
  std::string_view name() const { return ops_->name; }

 private:
  tmc_ordering_state state_at(std::uint64_t cumulative, core::TimePoint now) const;
  // release() until NONE (release_round), then clears a timer left in the past.
  void release_due(tmc_ordering_state& state, std::vector<core::CompleteMessage>& out);
  void release_round(tmc_ordering_state& state, std::vector<core::CompleteMessage>& out);
  void report_error(const std::string& what);

  std::shared_ptr<const LoadedModule> module_;  // keeps the code mapped
  const tmc_ordering_ops* ops_;
  void* instance_;
  std::uint32_t sender_id_;
  std::uint16_t stream_;
  std::map<std::uint64_t, core::CompleteMessage> held_;  // by handle
  std::uint64_t next_handle_ = 1;
  std::uint64_t last_cumulative_ = 0;
  std::int64_t timer_ns_ = 0;  // the module's, 0 = none
  std::uint64_t dropped_ = 0;
  std::uint64_t module_errors_ = 0;
};

// Declared parameters with their defaults merged under `params`; unknown keys throw
// std::invalid_argument naming the ordering, the module and the known keys.
std::map<std::string, std::string> merge_ordering_params(const LoadedModule& module, const tmc_ordering_ops& ops,
                                                         const std::map<std::string, std::string>& params);

}  // namespace tmc
