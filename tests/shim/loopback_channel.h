// An in-process ChannelPort/ChannelFactory for testing the shim's bridging core without the
// engine: ports are numbers in one hub, handlers run on the hub's own thread (like the engine's
// runtime thread), and unreliable messages can be dropped with a given probability.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

#include "core/channel_port.h"
#include "policy/address.h"
#include "tmc/wire_format.h"

namespace tmc::shim::testing {

class LoopbackHub;

class LoopbackPort : public ChannelPort {
 public:
  LoopbackPort(std::shared_ptr<LoopbackHub> hub, Manifest manifest) : hub_(std::move(hub)), manifest_(std::move(manifest)) {}
  void bind(std::uint16_t number);
  ~LoopbackPort() override;
  void send(std::span<const std::byte> payload, const Manifest* per_message, std::function<void()> done) override;
  void send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& address) override;
  // Datagram channels: one copy per member, or one per joined port of the manifest's group.
  void send_to(std::span<const std::byte> payload, const std::string& address, const Manifest* per_message,
               std::function<void()> done) override;
  void join_group(const std::string& group) override;
  void set_peer(const std::string& address) override { peer_ = parse_endpoint(address)->port; }
  std::uint16_t local_port() const override { return port_; }
  void on_message(MessageHandler handler) override {
    std::lock_guard lock(mutex_);
    message_handler_ = std::move(handler);
  }
  void on_control(ControlHandler handler) override {
    std::lock_guard lock(mutex_);
    control_handler_ = std::move(handler);
  }
  PortStats stats() const override { return stats_; }
  void close() override;

  void receive(std::vector<std::byte> payload, const sockaddr_storage& from);
  void receive_control(std::uint8_t subtype, std::uint32_t argument, const sockaddr_storage& from);
  void set_ip(const IpAddress& ip) { ip_ = ip; }
  sockaddr_storage source() const;

 private:
  std::shared_ptr<LoopbackHub> hub_;
  Manifest manifest_;
  std::uint16_t port_ = 0;
  IpAddress ip_ = *parse_ip("127.0.0.1");
  bool bound_ = false;
  std::uint16_t peer_ = 0;
  std::mutex mutex_;
  MessageHandler message_handler_;
  ControlHandler control_handler_;
  PortStats stats_;
  void transmit(std::span<const std::byte> payload, const Manifest& effective, std::uint16_t to);
};

