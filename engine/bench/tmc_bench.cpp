// tmc-bench: message rate and round-trip latency of TMC channels on loopback, measured next to
// kernel UDP and kernel TCP in the same run, printed with the ratios TMC/TCP and TMC/UDP.
//
// Shape (identical for every transport, one process):
//   throughput  one sending thread streams messages of one size for --seconds; the receiving
//               side counts deliveries. The sender keeps at most --window messages in flight
//               (sent - delivered, read from the receiver's counter). Rate = messages delivered
//               by the end of the sending period / period. For the unreliable transports a
//               message lost on the way would stall the window; after 20 ms without progress the
//               sender writes the outstanding ones off, and the delivered fraction is reported.
//   latency     ping-pong: one thread sends a message and waits for the echo; the peer echoes.
//               Round trips for --latency-seconds (at most --max-round-trips); p50/p99/p99.9.
// Transports:
//   udp         kernel UDP: send() per message, recvmmsg on the receiving thread, 8 MiB buffers
//               (as the engine's sockets); 16 KiB is one datagram.
//   tcp         kernel TCP, 4-byte length prefix; TCP_NODELAY for ping-pong.
//   tmc-unreliable   Channel, reliability none, ordering none.
//   tmc-reliable     Channel, reliability all, ordering fifo.
//   tmc-unreliable-nogso, tmc-reliable-nogso   the same with TMC_UDP_GSO=0: no UDP GSO on send,
//               no UDP GRO on receive (every packet its own datagram, as before the offloads),
//               for an A/B in the same run. Column gso%: sender packets that left inside a GSO
//               super-packet; gro%: receiver packets that arrived inside a GRO datagram.
// The two TMC channels each get their own Runtime (own thread), as two processes would have.
// The receiving channel counts in its on_message handler (runtime thread); the ping-pong client
// uses Channel::send + Channel::recv on an application thread, the echo side answers from its
// on_message handler.
//
// Timing goals are not asserted here: the goal ratios (reliable+fifo >= 0.5x TCP, unreliable
// >= 0.8x UDP) are printed next to the figures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tmc/channel.h"
#include "tmc/manifest.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  double seconds = 2.0;          // throughput period per scenario
  double latency_seconds = 0.5;  // ping-pong period per scenario
  std::size_t max_round_trips = 200000;
  std::uint64_t window = 256;    // messages in flight
  std::vector<std::size_t> sizes{64, 16384};
  std::vector<std::string> transports{"udp", "tcp", "tmc-unreliable", "tmc-unreliable-nogso", "tmc-reliable",
                                      "tmc-reliable-nogso"};
  std::optional<std::uint32_t> mtu;  // TMC path MTU; unset = engine default
  std::optional<double> min_rto_us;  // TMC reliability.min_rto (and initial_rto); unset = default
  bool json = false;
};

struct Result {
  std::string transport;
  std::size_t size = 0;
  double messages_per_second = 0;
  double delivered_fraction = 1;  // of messages sent in the throughput run
  std::uint64_t sent = 0, delivered = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  std::size_t round_trips = 0, round_trips_lost = 0;
  std::uint64_t retransmissions = 0;
  double cpu_us_per_message = 0;  // process CPU (user + system, all threads) per delivered message
  double gso_fraction = 0, gro_fraction = 0;  // TMC: packets sent in GSO / received in GRO datagrams
};

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tmc-bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void set_int(int fd, int level, int name, int value) { ::setsockopt(fd, level, name, &value, sizeof value); }

void big_buffers(int fd) {
  const int size = 8 << 20;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) set_int(fd, SOL_SOCKET, SO_RCVBUF, size);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) set_int(fd, SOL_SOCKET, SO_SNDBUF, size);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

std::uint16_t port_of(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

void percentiles(std::vector<double>& samples, Result& result) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) { return samples[std::min(samples.size() - 1, static_cast<std::size_t>(q * samples.size()))]; };
  result.p50_us = at(0.50);
  result.p99_us = at(0.99);
  result.p999_us = at(0.999);
  result.round_trips = samples.size();
}

// The shared throughput driver: `send_one` sends one message (returns false if it could not),
// `delivered` is the receiver's counter. Returns sent/delivered-at-end-of-period.
struct Flow {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<bool> stop{false};
};

