// flow_control through tmc::Channel over real UDP on loopback: a receiver that stops reading
// stops its sender — the receiver holds at most the credit window, the sender's memory stays
// under the configured bound (a blocking send waits, an asynchronous one is refused) — and
// everything flows again, in order and complete, once the receiver reads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tmc/channel.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kWindow = 64 * 1024;
constexpr std::size_t kMessageBytes = 1000;
constexpr std::uint64_t kWindowPackets = kWindow / (1500 - 20 - 8 - 56);  // credit counts DATA packets

struct Pair {
  std::unique_ptr<Channel> a, b;
  explicit Pair(Synchronicity synchronicity) {
    Manifest manifest{.channel = "flow-control-udp",
                      .multicast = Multicast{.members = {{"a", ""}, {"b", ""}}},
                      .ordering = Ordering::fifo,
                      .reliability = Reliability{.kind = Reliability::Kind::all},
                      .mtu = 1500,
                      .flow_control = FlowControl{.window_bytes = kWindow},
                      .synchronicity = synchronicity};
    a = std::make_unique<Channel>(manifest, ChannelOptions{.self = "a", .local_address = "127.0.0.1:0"});
    b = std::make_unique<Channel>(manifest, ChannelOptions{.self = "b", .local_address = "127.0.0.1:0"});
    for (Channel* channel : {a.get(), b.get()}) {
      channel->add_member({"a", "127.0.0.1:" + std::to_string(a->local_port())});
      channel->add_member({"b", "127.0.0.1:" + std::to_string(b->local_port())});
    }
  }
};

std::string message_text(int i) {
  std::string text = std::to_string(i) + ":";
  text.resize(kMessageBytes, 'x');
  return text;
}

TEST(ChannelFlowControlUdp, AReceiverThatStopsReadingStopsABlockingSenderUntilItReadsAgain) {
  Pair pair(Synchronicity::blocking);
  constexpr int kMessages = 3000;  // 3 MB: 45 times the window
  std::atomic<int> sent{0};
  std::vector<Completion> completions;
  std::thread sender([&] {
    for (int i = 0; i < kMessages; ++i) {
      completions.push_back(pair.a->send(message_text(i)));
      sent.store(i + 1);
    }
  });
  // b does not read: the sender must stall well short of the end, within its memory bound.
  int stalled_at = -1;
  for (int wait = 0; wait < 100; ++wait) {
    std::this_thread::sleep_for(20ms);
    const int now_sent = sent.load();
    if (wait >= 25 && now_sent == stalled_at) break;  // no progress for 20 ms after 0.5 s
    stalled_at = now_sent;
  }
  EXPECT_LT(stalled_at, kMessages / 4) << "the sender did not stop";
  const Stats sender_stats = pair.a->stats();
  const Stats receiver_stats = pair.b->stats();
  EXPECT_LE(sender_stats.send_buffer_peak_bytes, kWindow + kMessageBytes) << "sender memory bound";
  EXPECT_GT(sender_stats.send_buffer_peak_bytes, kWindow / 2) << "the bound was actually reached";
  EXPECT_GT(sender_stats.credit_stalls, 0u);
  EXPECT_LE(receiver_stats.messages_delivered, kWindowPackets) << "the receiver holds at most the credit window";
  EXPECT_EQ(receiver_stats.credit_violations, 0u);

  // b reads again: everything arrives, in order, and the sender finishes.
  for (int i = 0; i < kMessages; ++i) {
    auto message = pair.b->recv(10s);
    ASSERT_TRUE(message) << "message " << i << " of " << kMessages << " (sender at " << sent.load() << ")";
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(message->payload.data()), message->payload.size()), message_text(i));
  }
  sender.join();
  for (auto& completion : completions) EXPECT_EQ(completion.wait_for(10s), SendStatus::delivered);
  EXPECT_LE(pair.a->stats().send_buffer_peak_bytes, kWindow + kMessageBytes);
}

TEST(ChannelFlowControlUdp, AnAsynchronousSenderIsRefusedInsteadOfBuffering) {
  Pair pair(Synchronicity::asynchronous);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 2000 && refused < 100; ++i) {
    const SendStatus status = pair.a->send(message_text(accepted)).status();
    if (status == SendStatus::refused) {
      ++refused;
      std::this_thread::sleep_for(1ms);
    } else {
      ++accepted;
    }
  }
  EXPECT_GT(refused, 0) << "nobody reads at b: the send buffer must fill";
  EXPECT_LE(pair.a->stats().send_buffer_peak_bytes, kWindow + kMessageBytes);
  for (int i = 0; i < accepted; ++i) {
    auto message = pair.b->recv(10s);
    ASSERT_TRUE(message) << i;
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(message->payload.data()), message->payload.size()), message_text(i));
  }
}

}  // namespace
}  // namespace tmc
