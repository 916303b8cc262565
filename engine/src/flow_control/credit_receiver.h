// Receiving end of one credit-controlled stream (one data sender, one epoch).
//
// Integration (sans-IO; the channel core calls):
//   on_packet(seq)             for every DATA packet of the stream, before buffering it;
//                              false = beyond the granted credit: count as malformed and drop
//   on_released(floor)         whenever the lowest sequence still held rises (message read by the
//                              application, handed to its handler, or abandoned/forward-skipped)
//   set_application_queue_bytes(n)   application hint (Channel API) — shrinks future grants
//   on_blocked(msg)            for a received TMC_CREDIT_BLOCKED
//   poll(now)                  after each of the above and on timers: a CREDIT grant to send
#pragma once

#include <optional>

#include "flow_control/credit.h"
#include "tmc/congestion.h"

namespace tmc {

struct CreditConfig {
  std::uint64_t window_bytes = 4 * 1024 * 1024;  // manifest flow_control.window_bytes
  // Largest DATA payload per packet: MTU 1500 - 20 IP - 8 UDP - 56 TMC DATA header.
  std::uint64_t max_packet_payload_bytes = 1416;
  Duration blocked_probe_interval = std::chrono::milliseconds(1);  // sender re-probes while blocked
  std::uint64_t send_buffer_bytes = 0;  // sender's memory bound; 0 = window_bytes

  std::uint64_t window_packets() const {
    std::uint64_t packets = window_bytes / (max_packet_payload_bytes ? max_packet_payload_bytes : 1);
    return packets ? packets : 1;
  }
};

class CreditReceiver {
 public:
  CreditReceiver(const CreditConfig& config, std::uint32_t sender_epoch, std::uint64_t initial_floor = 0);

  bool on_packet(std::uint64_t sequence);
  void on_released(std::uint64_t floor);
  void set_application_queue_bytes(std::uint64_t bytes) { application_queue_bytes_ = bytes; }
  void on_blocked(const CreditMessage& message);
  std::optional<CreditMessage> poll(TimePoint now);

  std::uint64_t granted_limit() const { return granted_; }
  std::uint64_t floor() const { return floor_; }
  std::uint64_t violations() const { return violations_; }

 private:
  std::uint64_t target_limit() const;
  CreditConfig config_;
  std::uint32_t epoch_;
  std::uint64_t floor_;
  std::uint64_t granted_;
  std::uint64_t highest_seen_plus_one_ = 0;
  std::uint64_t application_queue_bytes_ = 0;
  bool sender_waiting_ = false;
  bool probe_answer_pending_ = false;
  std::uint64_t violations_ = 0;
};

}  // namespace tmc
