// The receive-side ordering of one inbound stream (one sender's messages on one wire stream):
// the one call site ChannelCore::handle_data uses for every ordering. Built in: DeliveryOrder
// (none / fifo / fifo-drop-stale, decided per message from its wire flags); from a module:
// ModuleOrdering (modules/module_ordering.h, tmc_ordering_ops of ABI version 2).
//
// Contract: every message handed in is either appended to `out` (delivered, in the order
// appended), kept (held()), or dropped (counted in dropped()); nothing else. The ordering owns
// what it holds until it hands it out or is destroyed. Sans-IO: time comes in as `now`.
#pragma once

#include <cstdint>
#include <vector>

#include "core/clock.h"
#include "core/reassembler.h"

namespace tmc::core {

class ReceiveOrdering {
 public:
  virtual ~ReceiveOrdering() = default;

  // A message completed reassembly. `cumulative`: the stream's cumulative point after the packet
  // that completed it (every sequence below it was received or abandoned by the sender). `late`:
  // it arrived after the sender had abandoned it (only orderings with accepts_late() see those).
  virtual void on_message(CompleteMessage&& message, std::uint64_t cumulative, bool late, TimePoint now,
                          std::vector<CompleteMessage>& out) = 0;
  // After every packet of the stream and when next_timer() has passed: release what is now due.
  virtual void on_progress(std::uint64_t cumulative, TimePoint now, std::vector<CompleteMessage>& out) = 0;
  // When on_progress must run even if no packet arrives; kNever when nothing waits on time.
  virtual TimePoint next_timer() const { return kNever; }
  // Single-packet ordered messages that arrive after the sender abandoned them are offered to
  // this ordering (instead of being counted stale by the channel).
  virtual bool accepts_late() const { return false; }

  virtual std::size_t held() const = 0;
  virtual std::uint64_t dropped() const = 0;  // messages it discarded (counted as stale by the channel)
};

}  // namespace tmc::core
