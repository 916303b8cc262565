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
//   * A send that leaves kMaxCoalescedBytes or more queued goes out at once, unless it follows
//     closely, a flush is already requested or a cork deadline is pending: then it returns cork — the caller appends its
//     datagrams to the socket's kernel cork (UdpSocket::cork_queued), where the sends that
//     follow join them in one GSO super-packet without a copy in user space. A cork left open
//     must be pushed by cork_deadline(), at most kCorkHold after the first cork a flush has
//     not pushed since (cork_left_open() says when the caller must arm a timer for it);
//     cork_pushed() clears it. A caller that cannot cork sends at once, or leaves the packets queued when a
//     flush is requested.
//   * Any other send (the first after a pause, e.g. request/response traffic) returns
//     send_now, so a lone message never waits for a thread hand-off.
// A message is therefore delayed by at most one runtime wake-up (a corked one: kCorkHold, up
// to kCorkRetryMax while the sender holds the channel at the timer's checks), and only while
// the caller is streaming.
#pragma once

#include <cstddef>

#include "core/clock.h"

namespace tmc::transport {

class SendCoalescer {
 public:
  enum class Action { send_now, request_flush, coalesce, cork };

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
    const bool follows_closely = last_direct_send_ != core::TimePoint::min() && now - last_direct_send_ < window_;
    if (queued_bytes >= kMaxCoalescedBytes)
      return flush_requested_ || cork_deadline_ != core::kNever || follows_closely ? Action::cork : Action::send_now;
    if (flush_requested_) return Action::coalesce;
    if (follows_closely) {
      flush_requested_ = true;
      return Action::request_flush;
    }
    return Action::send_now;
  }
  // How long a cork may stay open. A wake-up of the runtime thread per super-packet (a posted
  // flush) cost more than corking saved: on 2 CPUs it preempts the sender or the receiver
  // (16 KiB unreliable on loopback: 0.8x UDP's rate with a post per cork, 1.25x without).
  // Holding the deadline instead costs a streaming sender one timer wake-up per kCorkHold
  // (about 4 super-packets of 3 x 16 KiB at loopback rates), and the last message of a
  // stream at most this much latency.
  static constexpr core::Duration kCorkHold = std::chrono::microseconds(50);
  // The timer that pushes a cork only tries the channel's lock (Channel::Impl::on_cork_timer):
  // when the sender holds it, the sender is mid-send and pushes the cork itself as it fills,
  // so the timer looks again later, backing off from kCorkHold by doubling up to this bound.
  // A stream's last corked message thus waits at most kCorkHold after a pause, and at most
  // about kCorkRetryMax when the sender stopped right after such a check. Each check is a
  // wake-up of the runtime thread, ~30 us of CPU on this VM (2 CPUs shared by 3 threads).
  static constexpr core::Duration kCorkRetryMax = std::chrono::microseconds(800);

  // A cork send at `now` left the kernel's cork open: true when that sets a deadline
  // (cork_deadline(), now + kCorkHold) and the caller must arm its timer for it; false when
  // one is already pending (its timer is armed).
  bool cork_left_open(core::TimePoint now) {
    if (cork_deadline_ != core::kNever) return false;
    cork_deadline_ = now + kCorkHold;
    return true;
  }
  // A flush pushed the cork (or nothing was corked): no deadline pending.
  void cork_pushed() { cork_deadline_ = core::kNever; }
  core::TimePoint cork_deadline() const { return cork_deadline_; }
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
  core::TimePoint cork_deadline_ = core::kNever;
};

}  // namespace tmc::transport
