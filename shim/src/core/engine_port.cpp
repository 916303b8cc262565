#include "core/engine_port.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
  Channel channel_;
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
