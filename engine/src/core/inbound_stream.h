// Receiver state for one (sender, epoch, stream): duplicate filter and ack state, reassembly,
// ordering, and where acknowledgements go.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "core/clock.h"
#include "core/receive_ordering.h"
#include "core/reassembler.h"
#include "core/receive_tracker.h"
#include "core/socket_address.h"
#include "flow_control/credit_receiver.h"

namespace tmc::core {

struct InboundStream {
  InboundStream(std::uint32_t sender_epoch, std::uint64_t start, std::unique_ptr<ReceiveOrdering> ordering)
      : epoch(sender_epoch), tracker(start), order(std::move(ordering)) {}

  std::uint32_t epoch;
  ReceiveTracker tracker;
  Reassembler reassembler;
  std::unique_ptr<ReceiveOrdering> order;  // DeliveryOrder, or the channel's ordering module
  SocketAddress reply_to;         // source of the latest packet: where acks go
  bool ack_pending = false;       // an ack-requesting packet arrived since the last ack
  bool checksummed = false;       // acks carry a checksum when the data did
  TimePoint oldest_unacked{};     // for the ack delay field
  std::uint32_t unacked = 0;      // ack-requesting packets since the last ack
  // An acknowledgement is due at the end of the current receive batch whatever max_ack_delay
  // says (a packet opened a gap, packets arrived above an open gap): one per batch, with
  // everything the batch brought.
  bool ack_at_batch_end = false;
  // flow_control: the credit this receiver grants, and the messages delivered to the
  // application but not yet read (first sequence -> count): they hold the credit floor.
  std::unique_ptr<CreditReceiver> credit;
  std::map<std::uint64_t, int> unconsumed;
};

}  // namespace tmc::core
