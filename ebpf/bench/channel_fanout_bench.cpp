// tmc-channel-fanout-bench — the engine's group send through tmc::Channel, with and without the
// eBPF fan-out capability, same channel, same members, same run (issue 4). tmc-fanout-bench
// measures the mechanism with its own sends; this one measures what an application gets: one
// unreliable channel of 4 members in network namespaces on a bridge (netns_testbed.h), member a
// sends N messages to the group, b, c and d receive (each a process of its own, this binary
// re-executed as `receive`). Arm `ebpf`: capabilities permit ebpf_fanout on a, the channel
// attaches the tc program and sends one datagram (or one GSO super-packet) to members[0];
// arm `user`: user-space fan-out, one datagram per member, GSO runs per member.
//
//   tmc-channel-fanout-bench [--messages N] [--size BYTES] [--rounds R]
//
// Per arm and round: sender msgs/s (first send to the last packet handed to the socket) and
// CPU per message of the sender process (its threads, including the softirq work the kernel
// charges to its sends — on veth that includes the members' receive path, for both arms
// alike), of the receivers, and the fraction of messages each member delivered. The arms
// alternate their order every round; figures are paired ratios ebpf / user, median [min..max].
// Needs root (network namespaces) and BPF. Nothing is asserted: it is a benchmark.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "netns_testbed.h"
#include "tmc/capabilities.h"
#include "tmc/channel.h"

using namespace tmc::bpf::test;
using namespace std::chrono_literals;

namespace {

constexpr int kHosts = 4;  // a sends; b, c, d receive

tmc::Manifest manifest_for(const std::string& channel) {
  tmc::Manifest manifest;
  manifest.channel = channel;
  std::vector<tmc::Member> members;
  for (int i = 0; i < kHosts; ++i)
    members.push_back({std::string(1, char('a' + i)), Testbed::ip(i) + ":" + std::to_string(7401 + i)});
  manifest.multicast = tmc::Multicast{.members = members};
  return manifest;  // reliability none: the sender's rate is the mechanism's, nothing waits for acks
}

double cpu_seconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
}

// Child: receive until `messages` arrived, or 1 s without one once one came (5 s before), then
// print the count on stdout.
int receive_main(const std::string& netns, const std::string& self, const std::string& channel, long messages) {
  std::unique_ptr<tmc::Channel> receiver;
  {
    InNetns inside(netns);
    receiver = std::make_unique<tmc::Channel>(manifest_for(channel), tmc::ChannelOptions{.self = self});
  }
  std::printf("ready\n");
  std::fflush(stdout);
  long received = 0;
  while (received < messages && receiver->recv(received ? 1000ms : 5000ms)) ++received;
  std::printf("%ld\n", received);
  return 0;
}

struct Receiver {
  pid_t pid = -1;
  FILE* output = nullptr;
};

Receiver spawn_receiver(const std::string& netns, const std::string& self, const std::string& channel, long messages) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  const std::string count = std::to_string(messages);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    execl("/proc/self/exe", "tmc-channel-fanout-bench", "receive", netns.c_str(), self.c_str(), channel.c_str(),
          count.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  Receiver receiver{pid, fdopen(fds[0], "r")};
  char line[64] = {};
  if (!receiver.output || !std::fgets(line, sizeof line, receiver.output) || std::strncmp(line, "ready", 5) != 0)
    throw std::runtime_error("receiver " + self + " did not start");
  return receiver;
}

long reap(Receiver& receiver) {
  char line[64] = {};
  long count = -1;
  if (std::fgets(line, sizeof line, receiver.output)) count = std::atol(line);
  std::fclose(receiver.output);
  int status = 0;
  waitpid(receiver.pid, &status, 0);
  return count;
}

struct Figures {
  double msgs_per_second = 0, sender_cpu_us = 0, receiver_cpu_us = 0, delivered = 0;
  std::uint64_t gso_sends = 0, packets = 0;
  bool attached = false;
};

