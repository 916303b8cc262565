// tmc::Channel: binds a ChannelCore to a UDP socket, a timerfd and the runtime thread.
//
// Locking: `mutex` guards the core and the socket's send queue. Application threads call
// send/update under it and flush their own packets; the runtime thread handles receive and
// timer events under it. Deliveries are collected under the lock and handed to the
// application after it is released, on the runtime thread only, so they stay in order.
//
// Send batching: a send that follows the previous one closely (SendCoalescer) leaves its
// packets queued and posts a flush to the runtime thread, so one sendmmsg carries the packets
// of many messages; a send from a runtime thread (an on_message handler) is always flushed by
// that thread before it next sleeps. A lone send goes out at once on the calling thread.
// Large sends (>= SendCoalescer::kMaxCoalescedBytes) of a stream go into the socket's kernel
// cork instead (UdpSocket::cork_queued: the kernel copies them, consecutive ones leave as one
// GSO super-packet); a cork left open is pushed by the next send that fills it, by any flush,
// or by the channel's cork timer (on_cork_timer).
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "core/channel_core.h"
#include "core/pipeline.h"
#include "tmc/channel.h"
#include "tmc/fault_injector.h"
#include "tmc/wire_format.h"
#include "transport/fd_util.h"
#include "transport/kernel_fanout.h"
#include "transport/runtime_impl.h"
#include "transport/send_coalescer.h"
#include "transport/spin_then_lock.h"
#include "transport/udp_socket.h"

namespace tmc {

using core::Clock;
using core::SocketAddress;
using core::TimePoint;

struct Channel::Impl : core::ChannelCore::Output {
  struct ControlEvent {
    std::uint8_t subtype;
    std::uint32_t argument;
    std::uint32_t sender_id;
    sockaddr_storage source;
  };

  std::shared_ptr<Runtime> runtime;
  std::shared_ptr<FaultInjector> faults;
  std::size_t queue_limit;

  std::mutex mutex;
  std::unique_ptr<core::ChannelCore> core;
  std::unique_ptr<transport::UdpSocket> socket;
  std::unique_ptr<transport::UdpSocket> group_socket;  // bound to the group port when we are a member
  std::vector<std::unique_ptr<transport::UdpSocket>> joined_groups;  // join_group(); guarded by `mutex`
  transport::UniqueFd timer;
  TimePoint armed = core::kNever;
  std::vector<Message> to_deliver;
  std::size_t to_deliver_bytes = 0;  // payload bytes in to_deliver
  std::vector<Message> delivering;  // dispatch's batch; runtime thread only
  std::vector<Gap> gaps;
  std::vector<ControlEvent> controls;
  std::uint64_t dropped_sends = 0;
  transport::SendCoalescer coalescer;  // under `mutex`

  std::mutex queue_mutex;
  std::condition_variable queue_ready;
  std::deque<Message> queue;
  bool closed = false;
  std::function<void(Message)> message_handler;
  std::function<void(const Gap&)> gap_handler;
  std::function<void(std::uint8_t, std::uint32_t, std::uint32_t, const sockaddr_storage&)> control_handler;

  // Output
  void transmit(const SocketAddress& to, std::span<const std::byte> packet) override { socket->queue(to, packet); }
  // The application's bytes of a send in progress are sent from where they are; Channel::send
  // flushes or copies them (own_borrowed) before it returns.
  void transmit(const SocketAddress& to, std::span<const std::byte> header, std::span<const std::byte> payload,
                bool borrowed_for_send) override {
    if (borrowed_for_send) socket->queue_borrowed(to, header, payload);
    else socket->queue(to, header, payload);
  }
  void deliver(Message&& message) override {
    to_deliver_bytes += message.payload.size();
    to_deliver.push_back(std::move(message));
  }
  void gap(const Gap& gap) override { gaps.push_back(gap); }
  void control(std::uint8_t subtype, std::uint32_t argument, std::uint32_t sender_id,
               const SocketAddress& source) override {
    ControlEvent event{subtype, argument, sender_id, {}};
    std::memcpy(&event.source, &source.storage, sizeof event.source);
    controls.push_back(event);
  }

