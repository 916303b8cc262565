// tmc-fanout-bench — fan-out of one message to 3 members: eBPF fan-out (one send, the tc
// egress program emits the copies) against the engine's user-space unicast fan-out (one
// sendmmsg of 3 datagrams, and a loop of 3 sendto), same packets, same run. Needs root
// (network namespaces) and BPF. Figures go to docs/ebpf.md.
//
//   tmc-fanout-bench [--messages N] [--size BYTES] [--rounds R]
//
// Per mode and round: N messages are sent as fast as the sender can; three receiver threads
// count what arrives. Prints messages/s offered (sender side), delivered (all 3 members, per
// message), sender-thread CPU per message and process CPU per message (sender + receivers;
// softirq work done in the sender's context is included in its system time).
//
// Robustness on a shared machine: the three modes run back to back in every round, in an order
// that rotates from round to round (so no mode always runs first or last), the BPF program is
// loaded once and only attached for the eBPF run, and the ratios are PAIRED: eBPF / baseline
// within the same round, i.e. measured seconds apart under the same load. The summary gives
// the median paired ratio with its interquartile range and min..max over the rounds, how many
// rounds reached the 1.5x goal, and the load average before and after.
#include <net/if.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "netns_testbed.h"
#include "packet_fixtures.h"
#include "tmc/bpf/fanout.h"
#include "udp_helpers.h"

using namespace tmc::bpf;
using namespace tmc::bpf::test;