Figures run_arm(Testbed& bed, bool ebpf, long messages, std::size_t size, int round) {
  const std::string channel = std::string(ebpf ? "bench-ebpf-" : "bench-user-") + std::to_string(round);
  std::vector<Receiver> receivers;
  for (int i = 1; i < kHosts; ++i) receivers.push_back(spawn_receiver(bed.host(i), std::string(1, char('a' + i)), channel, messages));
  auto capabilities = std::make_shared<const tmc::Capabilities>(tmc::parse_capabilities(
      ebpf ? "hosts: {a: {ebpf_fanout: true}}\n" : "defaults: {ebpf_fanout: false}\n", "caps.yaml"));
  std::unique_ptr<tmc::Channel> sender;
  {
    InNetns inside(bed.host(0));
    sender = std::make_unique<tmc::Channel>(manifest_for(channel), tmc::ChannelOptions{.self = "a", .capabilities = capabilities});
  }
  Figures figures;
  figures.attached = sender->plan().find("attached: tc egress program") != std::string::npos;
  const std::string payload(size, 'x');
  const std::uint64_t packets_before = sender->stats().packets_sent;
  const std::uint64_t gso_before = sender->stats().gso_sends;
  const std::uint64_t per_message = ebpf ? 1 : kHosts - 1;
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto start = std::chrono::steady_clock::now();
  for (long m = 0; m < messages; ++m) sender->send(payload);
  // Unreliable sends are handed to the socket by the send itself or the next coalesced flush.
  for (int wait = 0; wait < 2000 && sender->stats().packets_sent - packets_before < per_message * messages; ++wait)
    std::this_thread::sleep_for(100us);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = cpu_seconds(RUSAGE_SELF) - cpu_before;
  const tmc::Stats stats = sender->stats();
  figures.packets = stats.packets_sent - packets_before;
  figures.gso_sends = stats.gso_sends - gso_before;
  figures.msgs_per_second = messages / seconds;
  figures.sender_cpu_us = cpu / messages * 1e6;
  const double children_before = cpu_seconds(RUSAGE_CHILDREN);
  long delivered = 0;
  for (auto& receiver : receivers) delivered += std::max(0L, reap(receiver));
  figures.receiver_cpu_us = (cpu_seconds(RUSAGE_CHILDREN) - children_before) / messages * 1e6;
  figures.delivered = double(delivered) / double(messages * (kHosts - 1));
  sender.reset();
  return figures;
}

struct Summary {
  double median = 0, low = 0, high = 0;
};
Summary summarise(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return {values[values.size() / 2], values.front(), values.back()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "receive") {
    if (argc != 6) return 2;
    return receive_main(argv[2], argv[3], argv[4], std::atol(argv[5]));
  }
  long messages = 200000;
  std::size_t size = 64;
  int rounds = 5;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (!value || (flag != "--messages" && flag != "--size" && flag != "--rounds")) {
      std::fprintf(stderr, "usage: tmc-channel-fanout-bench [--messages N] [--size BYTES] [--rounds R]\n");
      return 2;
    }
    if (flag == "--messages") messages = std::atol(value);
    if (flag == "--size") size = static_cast<std::size_t>(std::atol(value));
    if (flag == "--rounds") rounds = std::atoi(value);
  }
  if (messages <= 0 || size == 0 || size > 60000 || rounds <= 0) {
    std::fprintf(stderr, "tmc-channel-fanout-bench: --messages > 0, --size 1..60000, --rounds > 0\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "tmc-channel-fanout-bench: needs root (network namespaces)\n");
    return 1;
  }
  Testbed bed(kHosts);
  std::printf("tmc::Channel group send, %d members (a sends to b, c, d), unreliable, %ld messages of %zu B, %d rounds\n",
              kHosts, messages, size, rounds);
  std::printf("%5s %5s %12s %10s %10s %9s %9s %8s\n", "round", "arm", "msgs/s", "send us", "recv us", "delivered",
              "gso", "packets");
  std::vector<double> rate_ratio, cpu_ratio;
  for (int round = 0; round < rounds; ++round) {
    Figures figures[2];  // [0] user, [1] ebpf
    for (int k = 0; k < 2; ++k) {
      const bool ebpf = (k + round) % 2 == 1;
      figures[ebpf] = run_arm(bed, ebpf, messages, size, round);
      const Figures& f = figures[ebpf];
      std::printf("%5d %5s %12.0f %10.3f %10.3f %9.4f %9llu %8llu%s\n", round, ebpf ? "ebpf" : "user", f.msgs_per_second,
                  f.sender_cpu_us, f.receiver_cpu_us, f.delivered, (unsigned long long)f.gso_sends,
                  (unsigned long long)f.packets, ebpf && !f.attached ? "  (NOT ATTACHED)" : "");
      std::fflush(stdout);
    }
    rate_ratio.push_back(figures[1].msgs_per_second / figures[0].msgs_per_second);
    cpu_ratio.push_back(figures[0].sender_cpu_us / figures[1].sender_cpu_us);
  }
  const Summary rate = summarise(rate_ratio), cpu = summarise(cpu_ratio);
  std::printf("ebpf / user sender msgs/s: %.2fx [%.2f..%.2f]; sender CPU per message user / ebpf: %.2fx [%.2f..%.2f]\n",
              rate.median, rate.low, rate.high, cpu.median, cpu.low, cpu.high);
  return 0;
}