  // flow_control: application threads wait here for sender memory (blocking send); every core
  // call that may free some notifies. `flow_controlled` is fixed at construction.
  bool flow_controlled = false;
  bool asynchronous = false;  // synchronicity: asynchronous: a full send buffer refuses the send
  std::condition_variable send_space;
  // The application took these (sender id, first sequence) messages: their credit is released.
  void consumed(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& taken) {
    if (taken.empty()) return;
    std::lock_guard lock(mutex);
    const TimePoint now = Clock::now();
    for (const auto& [sender, sequence] : taken) core->on_consumed(sender, sequence, now);
    after_core();
  }

  // After any core call, under `mutex`: send what it queued and re-arm the timer.
  void after_core() {
    if (flow_controlled) send_space.notify_all();
    flush_socket();
    arm_timer();
  }
  void flush_socket() {
    dropped_sends += socket->flush();
    coalescer.cork_pushed();
    if (coalescer.flush_requested()) coalescer.flushed(Clock::now());
  }
  // After a send under `mutex`: flush now, or leave the packets for a posted flush. Returns
  // true when the caller must post a flush (after releasing `mutex`).
  // `started`: when the send began (the coalescer compares it with the previous send's end).
  bool after_send(TimePoint started) {
    using Action = transport::SendCoalescer::Action;
    Action action = runtime->impl().on_runtime_thread() ? coalescer.on_flushing_thread_send()
                                                         : coalescer.on_send(started, socket->queued_bytes());
    if (action == Action::cork) {
      if (const auto lost = socket->cork_queued()) {
        dropped_sends += *lost;
        if (flow_controlled) send_space.notify_all();
        const TimePoint now = Clock::now();
        if (socket->corked() && coalescer.cork_left_open(now)) arm_cork_timer(transport::SendCoalescer::kCorkHold);
        arm_timer();
        coalescer.sent_directly(now);
        return false;
      }
      action = coalescer.flush_requested() ? Action::coalesce : Action::send_now;
    }
    if (action == Action::send_now) {
      after_core();
      coalescer.sent_directly(Clock::now());
      return false;
    }
    arm_timer();
    return action == Action::request_flush;
  }
  // The kernel cork's deadline (SendCoalescer::cork_deadline): a timer of its own, so that
  // pushing a cork never queues the runtime thread behind the channel mutex. While a sender
  // streams it holds that mutex most of the time, pushing each cork itself as it fills; a
  // blocking lock here cost a futex hand-off per wake-up (16 KiB unreliable on loopback:
  // 0.68x UDP's rate instead of ~1.2x). So the timer only tries the lock: when it is held, it
  // looks again later (backing off to SendCoalescer::kCorkRetryMax); the holder pushes the
  // cork meanwhile or leaves the lock.
  transport::UniqueFd cork_timer;
  core::Duration cork_retry = transport::SendCoalescer::kCorkHold;  // runtime thread only
  // Arms the one-shot timerfd `fd` to fire `delay` from now (at least 1 us); std::nullopt
  // disarms it.
  static void set_timerfd(int fd, std::optional<core::Duration> delay) {
    itimerspec spec{};
    if (delay) {
      const auto wait = std::max<core::Duration>(*delay, std::chrono::microseconds(1));
      spec.it_value.tv_sec = static_cast<time_t>(wait.count() / 1000000000);
      spec.it_value.tv_nsec = static_cast<long>(wait.count() % 1000000000);
    }
    ::timerfd_settime(fd, 0, &spec, nullptr);
  }
  void arm_cork_timer(core::Duration delay) { set_timerfd(cork_timer.get(), delay); }
  void on_cork_timer() {
    std::uint64_t expirations;
    [[maybe_unused]] auto got = ::read(cork_timer.get(), &expirations, sizeof expirations);
    std::unique_lock lock(mutex, std::try_to_lock);
    if (!lock.owns_lock()) {
      cork_retry = std::min<core::Duration>(2 * cork_retry, transport::SendCoalescer::kCorkRetryMax);
      arm_cork_timer(cork_retry);
      return;
    }
    cork_retry = transport::SendCoalescer::kCorkHold;
    if (coalescer.cork_deadline() == core::kNever) return;  // a flush pushed it already
    after_core();  // flush_socket pushes the cork (and clears the deadline)
  }

