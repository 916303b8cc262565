// Sending end of a credit-controlled stream to one receiver or a group: the stream may send
// sequence s only while s < min over receivers of their granted limit.
//
// Integration (sans-IO; the channel core calls):
//   add_receiver(id, floor)    for each target member when the stream starts (implicit grant)
//   remove_receiver(id)        when a member is declared down (it no longer holds senders back)
//   try_reserve(bytes)         in send(): admit a message into sender memory; false = the
//                              application must wait (blocking send) or gets EAGAIN (async)
//   can_send(seq)              before sending a new (not retransmitted) DATA packet
//   release(bytes)             when the message leaves sender memory (acked / expired / sent unreliable)
//   on_grant(id, msg)          for a received TMC_CREDIT_GRANT
//   poll(next_seq, now)        on a timer while blocked: TMC_CREDIT_BLOCKED probes to send
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "flow_control/credit_receiver.h"

namespace tmc {

class CreditSender {
 public:
  CreditSender(const CreditConfig& config, std::uint32_t epoch);

  void add_receiver(std::uint32_t receiver, std::uint64_t initial_floor = 0);
  void remove_receiver(std::uint32_t receiver);
  void on_grant(std::uint32_t receiver, const CreditMessage& message);

  std::uint64_t limit() const;  // UINT64_MAX when there are no receivers
  bool can_send(std::uint64_t sequence) const { return sequence < limit(); }
  std::vector<std::pair<std::uint32_t, CreditMessage>> poll(std::uint64_t next_sequence, TimePoint now);

  // Sender memory bound: a message is admitted if it fits under the buffer limit, or if the
  // buffer is empty (a message larger than the bound travels alone).
  bool try_reserve(std::uint64_t bytes);
  void release(std::uint64_t bytes);
  std::uint64_t buffered_bytes() const { return buffered_; }
  std::uint64_t buffer_limit() const { return buffer_limit_; }

 private:
  CreditConfig config_;
  std::uint32_t epoch_;
  std::map<std::uint32_t, std::uint64_t> limits_;
  std::uint64_t buffer_limit_;
  std::uint64_t buffered_ = 0;
  bool blocked_ = false;
  TimePoint blocked_since_{};
  TimePoint last_probe_{};
};

}  // namespace tmc