void drive(const Options& options, Flow& flow, Result& result, const std::function<void()>& send_one) {
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  const double cpu_start = process_cpu_seconds();
  const auto start = Clock::now();
  const auto end = start + period;
  std::uint64_t sent = 0, written_off = 0;
  std::uint64_t last_seen = 0;
  auto last_progress = start;
  std::uint32_t tick = 0;
  while (true) {
    const std::uint64_t delivered = flow.delivered.load(std::memory_order_acquire);
    if ((++tick & 63) == 0 || sent - written_off - delivered >= options.window) {
      const auto now = Clock::now();
      if (now >= end) break;
      if (delivered != last_seen) {
        last_seen = delivered;
        last_progress = now;
      }
      if (sent - written_off - delivered >= options.window) {
        if (now - last_progress > 20ms) {  // lost in flight (unreliable): write them off
          written_off = sent - delivered;
          last_progress = now;
        }
        std::this_thread::yield();
        continue;
      }
    }
    send_one();
    ++sent;
  }
  const std::uint64_t at_end = flow.delivered.load();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = process_cpu_seconds() - cpu_start;
  result.cpu_us_per_message = at_end ? 1e6 * cpu / static_cast<double>(at_end) : 0;
  // Drain: let what is in flight arrive (for the delivered fraction), bounded.
  const auto drain_until = Clock::now() + 300ms;
  while (flow.delivered.load() < sent && Clock::now() < drain_until) std::this_thread::sleep_for(1ms);
  result.sent = sent;
  result.delivered = flow.delivered.load();
  result.messages_per_second = static_cast<double>(at_end) / elapsed;
  result.delivered_fraction = sent ? static_cast<double>(result.delivered) / static_cast<double>(sent) : 0;
}

// ---------------------------------------------------------------------------------------------
// Kernel UDP
void udp_throughput(const Options& options, std::size_t size, Result& result) {
  int receiver = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (receiver < 0 || sender < 0) fail("socket");
  big_buffers(receiver);
  big_buffers(sender);
  auto bind_to = loopback(0);
  if (::bind(receiver, reinterpret_cast<sockaddr*>(&bind_to), sizeof bind_to) != 0) fail("bind");
  timeval timeout{0, 20000};
  ::setsockopt(receiver, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  auto to = loopback(port_of(receiver));
  if (::connect(sender, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) fail("connect");

  Flow flow;
  std::thread receive_thread([&] {
    constexpr int kBatch = 64;
    std::vector<char> buffer(kBatch * 65536);
    mmsghdr headers[kBatch];
    iovec iov[kBatch];
    while (!flow.stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < kBatch; ++i) {
        iov[i] = {buffer.data() + i * 65536, 65536};
        headers[i] = {};
        headers[i].msg_hdr.msg_iov = &iov[i];
        headers[i].msg_hdr.msg_iovlen = 1;
      }
      const int got = ::recvmmsg(receiver, headers, kBatch, MSG_WAITFORONE, nullptr);
      if (got > 0) flow.delivered.fetch_add(static_cast<std::uint64_t>(got), std::memory_order_release);
    }
  });
  std::vector<char> payload(size, 'u');
  drive(options, flow, result, [&] { [[maybe_unused]] auto n = ::send(sender, payload.data(), size, 0); });
  flow.stop = true;
  receive_thread.join();
  ::close(sender);
  ::close(receiver);
}

void udp_latency(const Options& options, std::size_t size, Result& result) {
  int client = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int server = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto any = loopback(0);
  ::bind(client, reinterpret_cast<sockaddr*>(&any), sizeof any);
  ::bind(server, reinterpret_cast<sockaddr*>(&any), sizeof any);
  auto server_address = loopback(port_of(server));
  auto client_address = loopback(port_of(client));
  ::connect(client, reinterpret_cast<sockaddr*>(&server_address), sizeof server_address);
  ::connect(server, reinterpret_cast<sockaddr*>(&client_address), sizeof client_address);
  timeval timeout{0, 50000};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    std::vector<char> buffer(65536);
    while (!stop.load()) {
      const ssize_t n = ::recv(server, buffer.data(), buffer.size(), 0);
      if (n > 0) [[maybe_unused]] auto sent = ::send(server, buffer.data(), static_cast<std::size_t>(n), 0);
    }
  });
  std::vector<char> payload(std::max<std::size_t>(size, 8), 'p'), reply(65536);
  std::vector<double> samples;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.latency_seconds));
  for (std::uint64_t ping = 1; Clock::now() < end && samples.size() < options.max_round_trips; ++ping) {
    std::memcpy(payload.data(), &ping, 8);  // replies are matched to their ping
    const auto t0 = Clock::now();
    [[maybe_unused]] auto n = ::send(client, payload.data(), size, 0);
    bool answered = false;
    while (!answered) {
      const ssize_t got = ::recv(client, reply.data(), reply.size(), 0);
      if (got <= 0) break;  // timed out: lost
      answered = got >= 8 && std::memcmp(reply.data(), &ping, 8) == 0;  // else a late reply: skip
    }
    if (!answered) {
      ++result.round_trips_lost;
      continue;
    }
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  stop = true;
  echo.join();
  ::close(client);
  ::close(server);
  percentiles(samples, result);
}