  // Runs on the runtime thread for a post() of the socket's fd.
  void on_posted_flush() {
    std::lock_guard lock(mutex);
    after_core();
  }
  void arm_timer() {
    const TimePoint next = core->next_timer();
    // A timer armed sooner than needed is left alone: on_timer tolerates an early wake-up and
    // re-arms (one wake-up instead of a timerfd_settime per change, e.g. per acknowledgement
    // that moves the retransmission timer later, or per cork pushed before its deadline).
    if (next == armed || (armed != core::kNever && next > armed)) return;
    armed = next;
    set_timerfd(timer.get(), next == core::kNever ? std::nullopt : std::optional<core::Duration>(next - Clock::now()));
  }

  // At most this many packets are fed per drain / receive wake-up, so timers and other channels
  // get their turn: 16 batches of single datagrams (with UDP GRO one batch may hold thousands).
  static constexpr std::size_t kReceiveBudget = 16 * transport::UdpSocket::kBatch;

  // Deliveries collected within one receive batch are handed over once they hold this many
  // payload bytes (the batch then goes on; its acknowledgements still leave at its end). Large
  // messages thus reach the application while their bytes are in cache, and the memory the
  // application frees is reused by the next messages: glibc keeps 128 KiB (M_TOP_PAD) at the
  // top of a heap when it trims, so a batch of 64 x 16 KiB freed at once went back to the
  // kernel and was faulted in again by the next batch (28% of the receiving thread measured,
  // docs/benchmarks.md).
  static constexpr std::size_t kDeliveryBytes = 96 * 1024;

  // Feeds what is waiting on `from` to the core, at most `batches` receive batches and about
  // kReceiveBudget packets (`packets` counts them across calls). A batch is kBatch packets or
  // more: receive calls until then (one call may hold fewer: UdpSocket::receive_limit). Under
  // `mutex`; with `delivering_lock` (the held lock of `mutex`), deliveries of kDeliveryBytes
  // are dispatched in the middle of a batch. Returns true when more may be waiting.
  bool drain(transport::UdpSocket& from, TimePoint now, int batches = 16, std::size_t* packets = nullptr,
                    std::unique_lock<std::mutex>* delivering_lock = nullptr) {
    std::size_t fed = 0;
    if (!packets) packets = &fed;
    auto feed = [&](std::span<const std::byte> datagram, const SocketAddress& source) {
      ++*packets;
      if (faults) {
        faults->process(datagram, source.storage, [&](std::span<const std::byte> packet, const sockaddr_storage& s) {
          core->on_datagram(packet, SocketAddress::from(reinterpret_cast<const sockaddr*>(&s), source.length), now);
        });
      } else {
        core->on_datagram(datagram, source, now);
      }
      if (delivering_lock && to_deliver_bytes >= kDeliveryBytes) {
        arm_timer();
        dispatch(*delivering_lock);
        transport::spin_then_lock(*delivering_lock);
      }
    };
    for (int batch = 0; batch < batches && *packets < kReceiveBudget; ++batch) {
      const std::size_t batch_start = *packets;
      do {
        from.receive_batch(feed);
        if (!from.last_batch_full()) return false;
      } while (*packets - batch_start < transport::UdpSocket::kBatch && *packets < kReceiveBudget);
    }
    return true;
  }

  // Path MTU towards `address` when the manifest leaves mtu unset: the smallest seen so far.
  void adopt_path_mtu(const std::string& address) {
    if (mtu_from_manifest || address.empty()) return;
    auto parsed = SocketAddress::parse(address);
    if (!parsed) return;
    const int mtu = transport::probe_path_mtu(*parsed);
    if (mtu <= 0 || (probed_mtu && mtu >= *probed_mtu)) return;
    probed_mtu = std::min(mtu, 65535);
    core->update({.mtu = static_cast<std::uint32_t>(*probed_mtu)});
  }
  bool mtu_from_manifest = false;
  std::optional<int> probed_mtu;

