// SendCoalescer: decides, for each Channel::send on an application thread, whether the packets
// it queued leave at once (sendmmsg on the calling thread) or wait for the runtime thread to
// flush them together with the sends that follow — one sendmmsg for many messages instead of
// one per message (the idea of Linux TCP autocorking, applied to the channel's send queue).
//
// Contract (sans-IO, `now` injected):
//   * A send that starts less than `window` after the previous direct send finished, or while
//     a flush is already requested, is coalesced: the caller leaves its packets queued.
//   * The first coalesced send of a run returns request_flush: the caller must ask the runtime
//     to flush (one wake-up); later ones return coalesce until flushed() is called.
//   * A send on the flushing thread itself (on_flushing_thread_send) is always coalesced.
//   * A send that leaves kMaxCoalescedBytes or more queued goes out at once, unless a flush
//     is already requested.
//   * Any other send (the first after a pause, e.g. request/response traffic) returns
//     send_now, so a lone message never waits for a thread hand-off.
// A message is therefore delayed by at most one runtime wake-up, and only while the caller is
// streaming.
#pragma once

#include <cstddef>

#include "core/clock.h"

namespace tmc::transport {

class SendCoalescer {
 public:
  enum class Action { send_now, request_flush, coalesce };

  // Streaming sends on one thread follow each other within ~1 µs; a request/response exchange
  // leaves at least one loopback round trip (>= 10 µs) between sends.
  static constexpr core::Duration kDefaultWindow = std::chrono::microseconds(5);

  explicit SendCoalescer(core::Duration window = kDefaultWindow) : window_(window) {}

  // A send that leaves at least this many bytes queued goes out at once (unless a flush is
  // already requested): for large packets the copies dominate, and handing them to the runtime
  // thread measured slower for reliable 16 KiB messages (more lock contention and wake-ups).
  static constexpr std::size_t kMaxCoalescedBytes = 8 * 1024;

  // A send starts at `now`; it has queued `queued_bytes` (with what was already queued).
  Action on_send(core::TimePoint now, std::size_t queued_bytes = 0) {
    if (flush_requested_) return Action::coalesce;
    if (queued_bytes >= kMaxCoalescedBytes) return Action::send_now;
    if (last_direct_send_ != core::TimePoint::min() && now - last_direct_send_ < window_) {
      flush_requested_ = true;
      return Action::request_flush;
    }
    return Action::send_now;
  }
  // A send on the thread that flushes (the runtime thread, from a handler): always coalesced,
  // since that thread flushes before it next sleeps; request_flush for the first of a run.
  Action on_flushing_thread_send() {
    if (flush_requested_) return Action::coalesce;
    flush_requested_ = true;
    return Action::request_flush;
  }
  // A send_now send finished its flush at `now`.
  void sent_directly(core::TimePoint now) { last_direct_send_ = now; }
  // Everything queued has been flushed by the runtime at `now`. The next send is compared with
  // this moment, so a stream keeps coalescing across flushes.
  void flushed(core::TimePoint now) {
    flush_requested_ = false;
    last_direct_send_ = now;
  }
  bool flush_requested() const { return flush_requested_; }

 private:
  core::Duration window_;
  core::TimePoint last_direct_send_ = core::TimePoint::min();
  bool flush_requested_ = false;
};

}  // namespace tmc::transport
