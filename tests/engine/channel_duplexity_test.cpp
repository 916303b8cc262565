// Synchronicity and duplexity of tmc::Channel.
//   - One channel used blocking (recv) and then event-driven (on_message): nothing lost,
//     duplicated or reordered across the switch.
//   - Simplex: a publish-only (send-only) endpoint and a subscribe-only (receive-only) one over
//     real UDP: data flows, nothing at all comes back (no acks, no credit, no stamps); the
//     subscriber cannot send. Half duplex keeps the return path (acks).
//   - A manifest asking a simplex channel for what needs a return path fails to load with
//     FILE:LINE:COL pointing at the feature.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "tmc/channel.h"
#include "tmc/manifest_yaml.h"

namespace tmc {
namespace {

using namespace std::chrono_literals;

std::string text_of(const Message& message) {
  return {reinterpret_cast<const char*>(message.payload.data()), message.payload.size()};
}

// a and b on loopback with their own manifests (the same channel name).
struct Pair {
  std::unique_ptr<Channel> a, b;
  Pair(Manifest for_a, Manifest for_b) {
    for (Manifest* manifest : {&for_a, &for_b}) {
      manifest->channel = "duplexity-test";
      manifest->multicast = Multicast{.members = {{"a", ""}, {"b", ""}}};
    }
    a = std::make_unique<Channel>(for_a, ChannelOptions{.self = "a", .local_address = "127.0.0.1:0"});
    b = std::make_unique<Channel>(for_b, ChannelOptions{.self = "b", .local_address = "127.0.0.1:0"});
    for (Channel* channel : {a.get(), b.get()}) {
      channel->add_member({"a", "127.0.0.1:" + std::to_string(a->local_port())});
      channel->add_member({"b", "127.0.0.1:" + std::to_string(b->local_port())});
    }
  }
};

TEST(ChannelSynchronicity, BlockingThenEventDrivenOnOneChannel) {
  const Manifest manifest{.ordering = Ordering::fifo, .reliability = Reliability{.kind = Reliability::Kind::all}};
  Pair pair(manifest, manifest);
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages / 2; ++i) pair.a->send(std::to_string(i));
  std::vector<std::string> got;
  for (int i = 0; i < 20; ++i) {  // blocking use
    auto message = pair.b->recv(5s);
    ASSERT_TRUE(message);
    got.push_back(text_of(*message));
  }
  std::mutex mutex;
  pair.b->on_message([&](Message message) {  // event-driven from now on (queued ones first)
    std::lock_guard lock(mutex);
    got.push_back(text_of(message));
  });
  std::vector<Completion> completions;
  for (int i = kMessages / 2; i < kMessages; ++i) completions.push_back(pair.a->send(std::to_string(i)));
  for (auto& completion : completions) ASSERT_EQ(completion.wait_for(10s), SendStatus::delivered);
  for (int wait = 0; wait < 500; ++wait) {
    {
      std::lock_guard lock(mutex);
      if (got.size() >= kMessages) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mutex);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(got[i], std::to_string(i));
  EXPECT_FALSE(pair.b->recv(10ms)) << "after on_message nothing is left for recv()";
}

TEST(ChannelDuplexity, PublishOnlyToSubscribeOnlyHasNoReturnPath) {
  Pair pair({.duplexity = Duplexity::send_only}, {.duplexity = Duplexity::receive_only});
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(pair.a->send(std::to_string(i)).status(), SendStatus::delivered);
  int received = 0;
  while (auto message = pair.b->recv(300ms)) ++received;
  EXPECT_GE(received, kMessages * 9 / 10) << "unreliable loopback: (nearly) everything arrives";
  const Stats subscriber = pair.b->stats(), publisher = pair.a->stats();
  EXPECT_EQ(subscriber.packets_sent, 0u) << "a subscriber sends nothing back";
  EXPECT_EQ(subscriber.acks_sent, 0u);
  EXPECT_EQ(publisher.packets_received, 0u) << "nothing reaches the publisher";
  EXPECT_THROW(pair.b->send("reply"), std::invalid_argument) << "subscribe-only cannot send";
}

TEST(ChannelDuplexity, APublisherDropsWhatArrivesAnyway) {
  // b (full duplex, reliability asked) sends to a publish-only a: a neither delivers nor acks.
  Pair pair({.duplexity = Duplexity::send_only},
            {.reliability = Reliability{.kind = Reliability::Kind::all, .member_timeout = 200ms}});
  for (int i = 0; i < 20; ++i) pair.b->send("unwanted");
  EXPECT_FALSE(pair.a->recv(300ms));
  const Stats publisher = pair.a->stats();
  EXPECT_GT(publisher.simplex_dropped, 0u);
  EXPECT_EQ(publisher.acks_sent, 0u);
}

TEST(ChannelDuplexity, HalfDuplexKeepsTheReturnPath) {
  const Manifest manifest{.reliability = Reliability{.kind = Reliability::Kind::all}, .duplexity = Duplexity::half};
  Pair pair(manifest, manifest);
  EXPECT_EQ(pair.a->send("ping").wait_for(5s), SendStatus::delivered);
  EXPECT_EQ(pair.b->send("pong").wait_for(5s), SendStatus::delivered);
  EXPECT_TRUE(pair.a->recv(1s));
  EXPECT_TRUE(pair.b->recv(1s));
}

struct ImpossibleCase {
  const char* yaml;
  int line, column;
  const char* feature;
};

class ChannelDuplexityManifest : public ::testing::TestWithParam<ImpossibleCase> {};

TEST_P(ChannelDuplexityManifest, ImpossibleCombinationFailsWithItsPosition) {
  const ImpossibleCase& c = GetParam();
  try {
    parse_manifest(c.yaml, "simplex.yaml");
    FAIL() << "expected a ConfigError for:\n" << c.yaml;
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.file(), "simplex.yaml");
    EXPECT_EQ(error.line(), c.line) << error.what();
    EXPECT_EQ(error.column(), c.column) << error.what();
    const std::string what = error.what();
    EXPECT_NE(what.find(std::string(c.feature) + ": impossible with duplexity"), std::string::npos) << what;
    EXPECT_NE(what.find("no return path"), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ChannelDuplexityManifest,
    ::testing::Values(ImpossibleCase{"channel: news\nduplexity: send-only\nreliability: all\n", 3, 1, "reliability"},
                      ImpossibleCase{"duplexity: receive-only\nchannel: news\n  \nflow_control: {window: 1MiB}\n", 4, 1,
                                     "flow_control"},
                      ImpossibleCase{"congestion_control: aimd\nduplexity: send-only\n", 1, 1, "congestion_control"},
                      ImpossibleCase{"duplexity: receive-only\nordering: total\n", 2, 1, "ordering"}));

TEST(ChannelDuplexityManifestOk, SimplexWithoutAReturnPathFeatureLoads) {
  const Manifest manifest = parse_manifest("duplexity: send-only\nreliability: none\ncongestion_control: none\n", "ok.yaml");
  EXPECT_EQ(manifest.duplexity, Duplexity::send_only);
  // The same check holds for manifests built in code: the channel refuses them.
  EXPECT_THROW(Channel({.channel = "x", .multicast = Multicast{.members = {{"a", "127.0.0.1:0"}}},
                        .reliability = Reliability{.kind = Reliability::Kind::all}, .duplexity = Duplexity::send_only},
                       {.self = "a"}),
               std::invalid_argument);
}

}  // namespace
}  // namespace tmc
