// A simulated network for sans-IO channel cores: a mock clock, per-link latency, and a seeded
// FaultInjector on every delivery. No sockets, no sleeps: a 100k-message run takes a moment.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "core/channel_core.h"
#include "tmc/fault_injector.h"
#include "tmc/wire_format.h"

namespace tmc::test {

using core::SocketAddress;
using core::TimePoint;

class SimNetwork {
 public:
  struct Node : core::ChannelCore::Output {
    SimNetwork* network = nullptr;
    std::string name;
    SocketAddress address;
    std::unique_ptr<core::ChannelCore> core;
    std::vector<Message> delivered;
    std::vector<Gap> gaps;
    bool down = false;  // drops everything sent to it
    bool cut_off = false;  // partitioned: drops everything sent to it and everything it sends
    std::function<void(const Message&)> on_deliver;

    void transmit(const SocketAddress& to, std::span<const std::byte> packet) override {
      network->send(address, to, packet);
    }
    // Two-piece DATA packets (unreliable sends): which payload bytes the core handed over and
    // whether it lent the application's own (borrowed_for_send); sent as one packet.
    struct PieceTransmit {
      const std::byte* payload;
      std::size_t length;
      bool borrowed_for_send;
      std::uint16_t flags;  // the header's flags (big-endian at TMC_OFF_FLAGS)
    };
    std::vector<PieceTransmit> piece_transmits;
    void transmit(const SocketAddress& to, std::span<const std::byte> header, std::span<const std::byte> payload,
                  bool borrowed_for_send) override {
      const auto flags = static_cast<std::uint16_t>(std::to_integer<unsigned>(header[TMC_OFF_FLAGS]) << 8 |
                                                    std::to_integer<unsigned>(header[TMC_OFF_FLAGS + 1]));
      piece_transmits.push_back({payload.data(), payload.size(), borrowed_for_send, flags});
      std::vector<std::byte> packet(header.begin(), header.end());
      packet.insert(packet.end(), payload.begin(), payload.end());
      network->send(address, to, packet);
    }
    void deliver(Message&& message) override {
      if (on_deliver) on_deliver(message);
      delivered.push_back(std::move(message));
    }
    void gap(const Gap& gap) override { gaps.push_back(gap); }
  };

  explicit SimNetwork(FaultConfig faults = {}, core::Duration latency = std::chrono::microseconds(20))
      : faults_(faults), latency_(latency) {}

  // Members named n0..n{count-1} at 10.0.0.{i+1}:7000 (addresses exist only in the simulation).
  static Manifest group_manifest(int count, Manifest base = {}) {
    Multicast multicast;
    for (int i = 0; i < count; ++i)
      multicast.members.push_back({"n" + std::to_string(i), "10.0.0." + std::to_string(i + 1) + ":7000"});
    base.multicast = multicast;
    if (!base.channel) base.channel = "sim";
    return base;
  }

  Node& add_node(const Manifest& manifest, const std::string& self, std::uint64_t seed) {
    SocketAddress address;
    for (const auto& member : manifest.multicast->members)
      if (member.name == self) address = *SocketAddress::parse(member.address);
    return insert(core::ChannelCore::Config{manifest, self, 0, seed}, address);
  }

  // A node with a core configured by the caller (capabilities, a dedicated sequencer role) at
  // `address`; its creation time is the simulation's now.
  Node& add_node(core::ChannelCore::Config config, const SocketAddress& address) {
    config.now = now_;
    return insert(config, address);
  }

 private:
  Node& insert(const core::ChannelCore::Config& config, const SocketAddress& address) {
    auto node = std::make_unique<Node>();
    node->network = this;
    node->name = config.self;
    node->address = address;
    node->core = std::make_unique<core::ChannelCore>(config, *node);
    nodes_.push_back(std::move(node));
    injectors_.emplace(nodes_.back()->address.to_string(),
                       std::make_unique<FaultInjector>(FaultConfig{faults_.drop, faults_.duplicate, faults_.reorder,
                                                                   faults_.corrupt, faults_.seed + nodes_.size(),
                                                                   faults_.reorder_depth}));
    return *nodes_.back();
  }

 public:

  TimePoint now() const { return now_; }
  void advance(core::Duration d) { run_until(now_ + d); }

  void send(const SocketAddress& from, const SocketAddress& to, std::span<const std::byte> packet) {
    ++packets_;
    if (Node* sender = find(from); sender && sender->cut_off) return;
    events_.push(Event{now_ + latency_, serial_++, from, to, {packet.begin(), packet.end()}});
  }

  // Runs events and timers in time order until `until` or nothing is left.
  void run_until(TimePoint until) {
    while (true) {
      TimePoint next_timer = core::kNever;
      Node* timer_node = nullptr;
      for (auto& node : nodes_)
        if (node->core->next_timer() < next_timer) {
          next_timer = node->core->next_timer();
          timer_node = node.get();
        }
      const TimePoint next_event = events_.empty() ? core::kNever : events_.top().at;
      const TimePoint next = std::min(next_timer, next_event);
      if (next == core::kNever || next > until) break;
      now_ = std::max(now_, next);
      if (next_timer <= next_event) {
        timer_node->core->on_timer(now_);
        continue;
      }
      // Deliver every event due now, then end the receive batch of each node that got one.
      std::vector<Node*> touched;
      while (!events_.empty() && events_.top().at <= now_) {
        Event event = events_.top();
        events_.pop();
        Node* node = find(event.to);
        if (!node || node->down || node->cut_off) continue;
        auto& injector = *injectors_.at(node->address.to_string());
        injector.process(event.bytes, event.from.storage, [&](std::span<const std::byte> p, const sockaddr_storage&) {
          node->core->on_datagram(p, event.from, now_);
        });
        if (std::find(touched.begin(), touched.end(), node) == touched.end()) touched.push_back(node);
      }
      for (Node* node : touched) node->core->end_of_batch(now_);
    }
    if (until != core::kNever && until > now_) now_ = until;
  }

  // Runs until nothing is in flight and no timer is due within `horizon`.
  void run_quiet(core::Duration horizon = std::chrono::seconds(5)) { run_until(now_ + horizon); }

  // Flushes packets held for reordering on every link.
  void flush_reordered() {
    for (auto& [address, injector] : injectors_) {
      Node* node = nullptr;
      for (auto& n : nodes_)
        if (n->address.to_string() == address) node = n.get();
      injector->flush([&](std::span<const std::byte> p, const sockaddr_storage& s) {
        node->core->on_datagram(p, SocketAddress::from(reinterpret_cast<const sockaddr*>(&s), sizeof(sockaddr_in)), now_);
      });
      node->core->end_of_batch(now_);
    }
  }

  std::uint64_t packets() const { return packets_; }
  Node& node(std::size_t i) { return *nodes_[i]; }

 private:
  struct Event {
    TimePoint at;
    std::uint64_t serial;
    SocketAddress from, to;
    std::vector<std::byte> bytes;
    bool operator>(const Event& other) const { return at != other.at ? at > other.at : serial > other.serial; }
  };
  Node* find(const SocketAddress& address) {
    for (auto& node : nodes_)
      if (node->address == address) return node.get();
    return nullptr;
  }

  FaultConfig faults_;
  core::Duration latency_;
  TimePoint now_ = TimePoint(std::chrono::seconds(1000));
  std::uint64_t serial_ = 0;
  std::uint64_t packets_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, std::unique_ptr<FaultInjector>> injectors_;
};

inline std::vector<std::byte> bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), reinterpret_cast<const std::byte*>(text.data()) + text.size()};
}
inline std::string text_of(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace tmc::test
