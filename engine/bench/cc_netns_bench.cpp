// tmc-cc-netns-bench: one side of a reliable stream throughput run on a netns link (issue 5's
// congestion-control benchmark). engine/bench/cc_netns_bench.sh builds the two-netns link,
// injects loss with tmc-loss on the ingress of both veths, runs one `receive` and one `send`
// process per measurement (each inside its netns) and prints the table with the ratios.
//
//   tmc-cc-netns-bench receive --transport tmc|tcp --self IP:PORT --peer IP:PORT
//                              [--idle-seconds S] [--max-seconds S]
//   tmc-cc-netns-bench send    --transport tmc|tcp --self IP:PORT --peer IP:PORT
//                              [--cc loss-tolerant|aimd|...] [--cc-param KEY=VALUE]... [--tcp-cc cubic] [--seconds S]
//                              [--max-bytes N] [--size BYTES] [--tcp-write BYTES] [--outstanding N] [--mtu BYTES]
//                              [--min-rto-us US]
//
// The receiver measures goodput: bytes delivered to the application (TMC: reliable fifo
// messages in order; TCP: stream bytes) between its first and its last delivery. It exits
// after --idle-seconds without data once data came, or after --max-seconds in any case, and
// prints one line `RESULT key=value ...`. The sender sends for --seconds or --max-bytes, then
// waits (bounded) for its outstanding messages, and prints `SENDER key=value ...` with the
// engine's counters (retransmissions, smoothed RTT, RTO count) or TCP_INFO (retransmits, cwnd).
// Nothing is asserted: goals are printed by the script as ratios of figures of the same run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tmc/channel.h"
#include "tmc/manifest.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string mode, transport = "tmc", self, peer, cc = "loss-tolerant", tcp_cc = "cubic";
  std::map<std::string, std::string> cc_params;  // --cc-param KEY=VALUE (repeatable)
  double seconds = 3, idle_seconds = 1.5, max_seconds = 20;
  std::uint64_t max_bytes = 2ull << 30;
  std::size_t size = 1400;         // TMC message size
  std::size_t tcp_write = 131072;  // TCP send() size: iperf3's default. Sub-MSS writes (e.g. 1400)
                                   // cost kernel TCP ~10x its goodput at 1% loss on this path
  std::size_t outstanding = 4096;  // TMC messages awaiting their completion
  std::uint32_t mtu = 1500;
  double min_rto_us = 0;  // 0 = the engine's default reliability.min_rto
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "tmc-cc-netns-bench: %s%s%s\n", what.c_str(), errno ? ": " : "", errno ? std::strerror(errno) : "");
  std::exit(1);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

sockaddr_in parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (colon == std::string::npos || ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr) != 1)
    die("bad address '" + text + "' (want IPv4:PORT)");
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
  return address;
}

// The receiver's measurement window: first to last delivery.
struct Goodput {
  std::atomic<std::uint64_t> bytes{0}, messages{0};
  std::atomic<std::int64_t> first_ns{0}, last_ns{0};
  void add(std::uint64_t n) {
    const std::int64_t now = Clock::now().time_since_epoch().count();
    std::int64_t expected = 0;
    first_ns.compare_exchange_strong(expected, now);
    last_ns.store(now, std::memory_order_relaxed);
    bytes.fetch_add(n, std::memory_order_relaxed);
    messages.fetch_add(1, std::memory_order_relaxed);
  }
  // Waits until idle (after data) or the hard limit.
  void wait(const Options& options, const std::atomic<bool>* finished = nullptr) const {
    const auto start = Clock::now();
    while (seconds_since(start) < options.max_seconds && !(finished && finished->load())) {
      std::this_thread::sleep_for(20ms);
      const std::int64_t last = last_ns.load();
      if (last && std::chrono::duration<double>(Clock::now().time_since_epoch() - Clock::duration(last)).count() >
                      options.idle_seconds)
        return;
    }
  }
  void print(double cpu_seconds) const {
    const double span = static_cast<double>(last_ns.load() - first_ns.load()) / 1e9;
    const double rate = span > 0 ? static_cast<double>(bytes.load()) / span : 0;
    std::printf("RESULT bytes=%llu messages=%llu seconds=%.3f goodput_MBps=%.3f receiver_cpu_s=%.3f\n",
                static_cast<unsigned long long>(bytes.load()), static_cast<unsigned long long>(messages.load()), span,
                rate / 1e6, cpu_seconds);
  }
};

tmc::Manifest manifest_for(const Options& options, bool sender) {
  tmc::Manifest manifest;
  manifest.channel = "cc-netns-bench";
  const std::string a = sender ? options.self : options.peer, b = sender ? options.peer : options.self;
  manifest.multicast = tmc::Multicast{{{"a", a}, {"b", b}}, ""};
  manifest.targets = tmc::Targets{};
  manifest.ordering = tmc::Ordering::fifo;
  tmc::Reliability reliability;
  reliability.kind = tmc::Reliability::Kind::all;
  reliability.member_timeout = 10s;  // a 1% lossy link must not get the receiver declared down
  if (options.min_rto_us > 0) {
    reliability.min_rto = std::chrono::duration_cast<tmc::Duration>(std::chrono::duration<double, std::micro>(options.min_rto_us));
    reliability.initial_rto = std::max(reliability.initial_rto, reliability.min_rto);
  }
  manifest.reliability = reliability;
  manifest.mtu = options.mtu;
  tmc::CongestionControl cc;
  cc.algorithm = options.cc;
  cc.params = options.cc_params;
  manifest.congestion_control = cc;
  return manifest;
}