// ---------------------------------------------------------------------------------------------
// Kernel TCP, 4-byte big-endian length prefix.
struct TcpPair {
  int client = -1, server = -1;
  TcpPair(bool nodelay) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    set_int(listener, SOL_SOCKET, SO_REUSEADDR, 1);
    auto any = loopback(0);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0 || ::listen(listener, 1) != 0) fail("tcp listen");
    auto to = loopback(port_of(listener));
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) fail("tcp connect");
    server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) fail("accept");
    ::close(listener);
    if (nodelay) {
      set_int(client, IPPROTO_TCP, TCP_NODELAY, 1);
      set_int(server, IPPROTO_TCP, TCP_NODELAY, 1);
    }
  }
  ~TcpPair() {
    ::close(client);
    ::close(server);
  }
};

bool write_all(int fd, const char* data, std::size_t length) {
  while (length) {
    const ssize_t n = ::send(fd, data, length, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data += n;
    length -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, char* data, std::size_t length) {
  while (length) {
    const ssize_t n = ::recv(fd, data, length, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data += n;
    length -= static_cast<std::size_t>(n);
  }
  return true;
}

std::vector<char> framed(std::size_t size, char fill) {
  std::vector<char> frame(4 + size, fill);
  const std::uint32_t length = htonl(static_cast<std::uint32_t>(size));
  std::memcpy(frame.data(), &length, 4);
  return frame;
}

void tcp_throughput(const Options& options, std::size_t size, Result& result) {
  TcpPair pair(false);
  Flow flow;
  std::thread receive_thread([&] {
    // Reads in large chunks and parses frames out of them (what a real framed reader does).
    std::vector<char> buffer(1 << 20);
    std::size_t have = 0;
    while (true) {
      const ssize_t n = ::recv(pair.server, buffer.data() + have, buffer.size() - have, 0);
      if (n <= 0) return;
      have += static_cast<std::size_t>(n);
      std::size_t at = 0;
      std::uint64_t frames = 0;
      while (have - at >= 4) {
        std::uint32_t length;
        std::memcpy(&length, buffer.data() + at, 4);
        length = ntohl(length);
        if (have - at < 4 + length) break;
        at += 4 + length;
        ++frames;
      }
      std::memmove(buffer.data(), buffer.data() + at, have - at);
      have -= at;
      if (frames) flow.delivered.fetch_add(frames, std::memory_order_release);
    }
  });
  const auto frame = framed(size, 't');
  drive(options, flow, result, [&] { write_all(pair.client, frame.data(), frame.size()); });
  ::shutdown(pair.client, SHUT_WR);
  ::shutdown(pair.server, SHUT_RD);
  receive_thread.join();
}

void tcp_latency(const Options& options, std::size_t size, Result& result) {
  TcpPair pair(true);
  std::thread echo([&] {
    std::vector<char> buffer(4 + 65536);
    while (true) {
      if (!read_all(pair.server, buffer.data(), 4)) return;
      std::uint32_t length;
      std::memcpy(&length, buffer.data(), 4);
      length = ntohl(length);
      if (!read_all(pair.server, buffer.data() + 4, length)) return;
      if (!write_all(pair.server, buffer.data(), 4 + length)) return;
    }
  });
  const auto frame = framed(size, 'q');
  std::vector<char> reply(frame.size());
  std::vector<double> samples;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.latency_seconds));
  while (Clock::now() < end && samples.size() < options.max_round_trips) {
    const auto t0 = Clock::now();
    if (!write_all(pair.client, frame.data(), frame.size()) || !read_all(pair.client, reply.data(), reply.size())) break;
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ::shutdown(pair.client, SHUT_RDWR);
  echo.join();
  percentiles(samples, result);
}

// ---------------------------------------------------------------------------------------------
// TMC
tmc::Manifest manifest_for(const Options& options, bool reliable) {
  tmc::Manifest manifest;
  manifest.channel = reliable ? "bench-reliable" : "bench-unreliable";
  // Members without addresses: each side binds an ephemeral 127.0.0.1 port, then learns the
  // other's with add_member.
  manifest.multicast = tmc::Multicast{{{"a", ""}, {"b", ""}}, ""};
  manifest.ordering = reliable ? tmc::Ordering::fifo : tmc::Ordering::none;
  tmc::Reliability reliability;
  reliability.kind = reliable ? tmc::Reliability::Kind::all : tmc::Reliability::Kind::none;
  if (options.min_rto_us) {
    reliability.min_rto = std::chrono::duration_cast<tmc::Duration>(std::chrono::duration<double, std::micro>(*options.min_rto_us));
    reliability.initial_rto = std::max(reliability.initial_rto, reliability.min_rto);
  }
  manifest.reliability = reliability;
  if (options.mtu) manifest.mtu = *options.mtu;
  return manifest;
}

struct TmcPair {
  std::shared_ptr<tmc::Runtime> runtime_a = std::make_shared<tmc::Runtime>();
  std::shared_ptr<tmc::Runtime> runtime_b = std::make_shared<tmc::Runtime>();
  std::unique_ptr<tmc::Channel> a, b;
  // offloads false: the sockets open with TMC_UDP_GSO=0 (no UDP GSO/GRO).
  TmcPair(const tmc::Manifest& manifest, bool offloads = true) {
    if (!offloads) ::setenv("TMC_UDP_GSO", "0", 1);
    tmc::ChannelOptions options_a, options_b;
    options_a.self = "a";
    options_b.self = "b";
    options_a.local_address = options_b.local_address = "127.0.0.1:0";
    options_a.runtime = runtime_a;
    options_b.runtime = runtime_b;
    a = std::make_unique<tmc::Channel>(manifest, options_a);
    b = std::make_unique<tmc::Channel>(manifest, options_b);
    if (!offloads) ::unsetenv("TMC_UDP_GSO");
    a->add_member({"b", "127.0.0.1:" + std::to_string(b->local_port())});
    b->add_member({"a", "127.0.0.1:" + std::to_string(a->local_port())});
  }
  ~TmcPair() {
    a->close();
    b->close();
    a.reset();
    b.reset();
  }
};

void tmc_throughput(const Options& options, std::size_t size, bool reliable, bool offloads, Result& result) {
  Flow flow;  // outlives the channels: their handlers count into it
  TmcPair pair(manifest_for(options, reliable), offloads);
  pair.b->on_message([&](tmc::Message) { flow.delivered.fetch_add(1, std::memory_order_release); });
  std::vector<std::byte> payload(size, std::byte{'m'});
  drive(options, flow, result, [&] { pair.a->send(std::span<const std::byte>(payload)); });
  const tmc::Stats sender = pair.a->stats(), receiver = pair.b->stats();
  result.retransmissions = sender.retransmissions;
  if (sender.packets_sent) result.gso_fraction = double(sender.gso_segments) / double(sender.packets_sent);
  if (receiver.packets_received) result.gro_fraction = double(receiver.gro_segments) / double(receiver.packets_received);
  if (std::getenv("TMC_BENCH_VERBOSE"))
    std::fprintf(stderr,
                 "  sender: messages %llu packets %llu retransmissions %llu acks received %llu srtt %.1f us\n"
                 "  receiver: packets %llu delivered %llu duplicates %llu stale %llu malformed %llu acks sent %llu\n"
                 "  offloads: sender %llu GSO sends carrying %llu packets; receiver %llu GRO datagrams carrying %llu\n",
                 (unsigned long long)sender.messages_sent, (unsigned long long)sender.packets_sent,
                 (unsigned long long)sender.retransmissions, (unsigned long long)sender.acks_received,
                 std::chrono::duration<double, std::micro>(sender.smoothed_rtt).count(),
                 (unsigned long long)receiver.packets_received, (unsigned long long)receiver.messages_delivered,
                 (unsigned long long)receiver.duplicates_dropped, (unsigned long long)receiver.stale_dropped,
                 (unsigned long long)receiver.malformed_dropped, (unsigned long long)receiver.acks_sent,
                 (unsigned long long)sender.gso_sends, (unsigned long long)sender.gso_segments,
                 (unsigned long long)receiver.gro_receives, (unsigned long long)receiver.gro_segments);
}

void tmc_latency(const Options& options, std::size_t size, bool reliable, bool offloads, Result& result) {
  TmcPair pair(manifest_for(options, reliable), offloads);
  tmc::Channel& echo = *pair.b;
  echo.on_message([&echo](tmc::Message message) { echo.send(std::span<const std::byte>(message.payload)); });
  std::vector<std::byte> payload(std::max<std::size_t>(size, 8), std::byte{'l'});
  payload.resize(size);
  std::vector<double> samples;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.latency_seconds));
  for (std::uint64_t ping = 1; Clock::now() < end && samples.size() < options.max_round_trips; ++ping) {
    std::memcpy(payload.data(), &ping, 8);  // replies are matched to their ping
    const auto t0 = Clock::now();
    pair.a->send(std::span<const std::byte>(payload));
    bool answered = false;
    const auto give_up = t0 + 50ms;
    while (!answered) {
      const auto now = Clock::now();
      if (now >= give_up) break;
      auto reply = pair.a->recv(give_up - now);
      if (!reply) break;  // timed out: lost
      answered = reply->payload.size() >= 8 && std::memcmp(reply->payload.data(), &ping, 8) == 0;
    }
    if (!answered) {
      ++result.round_trips_lost;
      continue;
    }
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  percentiles(samples, result);
}

// ---------------------------------------------------------------------------------------------
Result run(const Options& options, const std::string& transport, std::size_t size) {
  Result result;
  result.transport = transport;
  result.size = size;
  if (transport == "udp") {
    udp_throughput(options, size, result);
    udp_latency(options, size, result);
  } else if (transport == "tcp") {
    tcp_throughput(options, size, result);
    tcp_latency(options, size, result);
  } else if (transport == "tmc-unreliable" || transport == "tmc-reliable" || transport == "tmc-unreliable-nogso" ||
             transport == "tmc-reliable-nogso") {
    const bool reliable = transport.rfind("tmc-reliable", 0) == 0;
    const bool offloads = transport.find("-nogso") == std::string::npos;
    tmc_throughput(options, size, reliable, offloads, result);
    tmc_latency(options, size, reliable, offloads, result);
  } else {
    std::fprintf(stderr, "tmc-bench: unknown transport '%s'\n", transport.c_str());
    std::exit(2);
  }
  return result;
}

const Result* find(const std::vector<Result>& results, const std::string& transport, std::size_t size) {
  for (const auto& result : results)
    if (result.transport == transport && result.size == size) return &result;
  return nullptr;
}

// The baseline each TMC mode is compared with, and the goal ratio (issue 2).
struct Goal {
  const char* baseline;
  double ratio;
};
std::optional<Goal> goal_for(const std::string& transport) {
  if (transport.rfind("tmc-unreliable", 0) == 0) return Goal{"udp", 0.8};
  if (transport.rfind("tmc-reliable", 0) == 0) return Goal{"tcp", 0.5};
  return std::nullopt;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

void print_table(const std::vector<Result>& results) {
  std::printf("%-20s %6s %10s %8s %9s %8s %8s %9s %6s %6s %8s %8s %5s %5s\n", "transport", "size", "msgs/s", "MB/s",
              "delivered", "p50 us", "p99 us", "p99.9 us", "xTCP", "xUDP", "cpu us/m", "retrans", "gso%", "gro%");
  for (const auto& r : results) {
    const Result* tcp = find(results, "tcp", r.size);
    const Result* udp = find(results, "udp", r.size);
    std::printf("%-20s %6zu %10.0f %8.1f %8.1f%% %8.1f %8.1f %9.1f %6.2f %6.2f %8.2f %8llu %5.0f %5.0f\n",
                r.transport.c_str(), r.size,
                r.messages_per_second, r.messages_per_second * static_cast<double>(r.size) / 1e6,
                100 * r.delivered_fraction, r.p50_us, r.p99_us, r.p999_us,
                tcp ? ratio(r.messages_per_second, tcp->messages_per_second) : 0,
                udp ? ratio(r.messages_per_second, udp->messages_per_second) : 0, r.cpu_us_per_message,
                static_cast<unsigned long long>(r.retransmissions), 100 * r.gso_fraction, 100 * r.gro_fraction);
  }
  std::printf("\nGoals (message rate, same run):\n");
  for (const auto& r : results) {
    auto goal = goal_for(r.transport);
    if (!goal) continue;
    const Result* base = find(results, goal->baseline, r.size);
    if (!base) continue;
    const double achieved = ratio(r.messages_per_second, base->messages_per_second);
    std::printf("  %-20s %6zu B: %.2fx %s (goal >= %.1fx) %s; p50 latency %.2fx %s\n", r.transport.c_str(), r.size,
                achieved, goal->baseline, goal->ratio, achieved >= goal->ratio ? "met" : "NOT met",
                ratio(r.p50_us, base->p50_us), goal->baseline);
  }
}

void print_json(const std::vector<Result>& results) {
  std::printf("{\"results\": [");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const Result* tcp = find(results, "tcp", r.size);
    const Result* udp = find(results, "udp", r.size);
    std::printf(
        "%s\n  {\"transport\": \"%s\", \"size\": %zu, \"messages_per_second\": %.1f, \"megabytes_per_second\": %.3f, "
        "\"sent\": %llu, \"delivered\": %llu, \"delivered_fraction\": %.6f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
        "\"p999_us\": %.2f, \"round_trips\": %zu, \"round_trips_lost\": %zu, \"retransmissions\": %llu, "
        "\"cpu_us_per_message\": %.3f, \"gso_fraction\": %.4f, \"gro_fraction\": %.4f, \"ratio_tcp\": %.4f, "
        "\"ratio_udp\": %.4f}",
        i ? "," : "", r.transport.c_str(), r.size, r.messages_per_second,
        r.messages_per_second * static_cast<double>(r.size) / 1e6, static_cast<unsigned long long>(r.sent),
        static_cast<unsigned long long>(r.delivered), r.delivered_fraction, r.p50_us, r.p99_us, r.p999_us,
        r.round_trips, r.round_trips_lost, static_cast<unsigned long long>(r.retransmissions), r.cpu_us_per_message,
        r.gso_fraction, r.gro_fraction, tcp ? ratio(r.messages_per_second, tcp->messages_per_second) : 0,
        udp ? ratio(r.messages_per_second, udp->messages_per_second) : 0);
  }
  std::printf("\n]}\n");
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::size_t stop = comma == std::string::npos ? text.size() : comma;
    if (stop > start) parts.push_back(text.substr(start, stop - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: tmc-bench [--json] [--seconds S] [--latency-seconds S] [--window N]\n"
               "                 [--sizes 64,16384] [--transports udp,tcp,tmc-unreliable,tmc-unreliable-nogso,\n"
               "                                     tmc-reliable,tmc-reliable-nogso]\n"
               "                 [--mtu BYTES] [--min-rto-us US] [--max-round-trips N]\n"
               "Loopback message rate and ping-pong latency of TMC next to kernel UDP and TCP.\n");
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    try {
      if (arg == "--json") options.json = true;
      else if (arg == "--seconds") options.seconds = std::stod(value());
      else if (arg == "--latency-seconds") options.latency_seconds = std::stod(value());
      else if (arg == "--window") options.window = std::stoull(value());
      else if (arg == "--max-round-trips") options.max_round_trips = std::stoull(value());
      else if (arg == "--min-rto-us") options.min_rto_us = std::stod(value());
      else if (arg == "--mtu") options.mtu = static_cast<std::uint32_t>(std::stoul(value()));
      else if (arg == "--sizes") {
        options.sizes.clear();
        for (const auto& part : split(value())) options.sizes.push_back(std::stoull(part));
      } else if (arg == "--transports") options.transports = split(value());
      else if (arg == "--help" || arg == "-h") usage(0);
      else usage(2);
    } catch (const std::logic_error&) {
      std::fprintf(stderr, "tmc-bench: bad value for %s\n", arg.c_str());
      std::exit(2);
    }
  }
  // Everything is bounded: at most 10 s per phase, message sizes one UDP datagram.
  if (options.seconds <= 0 || options.seconds > 10 || options.latency_seconds <= 0 || options.latency_seconds > 10 ||
      options.window == 0) {
    std::fprintf(stderr, "tmc-bench: --seconds/--latency-seconds must be in (0, 10], --window > 0\n");
    std::exit(2);
  }
  for (auto size : options.sizes)
    if (size < 8 || size > 65000) {
      std::fprintf(stderr, "tmc-bench: sizes must be within 8..65000 bytes (a ping carries its 8-byte number)\n");
      std::exit(2);
    }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  std::vector<Result> results;
  for (auto size : options.sizes)
    for (const auto& transport : options.transports) {
      if (!options.json) std::fprintf(stderr, "tmc-bench: %s %zu B...\n", transport.c_str(), size);
      results.push_back(run(options, transport, size));
    }
  if (options.json) print_json(results);
  else print_table(results);
  return 0;
}
