#include "core/engine_port.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <vector>

#include "core/guard.h"
#include "core/real.h"
#include "tmc/channel.h"
#include "transport/runtime_impl.h"

namespace tmc::shim {

namespace {

class EnginePort : public ChannelPort {
 public:
  EnginePort(const Manifest& manifest, const std::string& local_address, std::shared_ptr<Runtime> runtime)
      : channel_(manifest, make_options(local_address, std::move(runtime))) {}

  ~EnginePort() override {
    ShimScope scope;
    channel_.close();
  }

  void send(std::span<const std::byte> payload, const Manifest* per_message, std::function<void()> done) override {
    ShimScope scope;
    auto completion = per_message ? channel_.send(payload, *per_message) : channel_.send(payload);
    completion.on_complete([done = std::move(done)](SendStatus) { done(); });
  }

  // A peer of a datagram channel is a member named "peer-<n>"; a per-message manifest with
  // `targets: [name]` sends to it alone. Members are never removed (the engine holds at most 64),
  // so past kMaxPeers the least recently used peer's slot is given the new address.
  void send_to(std::span<const std::byte> payload, const std::string& address, const Manifest* per_message,
               std::function<void()> done) override {
    ShimScope scope;
    Manifest targeted;
    {
      std::lock_guard lock(peers_mutex_);
      auto& slot = slot_for(address);
      targeted = per_message ? *per_message : Manifest{};
      targeted.targets = slot.targets;
    }
    auto completion = channel_.send(payload, targeted);
    completion.on_complete([done = std::move(done)](SendStatus) { done(); });
  }

  void join_group(const std::string& group) override {
    ShimScope scope;
    channel_.join_group(group);
  }

  void send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& address) override {
    ShimScope scope;
    channel_.send_control(subtype, argument, address);
  }

  void set_peer(const std::string& address) override {
    ShimScope scope;
    channel_.add_member(Member{"peer", address});
  }

  std::uint16_t local_port() const override { return channel_.local_port(); }

  void on_message(MessageHandler handler) override {
    channel_.on_message([handler = std::move(handler)](Message message) {
      engine_thread = true;
      handler(std::move(message.payload), message.source);
    });
  }

  void on_control(ControlHandler handler) override {
    channel_.on_control([handler = std::move(handler)](std::uint8_t subtype, std::uint32_t argument, std::uint32_t,
                                                      const sockaddr_storage& source) {
      engine_thread = true;
      handler(subtype, argument, source);
    });
  }

  PortStats stats() const override {
    auto stats = channel_.stats();
    PortStats out;
    out.messages_sent = stats.messages_sent;
    out.bytes_sent = stats.bytes_sent;
    out.messages_delivered = stats.messages_delivered;
    out.bytes_delivered = stats.bytes_delivered;
    out.packets_sent = stats.packets_sent;
    out.packets_received = stats.packets_received;
    out.retransmissions = stats.retransmissions;
    out.abandoned = stats.abandoned;
    out.malformed_dropped = stats.malformed_dropped;
    out.duplicates_dropped = stats.duplicates_dropped;
    out.gso_sends = stats.gso_sends;
    out.gso_segments = stats.gso_segments;
    out.gro_receives = stats.gro_receives;
    out.gro_segments = stats.gro_segments;
    out.corked_packets = stats.corked_packets;
    out.smoothed_rtt_us = std::chrono::duration<double, std::micro>(stats.smoothed_rtt).count();
    out.rtt_p99_us = std::chrono::duration<double, std::micro>(stats.rtt_p99).count();
    return out;
  }

  void close() override {
    ShimScope scope;
    channel_.close();
  }

 private:
  static ChannelOptions make_options(const std::string& local_address, std::shared_ptr<Runtime> runtime) {
    ChannelOptions options;
    options.local_address = local_address;
    options.runtime = std::move(runtime);
    return options;
  }
  struct PeerSlot {
    std::string name;
    std::string address;
    Targets targets;
    std::uint64_t last_used = 0;
  };
  static constexpr std::size_t kMaxPeers = 48;  // of the engine's 64 members; the rest for group members

  // Under peers_mutex_.
  PeerSlot& slot_for(const std::string& address) {
    ++use_clock_;
    if (auto found = by_address_.find(address); found != by_address_.end()) {
      auto& slot = slots_[found->second];
      slot.last_used = use_clock_;
      return slot;
    }
    std::size_t index;
    if (slots_.size() < kMaxPeers) {
      index = slots_.size();
      PeerSlot slot;
      slot.name = "peer-" + std::to_string(index);
      slot.targets.kind = Targets::Kind::subset;
      slot.targets.names = {slot.name};
      slots_.push_back(std::move(slot));
    } else {
      index = 0;
      for (std::size_t i = 1; i < slots_.size(); ++i)
        if (slots_[i].last_used < slots_[index].last_used) index = i;
      by_address_.erase(slots_[index].address);
    }
    auto& slot = slots_[index];
    slot.address = address;
    slot.last_used = use_clock_;
    by_address_[address] = index;
    channel_.add_member(Member{slot.name, address});
    return slot;
  }

  Channel channel_;
  std::mutex peers_mutex_;
  std::vector<PeerSlot> slots_;
  std::map<std::string, std::size_t> by_address_;
  std::uint64_t use_clock_ = 0;
};

class EngineFactory : public ChannelFactory {
 public:
  EngineFactory() {
    ShimScope scope;
    runtime_ = std::make_shared<Runtime>();
    // Mark the runtime thread as an engine thread before it handles any channel: its own
    // socket calls (and closes of engine fds) must pass straight through the shim.
    int marker = TMC_REAL(eventfd)(1, EFD_CLOEXEC | EFD_NONBLOCK);
    if (marker >= 0) {
      auto* impl = &runtime_->impl();
      impl->add(marker, EPOLLIN, [impl, marker](std::uint32_t) {
        engine_thread = true;
        impl->remove(marker);
        TMC_REAL(close)(marker);
      });
    }
  }
  ~EngineFactory() override = default;

  std::unique_ptr<ChannelPort> open(const Manifest& manifest, const std::string& local_address) override {
    ShimScope scope;
    return std::make_unique<EnginePort>(manifest, local_address, runtime_);
  }

 private:
  std::shared_ptr<Runtime> runtime_;
};

}  // namespace

std::shared_ptr<ChannelFactory> make_engine_factory() { return std::make_shared<EngineFactory>(); }

}  // namespace tmc::shim