  // eBPF fan-out (capabilities: ebpf_fanout): attached on the application thread (the channel's
  // network namespace) once every member address and neighbour entry is known. Under `mutex`.
  std::unique_ptr<transport::KernelFanout> kernel_fanout;
  bool kernel_fanout_final = false;  // attached, or refused for good (said once in the log)
  void try_kernel_fanout() {
    if (kernel_fanout_final || !core->wants_kernel_fanout()) return;
    const auto members = core->group_member_addresses();
    if (members.empty()) return;  // an address is not known yet: add_member() retries
    auto attempt = transport::KernelFanout::attach(core->channel_id(), members);
    if (attempt.refusal == transport::KernelFanout::Refusal::not_ready) {
      // Neighbour entries appear once packets flowed: ask each member (PING), wait briefly.
      for (const auto& member : members) {
        if (!transport::neighbour_mac(member).empty()) continue;
        core->send_control(TMC_CONTROL_PING, 0, member.to_string());
      }
      dropped_sends += socket->flush();
      for (int wait = 0; wait < 20 && attempt.refusal == transport::KernelFanout::Refusal::not_ready; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        attempt = transport::KernelFanout::attach(core->channel_id(), members);
      }
    }
    if (attempt.fanout) {
      // The tc program judges (and clones) a GSO super-packet by its first TMC header: only
      // datagrams it treats alike share one (tmc/fanout_rule.h).
      socket->set_gso_class([channel_id = core->channel_id(), first = members[0]](
                                const SocketAddress& to, std::span<const std::byte> packet) {
        return transport::fanout_gso_class(channel_id, first, to, packet);
      });
      kernel_fanout = std::move(attempt.fanout);
      kernel_fanout_final = true;
      core->set_kernel_fanout(true, "tc egress program on " + kernel_fanout->interface_name());
      SPDLOG_INFO("channel {:08x}: eBPF fan-out attached on {}", core->channel_id(), kernel_fanout->interface_name());
      return;
    }
    core->set_kernel_fanout(false, attempt.why);
    if (attempt.refusal == transport::KernelFanout::Refusal::not_ready) {
      SPDLOG_DEBUG("channel {:08x}: eBPF fan-out not attached yet: {}", core->channel_id(), attempt.why);
      return;
    }
    kernel_fanout_final = true;
    SPDLOG_WARN("channel {:08x}: eBPF fan-out permitted by the capabilities but not usable here ({}); using "
                "user-space fan-out", core->channel_id(), attempt.why);
  }

  // ICMP port unreachable for a datagram sent to A reaches the control handler as a REFUSE
  // from A (sender id 0): nobody listens there, as a TCP RST to a SYN says.
  void receive_errors(transport::UdpSocket& from) {
    std::unique_lock lock(mutex);
    from.receive_errors([&](const SocketAddress& destination, int error) {
      if (error == ECONNREFUSED) control(TMC_CONTROL_REFUSE, 0, 0, destination);
    });
    dispatch(lock);
  }

  // One receive batch at a time, each delivered before the next is read, so payload memory is
  // reused instead of piling up; at most 16 batches or kReceiveBudget packets per wake-up (the
  // socket stays readable, so epoll reports it again on the next loop turn).
  void receive_from(transport::UdpSocket& from) {
    std::size_t packets = 0;
    for (int batch = 0; batch < 16 && packets < kReceiveBudget; ++batch) {
      std::unique_lock lock(mutex, std::defer_lock);
      transport::spin_then_lock(lock);  // an application thread may be finishing a send
      const TimePoint now = Clock::now();
      const bool more = drain(from, now, 1, &packets, &lock);
      core->end_of_batch(now);
      if (to_deliver.empty()) {
        after_core();
        dispatch(lock);
      } else {
        // Deliveries first: the application (its wake-up) does not wait behind the sendmmsg of
        // this batch's acknowledgements, which on loopback/veth also runs the peer's receive
        // path; the acks leave right after (or with a send the application makes meanwhile).
        arm_timer();
        dispatch(lock);
        transport::spin_then_lock(lock);
        after_core();
        lock.unlock();
      }
      if (!more) break;
    }
  }

  void on_timer() {
    std::uint64_t expirations;
    [[maybe_unused]] auto got = ::read(timer.get(), &expirations, sizeof expirations);
    std::unique_lock lock(mutex);
    armed = core::kNever;
    const TimePoint now = Clock::now();
    // Acknowledgements that already arrived count before any timeout is judged (the thread may
    // have been descheduled for longer than an RTO).
    drain(*socket, now);
    if (group_socket) drain(*group_socket, now);
    for (auto& joined : joined_groups) drain(*joined, now);
    if (faults && faults->held()) {
      faults->flush([&](std::span<const std::byte> packet, const sockaddr_storage& s) {
        core->on_datagram(packet, SocketAddress::from(reinterpret_cast<const sockaddr*>(&s), sizeof s), now);
      });
    }
    core->end_of_batch(now);
    if (core->next_timer() <= now) core->on_timer(now);
    after_core();
    dispatch(lock);
  }

