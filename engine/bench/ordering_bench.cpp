// tmc-ordering-bench: CPU per message of ChannelCore's receive path (sans-IO, no sockets) with
// the built-in fifo next to an ordering module (docs/transport.md "Module manager"), measured in
// the same run: 64 B unreliable messages, in order and with every 10th pair of packets swapped
// (reordering the module puts back, where unreliable fifo drops the late one). A benchmark, not a
// test: prints the best of --rounds and the ratio, asserts nothing.
//   tmc-ordering-bench MODULE.so [NAME] [--messages N] [--rounds R]
//   build/tmc-ordering-bench build/tests/engine/modules/libtmc_example_ordering.so
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/channel_core.h"

namespace {

using namespace tmc;
using namespace tmc::core;

struct Capture : ChannelCore::Output {
  std::vector<std::vector<std::byte>> sent;
  std::size_t delivered = 0;
  void transmit(const SocketAddress&, std::span<const std::byte> packet) override { sent.emplace_back(packet.begin(), packet.end()); }
  void deliver(Message&&) override { ++delivered; }
};

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

struct Result {
  double us_per_message;
  std::size_t delivered;
  std::uint64_t stale;
};

Result run(const Manifest& ordering, int messages, bool swap_pairs) {
  Manifest m = ordering;
  m.channel = "ordering-bench";
  m.multicast = Multicast{.members = {{"a", "10.0.0.1:7000"}, {"b", "10.0.0.2:7000"}}};
  Capture sender_out, receiver_out;
  ChannelCore sender({m, "a", 0, 1}, sender_out), receiver({m, "b", 0, 2}, receiver_out);
  TimePoint now{};
  const std::string text(64, 'x');
  for (int i = 0; i < messages; ++i) sender.send(std::as_bytes(std::span(text.data(), text.size())), {}, now);
  if (swap_pairs)
    for (std::size_t i = 10; i + 1 < sender_out.sent.size(); i += 10) std::swap(sender_out.sent[i], sender_out.sent[i + 1]);
  const SocketAddress from = *SocketAddress::parse("10.0.0.1:7000");
  const double start = cpu_seconds();
  for (const auto& packet : sender_out.sent) {
    receiver.on_datagram(packet, from, now);
    now += std::chrono::microseconds(1);
  }
  return {(cpu_seconds() - start) * 1e6 / messages, receiver_out.delivered, receiver.stats().stale_dropped};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tmc-ordering-bench MODULE.so [NAME] [--messages N] [--rounds R]\n");
    return 2;
  }
  std::string name = "reorder-window";
  int messages = 200000, rounds = 5;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--messages" && i + 1 < argc) messages = std::stoi(argv[++i]);
    else if (arg == "--rounds" && i + 1 < argc) rounds = std::stoi(argv[++i]);
    else name = arg;
  }
  Manifest fifo{.ordering = Ordering::fifo};
  Manifest module{.ordering = Ordering::module, .ordering_module = OrderingModule{.module = argv[1], .name = name}};
  std::printf("%-28s %12s %12s %10s %8s\n", "case", "fifo us/msg", "module us/msg", "ratio", "delivered fifo/module");
  for (bool swap_pairs : {false, true}) {
    Result best_fifo{1e9, 0, 0}, best_module{1e9, 0, 0};
    for (int r = 0; r < rounds; ++r) {  // interleaved, best of each: the machine's noise hits both
      const Result f = run(fifo, messages, swap_pairs), g = run(module, messages, swap_pairs);
      if (f.us_per_message < best_fifo.us_per_message) best_fifo = f;
      if (g.us_per_message < best_module.us_per_message) best_module = g;
    }
    std::printf("%-28s %12.3f %12.3f %9.2fx %zu/%zu (stale %llu/%llu)\n",
                swap_pairs ? "every 10th pair swapped" : "in order", best_fifo.us_per_message,
                best_module.us_per_message, best_module.us_per_message / best_fifo.us_per_message, best_fifo.delivered,
                best_module.delivered, static_cast<unsigned long long>(best_fifo.stale),
                static_cast<unsigned long long>(best_module.stale));
  }
}