tmc::ChannelOptions channel_options(const Options& options, bool sender) {
  tmc::ChannelOptions channel;
  channel.self = sender ? "a" : "b";
  channel.local_address = options.self;
  return channel;
}

void print_engine_stats(const char* role, const tmc::Stats& s) {
  std::printf("%s_ENGINE packets_sent=%llu packets_received=%llu retransmissions=%llu loss_ratio=%.4f "
              "duplicates=%llu acks_sent=%llu acks_received=%llu srtt_us=%.1f rtt_p50_us=%.1f rtt_p99_us=%.1f "
              "abandoned=%llu timeouts=%llu probes=%llu cwnd_bytes=%llu congestion_events=%llu\n",
              role, (unsigned long long)s.packets_sent, (unsigned long long)s.packets_received,
              (unsigned long long)s.retransmissions, s.loss_ratio, (unsigned long long)s.duplicates_dropped,
              (unsigned long long)s.acks_sent, (unsigned long long)s.acks_received,
              std::chrono::duration<double, std::micro>(s.smoothed_rtt).count(),
              std::chrono::duration<double, std::micro>(s.rtt_p50).count(),
              std::chrono::duration<double, std::micro>(s.rtt_p99).count(), (unsigned long long)s.abandoned,
              (unsigned long long)s.timeouts, (unsigned long long)s.probes, (unsigned long long)s.congestion_window_bytes,
              (unsigned long long)s.congestion_events);
}

// --------------------------------------------------------------------------------------------
int tmc_receive(const Options& options) {
  Goodput goodput;
  tmc::Channel channel(manifest_for(options, false), channel_options(options, false));
  channel.on_message([&](tmc::Message message) { goodput.add(message.payload.size()); });
  std::printf("READY\n");
  std::fflush(stdout);
  const double cpu = process_cpu_seconds();
  goodput.wait(options);
  goodput.print(process_cpu_seconds() - cpu);
  print_engine_stats("RECEIVER", channel.stats());
  channel.close();
  return 0;
}

int tmc_send(const Options& options) {
  tmc::Channel channel(manifest_for(options, true), channel_options(options, true));
  std::vector<std::byte> payload(options.size, std::byte{'c'});
  std::deque<tmc::Completion> outstanding;
  std::uint64_t sent = 0, failed = 0;
  const double cpu = process_cpu_seconds();
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  while (Clock::now() < stop_at && sent * options.size < options.max_bytes) {
    if (outstanding.size() >= options.outstanding) {
      // Full: wait until half the messages completed, then send a batch (the hysteresis of a
      // TCP socket's write space, which wakes a writer when a third of the buffer is free;
      // waking per completed message would measure thread hand-offs). Bounded: a stuck
      // channel ends the run instead of hanging it.
      const tmc::Completion& half = outstanding[outstanding.size() / 2];
      if (half.wait_for(std::chrono::duration_cast<tmc::Duration>(stop_at - Clock::now())) == tmc::SendStatus::pending)
        break;
      while (!outstanding.empty() && outstanding.front().done()) {
        if (outstanding.front().status() != tmc::SendStatus::delivered) ++failed;
        outstanding.pop_front();
      }
      continue;
    }
    outstanding.push_back(channel.send(std::span<const std::byte>(payload)));
    ++sent;
  }
  const double send_seconds = seconds_since(start);
  const auto drain_until = Clock::now() + 5s;
  for (auto& completion : outstanding) {
    if (completion.wait_for(std::chrono::duration_cast<tmc::Duration>(drain_until - Clock::now())) !=
        tmc::SendStatus::delivered)
      ++failed;
  }
  std::printf("SENDER messages=%llu failed=%llu send_seconds=%.3f drained_seconds=%.3f sender_cpu_s=%.3f\n",
              (unsigned long long)sent, (unsigned long long)failed, send_seconds, seconds_since(start),
              process_cpu_seconds() - cpu);
  print_engine_stats("SENDER", channel.stats());
  channel.close();
  return 0;
}

