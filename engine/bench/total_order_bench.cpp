// tmc-total-order-bench: cost of a dedicated sequencer next to a member sequencer, measured in
// the same run (a benchmark, not a test: it prints figures and ratios, asserts nothing).
// Three members in this process on loopback, each sending `messages` reliable total-order
// messages concurrently; arm "member" sequences with member a, arm "dedicated" with an
// in-process tmc::SequencerService (one more endpoint receiving and acknowledging every
// packet). Per arm: wall time until every member delivered everything, process CPU (user +
// system) per message, messages per second. Arms alternate for `repetitions` rounds.
//   tmc-total-order-bench [messages_per_sender=10000] [repetitions=3]
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tmc/channel.h"
#include "tmc/sequencer_service.h"

namespace {

using namespace std::chrono_literals;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Result {
  double wall = 0, cpu = 0;
  bool complete = false;
};

Result run(bool dedicated, int per_sender, int round) {
  tmc::Manifest manifest;
  manifest.channel = "total-order-bench-" + std::to_string(round) + (dedicated ? "d" : "m");
  manifest.multicast = tmc::Multicast{.members = {{"a", ""}, {"b", ""}, {"c", ""}}};
  manifest.ordering = tmc::Ordering::total;
  manifest.reliability = tmc::Reliability{.kind = tmc::Reliability::Kind::all, .min_rto = 2ms, .initial_rto = 5ms, .window = 256};
  std::unique_ptr<tmc::SequencerService> sequencer;
  std::shared_ptr<tmc::Capabilities> capabilities;
  if (dedicated) {
    sequencer = std::make_unique<tmc::SequencerService>(manifest, tmc::SequencerOptions{.listen = "127.0.0.1:0"});
    capabilities = std::make_shared<tmc::Capabilities>(tmc::Capabilities{.source = "bench", .sequencer = sequencer->name()});
  }
  std::vector<std::unique_ptr<tmc::Channel>> members;
  std::atomic<std::uint64_t> delivered[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i)
    members.push_back(std::make_unique<tmc::Channel>(
        manifest, tmc::ChannelOptions{.self = std::string(1, char('a' + i)), .local_address = "127.0.0.1:0", .capabilities = capabilities}));
  for (int i = 0; i < 3; ++i) {
    const tmc::Member member{std::string(1, char('a' + i)), "127.0.0.1:" + std::to_string(members[i]->local_port())};
    if (sequencer) sequencer->add_member(member);
    for (auto& channel : members) channel->add_member(member);
    members[i]->on_message([&delivered, i](tmc::Message) { delivered[i].fetch_add(1, std::memory_order_relaxed); });
  }
  const std::uint64_t total = 3ull * per_sender;
  const double cpu_start = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> senders;
  const std::string payload(64, 'x');
  for (int i = 0; i < 3; ++i)
    senders.emplace_back([&, i] {
      for (int k = 0; k < per_sender; ++k) members[i]->send(payload);
    });
  for (auto& thread : senders) thread.join();
  Result result;
  const auto deadline = start + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (delivered[0] >= total && delivered[1] >= total && delivered[2] >= total) {
      result.complete = true;
      break;
    }
    std::this_thread::sleep_for(200us);
  }
  result.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.cpu = cpu_seconds() - cpu_start;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const int per_sender = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int repetitions = argc > 2 ? std::atoi(argv[2]) : 3;
  const double messages = 3.0 * per_sender;
  double wall[2] = {0, 0}, cpu[2] = {0, 0};
  std::printf("3 members x %d reliable total-order messages (64 B), loopback, %d round(s)\n", per_sender, repetitions);
  for (int round = 0; round < repetitions; ++round)
    for (int arm = 0; arm < 2; ++arm) {
      const Result result = run(arm == 1, per_sender, round);
      wall[arm] += result.wall;
      cpu[arm] += result.cpu;
      std::printf("  round %d %-9s %s wall %.3f s, %.0f msg/s, CPU %.2f us/msg\n", round, arm ? "dedicated" : "member",
                  result.complete ? "complete  " : "INCOMPLETE", result.wall, messages / result.wall, result.cpu / messages * 1e6);
    }
  std::printf("mean: member sequencer %.0f msg/s, %.2f us CPU/msg; dedicated sequencer %.0f msg/s, %.2f us CPU/msg\n",
              messages * repetitions / wall[0], cpu[0] / messages / repetitions * 1e6, messages * repetitions / wall[1],
              cpu[1] / messages / repetitions * 1e6);
  std::printf("ratio dedicated / member: throughput %.2fx, CPU per message %.2fx\n", wall[0] / wall[1], cpu[1] / cpu[0]);
  return 0;
}