class LoopbackHub : public std::enable_shared_from_this<LoopbackHub> {
 public:
  LoopbackHub() : thread_([this] { run(); }) {}
  ~LoopbackHub() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  double loss = 0;                 // probability an unreliable message is dropped
  // Control packets to a port nothing is bound to come back as REFUSE (the engine's ICMP
  // port-unreachable report); off: they vanish, like a host that answers nothing.
  bool refuse_unbound = false;
  std::vector<std::size_t> sizes;  // sizes of every message sent (guarded by mutex_)
  std::uint64_t dropped = 0;

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  std::uint16_t bind(LoopbackPort* port, std::uint16_t number) {
    std::lock_guard lock(mutex_);
    if (number == 0) {
      number = next_ephemeral_++;
    } else if (ports_.count(number)) {
      throw std::runtime_error("port in use");
    }
    ports_[number] = port;
    return number;
  }
  void unbind(std::uint16_t number) {
    std::lock_guard dispatch(dispatch_mutex_);  // not while a handler of this port runs
    std::lock_guard lock(mutex_);
    ports_.erase(number);
  }
  // Runs `action` with the port bound to `number` (if any; else `unbound`), on the hub thread.
  void to_port(std::uint16_t number, std::function<void(LoopbackPort&)> action, std::function<void()> unbound = {}) {
    post([this, number, action, unbound] {
      std::lock_guard dispatch(dispatch_mutex_);
      LoopbackPort* port = nullptr;
      {
        std::lock_guard lock(mutex_);
        auto found = ports_.find(number);
        if (found != ports_.end()) port = found->second;
      }
      if (port) {
        action(*port);
      } else if (unbound) {
        unbound();
      }
    });
  }
  bool drop() {
    std::lock_guard lock(mutex_);
    bool lost = std::uniform_real_distribution<double>(0, 1)(random_) < loss;
    if (lost) ++dropped;
    return lost;
  }
  void record(std::size_t size) {
    std::lock_guard lock(mutex_);
    sizes.push_back(size);
  }
  void join(const std::string& group, std::uint16_t port) {
    std::lock_guard lock(mutex_);
    groups_[group].push_back(port);
  }
  std::vector<std::uint16_t> joined(const std::string& group) {
    std::lock_guard lock(mutex_);
    auto found = groups_.find(group);
    return found == groups_.end() ? std::vector<std::uint16_t>{} : found->second;
  }
  void leave_all(std::uint16_t port) {
    std::lock_guard lock(mutex_);
    for (auto& [group, ports] : groups_) std::erase(ports, port);
  }
  std::vector<std::size_t> recorded() {
    std::lock_guard lock(mutex_);
    return sizes;
  }
  // Waits until every task queued so far has run.
  void drain() {
    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool done = false;
    post([&] {
      std::lock_guard lock(done_mutex);
      done = true;
      done_cv.notify_all();
    });
    std::unique_lock lock(done_mutex);
    done_cv.wait(lock, [&] { return done; });
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mutex_;
  std::recursive_mutex dispatch_mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::map<std::uint16_t, LoopbackPort*> ports_;
  std::map<std::string, std::vector<std::uint16_t>> groups_;  // multicast group -> joined ports
  std::uint16_t next_ephemeral_ = 40000;
  std::mt19937 random_{12345};
  bool stopping_ = false;
  std::thread thread_;
};

inline sockaddr_storage LoopbackPort::source() const {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(port_);
  std::memcpy(&v4->sin_addr, ip_.bytes.data() + 12, 4);
  return storage;
}

inline LoopbackPort::~LoopbackPort() { close(); }

inline void LoopbackPort::bind(std::uint16_t number) {
  port_ = hub_->bind(this, number);
  bound_ = true;
}

inline void LoopbackPort::close() {
  if (bound_) {
    hub_->leave_all(port_);
    hub_->unbind(port_);
  }
  bound_ = false;
  // Handlers may be running on the hub thread; wait for them unless we are that thread.
  std::lock_guard lock(mutex_);
  message_handler_ = nullptr;
  control_handler_ = nullptr;
}

inline void LoopbackPort::transmit(std::span<const std::byte> payload, const Manifest& effective, std::uint16_t to) {
  bool reliable = effective.reliability && effective.reliability->kind != Reliability::Kind::none;
  hub_->record(payload.size());
  if (reliable || !hub_->drop()) {
    std::vector<std::byte> copy(payload.begin(), payload.end());
    auto from = source();
    hub_->to_port(to, [copy = std::move(copy), from](LoopbackPort& port) mutable { port.receive(std::move(copy), from); });
  }
}

inline void LoopbackPort::send(std::span<const std::byte> payload, const Manifest* per_message,
                               std::function<void()> done) {
  Manifest effective = per_message ? per_message->merged_over(manifest_) : manifest_;
  ++stats_.messages_sent;
  stats_.bytes_sent += payload.size();
  if (manifest_.multicast && !manifest_.multicast->group.empty()) {
    // One copy on the "wire" reaches every port that joined the group.
    hub_->record(payload.size());
    for (auto to : hub_->joined(manifest_.multicast->group)) {
      std::vector<std::byte> copy(payload.begin(), payload.end());
      auto from = source();
      hub_->to_port(to, [copy = std::move(copy), from](LoopbackPort& port) mutable { port.receive(std::move(copy), from); });
    }
  } else if (manifest_.multicast) {
    for (const auto& member : manifest_.multicast->members) transmit(payload, effective, parse_endpoint(member.address)->port);
  } else {
    transmit(payload, effective, peer_);
  }
  hub_->post(std::move(done));
}

inline void LoopbackPort::send_to(std::span<const std::byte> payload, const std::string& address,
                                  const Manifest* per_message, std::function<void()> done) {
  Manifest effective = per_message ? per_message->merged_over(manifest_) : manifest_;
  ++stats_.messages_sent;
  stats_.bytes_sent += payload.size();
  transmit(payload, effective, parse_endpoint(address)->port);
  hub_->post(std::move(done));
}

inline void LoopbackPort::join_group(const std::string& group) { hub_->join(group, port_); }

inline void LoopbackPort::send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& address) {
  auto destination = *parse_endpoint(address);
  auto from = source();
  // Nothing bound there: like the engine's ICMP port-unreachable report (IP_RECVERR), the
  // sender's control handler sees a REFUSE from that address.
  sockaddr_storage unreachable{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&unreachable);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(destination.port);
  std::memcpy(&v4->sin_addr, destination.address.bytes.data() + 12, 4);
  auto own = port_;
  hub_->to_port(
      destination.port, [subtype, argument, from](LoopbackPort& port) { port.receive_control(subtype, argument, from); },
      [hub = hub_.get(), own, unreachable] {
        if (hub->refuse_unbound) hub->to_port(own, [unreachable](LoopbackPort& port) { port.receive_control(TMC_CONTROL_REFUSE, 0, unreachable); });
      });
}

inline void LoopbackPort::receive(std::vector<std::byte> payload, const sockaddr_storage& from) {
  std::lock_guard lock(mutex_);
  ++stats_.messages_delivered;
  stats_.bytes_delivered += payload.size();
  if (message_handler_) message_handler_(std::move(payload), from);
}

inline void LoopbackPort::receive_control(std::uint8_t subtype, std::uint32_t argument, const sockaddr_storage& from) {
  std::lock_guard lock(mutex_);
  if (control_handler_) control_handler_(subtype, argument, from);
}

class LoopbackFactory : public ChannelFactory {
 public:
  explicit LoopbackFactory(std::shared_ptr<LoopbackHub> hub) : hub_(std::move(hub)) {}
  std::unique_ptr<ChannelPort> open(const Manifest& manifest, const std::string& local_address) override {
    auto endpoint = parse_endpoint(local_address);
    if (!endpoint) throw std::runtime_error("bad local address " + local_address);
    auto port = std::make_unique<LoopbackPort>(hub_, manifest);
    // A wildcard bind answers from loopback (all ports live on this host).
    if (endpoint->address != *parse_ip("0.0.0.0") && endpoint->address != *parse_ip("::")) port->set_ip(endpoint->address);
    port->bind(endpoint->port);
    return port;
  }

 private:
  std::shared_ptr<LoopbackHub> hub_;
};

}  // namespace tmc::shim::testing