  // Hands collected events to the application; releases `lock` first.
  void dispatch(std::unique_lock<std::mutex>& lock) {
    // Only the runtime thread dispatches, so `delivering` (reused: its capacity stays) is its own.
    std::vector<Message>& messages = delivering;
    messages.clear();
    messages.swap(to_deliver);
    to_deliver_bytes = 0;
    std::vector<Gap> gap_events;
    gap_events.swap(gaps);
    std::vector<ControlEvent> control_events;
    control_events.swap(controls);
    lock.unlock();
    for (const auto& event : control_events)
      if (control_handler) control_handler(event.subtype, event.argument, event.sender_id, event.source);
    for (const auto& gap : gap_events)
      if (gap_handler) gap_handler(gap);
    if (messages.empty()) return;
    std::unique_lock queue_lock(queue_mutex);
    if (message_handler) {
      auto handler = message_handler;
      queue_lock.unlock();
      std::vector<std::pair<std::uint32_t, std::uint64_t>> taken;
      for (auto& message : messages) {
        if (flow_controlled) taken.emplace_back(message.sender_id, message.sequence);
        handler(std::move(message));
      }
      messages.clear();
      consumed(taken);  // a handler has read its message once it returns
      return;
    }
    std::vector<std::pair<std::uint32_t, std::uint64_t>> dropped;
    for (auto& message : messages) {
      if (queue.size() >= queue_limit) {  // the application is not reading
        if (flow_controlled) dropped.emplace_back(queue.front().sender_id, queue.front().sequence);
        queue.pop_front();
      }
      queue.push_back(std::move(message));
    }
    messages.clear();
    queue_lock.unlock();
    queue_ready.notify_all();
    consumed(dropped);
  }
};

Channel::Channel(const Manifest& manifest, const ChannelOptions& options) : Channel(manifest, options, false) {}

Channel::Channel(const Manifest& manifest, const ChannelOptions& options, bool dedicated_sequencer)
    : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.runtime = options.runtime ? options.runtime : Runtime::default_instance();
  impl.faults = options.faults;
  impl.queue_limit = options.receive_queue_limit;

  // Where to listen: explicit, else our member address (a dedicated sequencer: its name), else
  // an ephemeral port.
  std::string local = options.local_address;
  if (local.empty() && !options.self.empty() && manifest.multicast)
    for (const auto& member : manifest.multicast->members)
      if (member.name == options.self) local = member.address;
  if (local.empty() && dedicated_sequencer) local = options.self;
  if (local.empty()) local = "0.0.0.0:0";
  auto local_address = SocketAddress::parse(local);
  if (!local_address) throw std::invalid_argument("local address '" + local + "' is not host:port");
  impl.socket = std::make_unique<transport::UdpSocket>(*local_address);