// --------------------------------------------------------------------------------------------
int tcp_receive(const Options& options) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address = parse_address(options.self);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 1) != 0)
    die("tcp listen on " + options.self);
  timeval accept_timeout{static_cast<time_t>(options.max_seconds), 0};
  ::setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &accept_timeout, sizeof accept_timeout);
  std::printf("READY\n");
  std::fflush(stdout);
  const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (connection < 0) die("accept");
  timeval idle{0, 200000};
  ::setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
  Goodput goodput;
  std::atomic<bool> finished{false};
  const double cpu = process_cpu_seconds();
  std::thread reader([&] {
    std::vector<char> buffer(1 << 20);
    while (!finished.load()) {
      const ssize_t n = ::recv(connection, buffer.data(), buffer.size(), 0);
      if (n == 0) break;  // sender closed
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        break;
      }
      goodput.add(static_cast<std::uint64_t>(n));
    }
    finished = true;
  });
  goodput.wait(options, &finished);
  finished = true;
  reader.join();
  goodput.print(process_cpu_seconds() - cpu);
  ::close(connection);
  ::close(listener);
  return 0;
}

int tcp_send(const Options& options) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, options.tcp_cc.c_str(), options.tcp_cc.size()) != 0)
    die("TCP_CONGESTION " + options.tcp_cc);
  sockaddr_in peer = parse_address(options.peer);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0) die("tcp connect " + options.peer);
  timeval send_timeout{1, 0};  // bounded: a write blocked for 1 s ends the run
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  std::vector<char> chunk(options.tcp_write, 't');
  std::uint64_t sent = 0;
  const double cpu = process_cpu_seconds();
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  while (Clock::now() < stop_at && sent < options.max_bytes) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    sent += static_cast<std::uint64_t>(n);
  }
  tcp_info info{};
  socklen_t length = sizeof info;
  ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length);
  ::shutdown(fd, SHUT_WR);
  std::printf("SENDER bytes=%llu send_seconds=%.3f sender_cpu_s=%.3f\n", (unsigned long long)sent, seconds_since(start),
              process_cpu_seconds() - cpu);
  std::printf("SENDER_TCP total_retrans=%u snd_cwnd=%u rtt_us=%u rttvar_us=%u rto_us=%u mss=%u\n",
              info.tcpi_total_retrans, info.tcpi_snd_cwnd, info.tcpi_rtt, info.tcpi_rttvar, info.tcpi_rto,
              info.tcpi_snd_mss);
  // Let the receiver read the tail before the socket goes.
  char sink[256];
  timeval linger{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &linger, sizeof linger);
  while (::recv(fd, sink, sizeof sink, 0) > 0) {
  }
  ::close(fd);
  return 0;
}


[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: tmc-cc-netns-bench receive|send --transport tmc|tcp --self IP:PORT --peer IP:PORT\n"
               "         [--cc NAME] [--cc-param KEY=VALUE]... [--tcp-cc NAME] [--seconds S] [--max-bytes N] [--size BYTES] [--tcp-write BYTES]\n"
               "         [--outstanding N] [--mtu BYTES] [--min-rto-us US] [--idle-seconds S] [--max-seconds S]\n"
               "Run by engine/bench/cc_netns_bench.sh (see there).\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage(2);
  Options options;
  options.mode = argv[1];
  if (options.mode == "--help" || options.mode == "-h") usage(0);
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) usage(2);
    const std::string value = argv[++i];
    try {
      if (arg == "--transport") options.transport = value;
      else if (arg == "--self") options.self = value;
      else if (arg == "--peer") options.peer = value;
      else if (arg == "--cc") options.cc = value;
      else if (arg == "--tcp-cc") options.tcp_cc = value;
      else if (arg == "--cc-param") {
        const auto equals = value.find('=');
        if (equals == std::string::npos) usage(2);
        options.cc_params[value.substr(0, equals)] = value.substr(equals + 1);
      }
      else if (arg == "--seconds") options.seconds = std::stod(value);
      else if (arg == "--idle-seconds") options.idle_seconds = std::stod(value);
      else if (arg == "--max-seconds") options.max_seconds = std::stod(value);
      else if (arg == "--max-bytes") options.max_bytes = std::stoull(value);
      else if (arg == "--size") options.size = std::stoull(value);
      else if (arg == "--tcp-write") options.tcp_write = std::stoull(value);
      else if (arg == "--outstanding") options.outstanding = std::stoull(value);
      else if (arg == "--mtu") options.mtu = static_cast<std::uint32_t>(std::stoul(value));
      else if (arg == "--min-rto-us") options.min_rto_us = std::stod(value);
      else usage(2);
    } catch (const std::logic_error&) {
      std::fprintf(stderr, "tmc-cc-netns-bench: bad value for %s\n", arg.c_str());
      return 2;
    }
  }
  if (options.self.empty() || options.peer.empty() || options.seconds <= 0 || options.seconds > 60 ||
      options.max_seconds <= 0 || options.max_seconds > 120 || options.size == 0 || options.size > (1u << 20) ||
      options.tcp_write == 0 || options.tcp_write > (1u << 24) ||
      options.outstanding == 0)
    usage(2);
  try {
    const bool tmc = options.transport == "tmc";
    if (!tmc && options.transport != "tcp") usage(2);
    if (options.mode == "receive") return tmc ? tmc_receive(options) : tcp_receive(options);
    if (options.mode == "send") return tmc ? tmc_send(options) : tcp_send(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tmc-cc-netns-bench: %s\n", e.what());
    return 1;
  }
  usage(2);
}