namespace {

constexpr int kMembers = 3;
constexpr int kSenderHost = 3;
constexpr uint16_t kBasePort = 7001;
constexpr uint32_t kChannel = 5;

double now_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

struct Result {
  double offered_per_second;
  double delivered_per_second;  // messages that reached all members' sockets, per second (min over members)
  double sender_cpu_us;         // sender thread CPU per message
  double process_cpu_us;        // whole process CPU per message
  double loss;                  // fraction of copies that did not arrive
};

enum class Mode { ebpf, sendmmsg, sendto_loop };
const char* name_of(Mode mode) {
  switch (mode) {
    case Mode::ebpf: return "ebpf-fanout (1 sendto)";
    case Mode::sendmmsg: return "user-space sendmmsg x3";
    case Mode::sendto_loop: return "user-space sendto loop x3";
  }
  return "?";
}

class Receivers {
 public:
  explicit Receivers(std::vector<std::unique_ptr<UdpSocket>>& sockets) : sockets_(sockets) {
    for (auto& socket : sockets_) {
      timeval timeout{0, 50000};
      setsockopt(socket->fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
  }
  void start() {
    stop_ = false;
    for (int i = 0; i < kMembers; i++) {
      counts_[i] = 0;
      threads_.emplace_back([this, i] {
        constexpr int kBatch = 64;
        std::vector<std::array<uint8_t, 2048>> buffers(kBatch);
        mmsghdr messages[kBatch];
        iovec vectors[kBatch];
        while (true) {
          for (int b = 0; b < kBatch; b++) {
            vectors[b] = {buffers[b].data(), buffers[b].size()};
            messages[b] = {};
            messages[b].msg_hdr.msg_iov = &vectors[b];
            messages[b].msg_hdr.msg_iovlen = 1;
          }
          int n = recvmmsg(sockets_[i]->fd(), messages, kBatch, MSG_WAITFORONE, nullptr);
          if (n > 0) counts_[i] += n;
          if (n <= 0 && stop_) break;
        }
      });
    }
  }
  std::array<uint64_t, kMembers> stop() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    return {counts_[0].load(), counts_[1].load(), counts_[2].load()};
  }

 private:
  std::vector<std::unique_ptr<UdpSocket>>& sockets_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> counts_[kMembers];
};

Result run_mode(Mode mode, UdpSocket& sender, Receivers& receivers, int messages, size_t size) {
  TmcHeader header;
  header.channel_id = kChannel;
  size_t body = size > TMC_DATA_HEADER_SIZE ? size - TMC_DATA_HEADER_SIZE : 0;
  Bytes payload = tmc_payload(header, Bytes(body, 0x5A));
  sockaddr_in destinations[kMembers];
  for (int i = 0; i < kMembers; i++)
    destinations[i] = UdpSocket::make_address(Testbed::ip(i), static_cast<uint16_t>(kBasePort + i));
  iovec vector{payload.data(), payload.size()};
  mmsghdr batch[kMembers];
  for (int i = 0; i < kMembers; i++) {
    batch[i] = {};
    batch[i].msg_hdr.msg_name = &destinations[i];
    batch[i].msg_hdr.msg_namelen = sizeof destinations[i];
    batch[i].msg_hdr.msg_iov = &vector;
    batch[i].msg_hdr.msg_iovlen = 1;
  }

  receivers.start();
  double wall_start = now_seconds(CLOCK_MONOTONIC);
  double thread_start = now_seconds(CLOCK_THREAD_CPUTIME_ID);
  double process_start = process_cpu_seconds();
  for (int m = 0; m < messages; m++) {
    put64(payload.data() + TMC_OFF_SEQUENCE, static_cast<uint64_t>(m));
    switch (mode) {
      case Mode::ebpf:
        sendto(sender.fd(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&destinations[0]),
               sizeof destinations[0]);
        break;
      case Mode::sendmmsg:
        sendmmsg(sender.fd(), batch, kMembers, 0);
        break;
      case Mode::sendto_loop:
        for (int i = 0; i < kMembers; i++)
          sendto(sender.fd(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&destinations[i]),
                 sizeof destinations[i]);
        break;
    }
  }
  double wall_sent = now_seconds(CLOCK_MONOTONIC);
  double thread_cpu = now_seconds(CLOCK_THREAD_CPUTIME_ID) - thread_start;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the receivers drain
  auto counts = receivers.stop();
  double process_cpu = process_cpu_seconds() - process_start;
  double elapsed = wall_sent - wall_start;
  uint64_t least = *std::min_element(counts.begin(), counts.end());
  uint64_t total = counts[0] + counts[1] + counts[2];
  return Result{messages / elapsed, least / elapsed, thread_cpu / messages * 1e6, process_cpu / messages * 1e6,
                1.0 - double(total) / (double(messages) * kMembers)};
}

std::string load_average() {
  char text[128] = "?";
  if (FILE* file = std::fopen("/proc/loadavg", "r")) {
    if (!std::fgets(text, sizeof text, file)) text[0] = 0;
    std::fclose(file);
  }
  std::string line(text);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

// Quantile q of `values` (nearest rank, values copied).
double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

std::string spread(const std::vector<double>& values, const char* format) {
  char text[160];
  char f[96];
  std::snprintf(f, sizeof f, "%s [IQR %s..%s, range %s..%s]", format, format, format, format, format);
  std::snprintf(text, sizeof text, f, quantile(values, 0.5), quantile(values, 0.25), quantile(values, 0.75),
                quantile(values, 0.0), quantile(values, 1.0));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 20000, rounds = 15;
  size_t size = 200;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) flag = "?";
    if (flag == "--messages") messages = std::atoi(argv[i + 1]);
    else if (flag == "--size") size = static_cast<size_t>(std::atoi(argv[i + 1]));
    else if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: tmc-fanout-bench [--messages N] [--size BYTES] [--rounds R]\n");
      return 2;
    }
  }
  if (messages <= 0 || messages > 10000000 || rounds <= 0 || rounds > 101 || size > 1400) {
    std::fprintf(stderr, "tmc-fanout-bench: messages 1..10M, rounds 1..101, size <= 1400\n");
    return 2;
  }
  std::string why;
  if (!available(&why)) {
    std::fprintf(stderr, "tmc-fanout-bench: BPF unavailable: %s\n", why.c_str());
    return 77;
  }
  try {
    Testbed bed(kMembers + 1);
    std::vector<std::unique_ptr<UdpSocket>> sockets;
    std::vector<FanoutMember> members;
    for (int i = 0; i < kMembers; i++) {
      uint16_t port = static_cast<uint16_t>(kBasePort + i);
      sockets.push_back(std::make_unique<UdpSocket>(bed.host(i), Testbed::ip(i), port));
      members.push_back(FanoutMember::parse(Testbed::ip(i) + ":" + std::to_string(port), Testbed::mac(i)));
    }
    UdpSocket sender(bed.host(kSenderHost), Testbed::ip(kSenderHost), 0);
    Receivers receivers(sockets);
    InNetns in_sender(bed.host(kSenderHost));
    int ifindex = static_cast<int>(if_nametoindex("eth0"));
    FanoutLoader fanout;  // loaded once; attached only while the eBPF mode runs
    fanout.set_members(kChannel, members);
    // Warm-up: ARP for every member, caches.
    run_mode(Mode::sendmmsg, sender, receivers, 1000, size);

    const std::string load_before = load_average();
    std::printf("fan-out to %d members, %zu-byte UDP payload, %d messages per run, %d rounds; loadavg %s\n", kMembers,
                std::max(size, size_t(TMC_DATA_HEADER_SIZE)), messages, rounds, load_before.c_str());
    const Mode order[3] = {Mode::sendmmsg, Mode::sendto_loop, Mode::ebpf};
    std::vector<Result> results[3];
    uint64_t copy_errors = 0;
    for (int round = 0; round < rounds; round++) {
      for (int k = 0; k < 3; k++) {
        const Mode mode = order[(k + round) % 3];
        Result result;
        if (mode == Mode::ebpf) {
          fanout.attach(ifindex);
          result = run_mode(mode, sender, receivers, messages, size);
          fanout.detach();
        } else {
          result = run_mode(mode, sender, receivers, messages, size);
        }
        results[static_cast<int>(mode)].push_back(result);
        std::printf("round %2d %-28s offered %9.0f msg/s  delivered %9.0f msg/s  sender CPU %6.2f us/msg  "
                    "process CPU %6.2f us/msg  loss %5.2f%%\n",
                    round + 1, name_of(mode), result.offered_per_second, result.delivered_per_second,
                    result.sender_cpu_us, result.process_cpu_us, result.loss * 100);
      }
    }
    copy_errors = fanout.counters(kChannel).copy_errors;
    const std::string load_after = load_average();

    auto column = [&](Mode mode, double Result::*field) {
      std::vector<double> values;
      for (const auto& r : results[static_cast<int>(mode)]) values.push_back(r.*field);
      return values;
    };
    std::printf("\nper mode over %d rounds: median [IQR, range]\n", rounds);
    for (Mode mode : order) {
      std::printf("  %-28s delivered %s msg/s\n  %-28s sender CPU %s us/msg, process CPU %s us/msg\n", name_of(mode),
                  spread(column(mode, &Result::delivered_per_second), "%.0f").c_str(), "",
                  spread(column(mode, &Result::sender_cpu_us), "%.2f").c_str(),
                  spread(column(mode, &Result::process_cpu_us), "%.2f").c_str());
    }
    // Paired ratios: eBPF / baseline within each round.
    const auto& e = results[static_cast<int>(Mode::ebpf)];
    std::printf("\npaired ratios eBPF / baseline, same round (median [IQR, range]):\n");
    for (Mode baseline : {Mode::sendmmsg, Mode::sendto_loop}) {
      const auto& b = results[static_cast<int>(baseline)];
      std::vector<double> rate, sender_cpu, process_cpu;
      int goal_met = 0;
      for (int round = 0; round < rounds; round++) {
        rate.push_back(e[round].delivered_per_second / b[round].delivered_per_second);
        sender_cpu.push_back(b[round].sender_cpu_us / e[round].sender_cpu_us);
        process_cpu.push_back(b[round].process_cpu_us / e[round].process_cpu_us);
        if (rate.back() >= 1.5) ++goal_met;
      }
      const char* label = baseline == Mode::sendmmsg ? "sendmmsg x3" : "sendto loop x3";
      std::printf("  vs %-15s delivered msg/s  %s  (>= 1.5x in %d of %d rounds)\n", label, spread(rate, "%.2fx").c_str(),
                  goal_met, rounds);
      std::printf("  vs %-15s msgs per sender CPU-s %s\n", label, spread(sender_cpu, "%.2fx").c_str());
      std::printf("  vs %-15s msgs per process CPU-s %s\n", label, spread(process_cpu, "%.2fx").c_str());
    }
    std::printf("copy errors %llu; loadavg before %s, after %s\n", (unsigned long long)copy_errors, load_before.c_str(),
                load_after.c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tmc-fanout-bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