  core::ChannelCore::Config config{manifest, options.self, options.channel_id, 0};
  config.now = Clock::now();
  if (options.capabilities) config.capabilities = *options.capabilities;
  else if (const char* path = std::getenv("TMC_CAPABILITIES"); path && *path) config.capabilities = load_capabilities_file(path);
  if (dedicated_sequencer) {
    // Its name is the address the members' capabilities file gives as `sequencer`.
    config.dedicated_sequencer = true;
    if (config.self.empty()) config.self = impl.socket->local_address().to_string();
    if (!config.capabilities) config.capabilities = Capabilities{.source = "no capabilities file"};
    if (config.capabilities->sequencer.empty()) config.capabilities->sequencer = config.self;
  }
  impl.core = std::make_unique<core::ChannelCore>(config, impl);
  // The manifest's mtu, or the operator's declared MTUs, win over probing the path.
  impl.flow_controlled = impl.core->flow_controlled();
  impl.asynchronous = manifest.synchronicity == Synchronicity::asynchronous;
  impl.mtu_from_manifest = manifest.mtu.has_value() || config.capabilities.has_value();
  if (manifest.multicast) {
    for (const auto& member : manifest.multicast->members)
      if (member.name != options.self) impl.adopt_path_mtu(member.address);
    impl.adopt_path_mtu(manifest.multicast->group);
  }
  if (manifest.multicast && !manifest.multicast->group.empty() && !options.self.empty() && !dedicated_sequencer) {
    auto group = SocketAddress::parse(manifest.multicast->group);
    if (group && group->is_multicast()) {
      impl.group_socket = std::make_unique<transport::UdpSocket>(*group);
      impl.group_socket->join_group(*group);
    }
  }
  impl.timer = transport::UniqueFd(
      transport::make_engine_fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)));
  if (!impl.timer) throw std::system_error(errno, std::generic_category(), "timerfd_create");
  impl.cork_timer = transport::UniqueFd(
      transport::make_engine_fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)));
  if (!impl.cork_timer) throw std::system_error(errno, std::generic_category(), "timerfd_create");

  auto& loop = impl.runtime->impl();
  loop.add(impl.socket->fd(), EPOLLIN, [&impl](std::uint32_t events) {
    if (events & Runtime::Impl::kPosted) impl.on_posted_flush();
    if (events & EPOLLERR) impl.receive_errors(*impl.socket);
    if (events & ~Runtime::Impl::kPosted) impl.receive_from(*impl.socket);
  });
  if (impl.group_socket)
    loop.add(impl.group_socket->fd(), EPOLLIN, [&impl](std::uint32_t) { impl.receive_from(*impl.group_socket); });
  loop.add(impl.timer.get(), EPOLLIN, [&impl](std::uint32_t) { impl.on_timer(); });
  loop.add(impl.cork_timer.get(), EPOLLIN, [&impl](std::uint32_t) { impl.on_cork_timer(); });
  {
    std::lock_guard lock(impl.mutex);
    impl.try_kernel_fanout();
    impl.after_core();  // arms the core's first timer (total order polls from the start)
  }
  SPDLOG_DEBUG("channel {:08x} open on {}", impl.core->channel_id(), impl.socket->local_address().to_string());
}

Channel::~Channel() {
  close();
  auto& loop = impl_->runtime->impl();
  loop.remove(impl_->socket->fd());
  if (impl_->group_socket) loop.remove(impl_->group_socket->fd());
  for (auto& joined : impl_->joined_groups) loop.remove(joined->fd());
  loop.remove(impl_->timer.get());
  loop.remove(impl_->cork_timer.get());
}

Completion Channel::send(std::span<const std::byte> payload, const Manifest& per_message) {
  std::unique_lock lock(impl_->mutex, std::defer_lock);
  transport::spin_then_lock(lock);  // the runtime thread may be finishing a receive batch
  if (impl_->flow_controlled) {
    // Sender memory is bounded: a blocking send waits for space, an asynchronous one is refused.
    while (!impl_->core->can_admit(payload.size())) {
      if (impl_->asynchronous) {
        auto state = std::make_shared<Completion::State>();
        state->resolve(SendStatus::refused);
        return Completion(state);
      }
      impl_->send_space.wait_for(lock, std::chrono::milliseconds(10));
    }
  }
  // Unreliable packets queued by this send may point at `payload` (zero-copy): they leave in
  // after_send's flush, or are copied into the socket's queue before `payload` is given back.
  const TimePoint now = Clock::now();
  auto send_in_core = [&] {
    try {
      return impl_->core->send(payload, per_message, now);
    } catch (...) {
      impl_->socket->own_borrowed();
      throw;
    }
  };
  Completion completion = send_in_core();
  const bool post = impl_->after_send(now);
  impl_->socket->own_borrowed();
  lock.unlock();
  if (post) impl_->runtime->impl().post(impl_->socket->fd());
  return completion;
}

Completion Channel::send(std::string_view payload, const Manifest& per_message) {
  return send(std::as_bytes(std::span(payload.data(), payload.size())), per_message);
}

std::optional<Message> Channel::recv() { return recv(Duration::max()); }

std::optional<Message> Channel::recv(Duration timeout) {
  std::unique_lock lock(impl_->queue_mutex);
  auto ready = [&] { return !impl_->queue.empty() || impl_->closed; };
  if (timeout == Duration::max()) impl_->queue_ready.wait(lock, ready);
  else impl_->queue_ready.wait_for(lock, timeout, ready);
  if (impl_->queue.empty()) return std::nullopt;
  Message message = std::move(impl_->queue.front());
  impl_->queue.pop_front();
  lock.unlock();
  if (impl_->flow_controlled) impl_->consumed({{message.sender_id, message.sequence}});
  return message;
}

void Channel::on_message(std::function<void(Message)> handler) {
  std::deque<Message> waiting;
  {
    std::lock_guard lock(impl_->queue_mutex);
    impl_->message_handler = handler;
    waiting.swap(impl_->queue);
  }
  for (auto& message : waiting) handler(std::move(message));
}

void Channel::on_gap(std::function<void(const Gap&)> handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->gap_handler = std::move(handler);
}

void Channel::on_control(
    std::function<void(std::uint8_t, std::uint32_t, std::uint32_t, const sockaddr_storage&)> handler) {
  std::lock_guard lock(impl_->mutex);
  impl_->control_handler = std::move(handler);
}

void Channel::send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& member_or_address) {
  std::lock_guard lock(impl_->mutex);
  impl_->core->send_control(subtype, argument, member_or_address);
  impl_->after_core();
}

void Channel::join_group(const std::string& group) {
  auto address = SocketAddress::parse(group);
  if (!address || !address->is_multicast())
    throw std::invalid_argument("join_group: '" + group + "' is not an IP multicast host:port");
  auto socket = std::make_unique<transport::UdpSocket>(*address);
  socket->join_group(*address);
  transport::UdpSocket* raw = socket.get();
  {
    std::lock_guard lock(impl_->mutex);
    for (const auto& joined : impl_->joined_groups)
      if (joined->local_address() == *address) return;  // already a member
    impl_->joined_groups.push_back(std::move(socket));
  }
  Impl& impl = *impl_;
  impl.runtime->impl().add(raw->fd(), EPOLLIN, [&impl, raw](std::uint32_t) { impl.receive_from(*raw); });
}

void Channel::update(const Manifest& manifest) {
  std::lock_guard lock(impl_->mutex);
  impl_->core->update(manifest);
}

void Channel::add_member(const Member& member) {
  std::lock_guard lock(impl_->mutex);
  impl_->core->add_member(member);
  impl_->adopt_path_mtu(member.address);
  impl_->try_kernel_fanout();
  impl_->after_core();
}

void Channel::set_application_queue_bytes(std::uint64_t bytes) {
  std::lock_guard lock(impl_->mutex);
  impl_->core->set_application_queue_bytes(bytes, Clock::now());
  impl_->after_core();
}

Stats Channel::stats() const {
  std::lock_guard lock(impl_->mutex);
  Stats stats = impl_->core->stats();
  auto add = [&stats](const transport::UdpSocket& socket) {
    const auto& counters = socket.offload_counters();
    stats.gso_sends += counters.gso_sends;
    stats.gso_segments += counters.gso_segments;
    stats.gro_receives += counters.gro_receives;
    stats.gro_segments += counters.gro_segments;
    stats.corked_packets += counters.corked_datagrams;
  };
  add(*impl_->socket);
  if (impl_->group_socket) add(*impl_->group_socket);
  for (const auto& joined : impl_->joined_groups) add(*joined);
  return stats;
}

std::string Channel::plan() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->core->plan();
}

Manifest Channel::manifest() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->core->manifest();
}

std::uint16_t Channel::local_port() const { return impl_->socket->local_address().port(); }
std::uint32_t Channel::channel_id() const { return impl_->core->channel_id(); }

void Channel::close() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->flush_socket();  // what coalesced sends left queued still leaves
    impl_->core->close();
  }
  {
    std::lock_guard lock(impl_->queue_mutex);
    impl_->closed = true;
  }
  impl_->queue_ready.notify_all();
}

std::string describe_plan(const Manifest& manifest, const Capabilities* capabilities, const std::string& self) {
  struct NullOutput : core::ChannelCore::Output {
    void transmit(const SocketAddress&, std::span<const std::byte>) override {}
    void deliver(Message&&) override {}
  } output;
  core::ChannelCore::Config config{manifest, self, 0, 1};
  if (capabilities) config.capabilities = *capabilities;
  core::ChannelCore core(config, output);
  return core.plan();
}

}  // namespace tmc
