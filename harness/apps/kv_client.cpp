// kv_client: closed-loop client of the harness's replicated key-value store
// (inconsistent-replication style, like TAPIR's IR client). Plain POSIX sockets; knows nothing
// of TMC.
//
// One operation at a time: it is sent to every replica (or once to an IP multicast group) and
// completes on `quorum` (default f+1 = 2 of 3) matching replies. With no quorum after the retry
// timeout (default 500 ms, as TAPIR's IR client) the request is sent again, with the same
// request id, to the replicas that have not answered. 50% GET / 50% PUT over a key space.
//
// It checks every GET against the value it last PUT (it is the only writer) and counts
// violations. stdout: one JSON line (txn/s, latency percentiles, retries, violations, and a
// digest of all results, equal between TCP and UDP mode for the same seed); stderr: human text.
// Exit status: 0 ok, 1 setup/runtime error, 2 usage, 3 correctness violations.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kv_net.h"
#include "kv_protocol.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: kv_client --replicas IP:PORT,IP:PORT,... [options]\n"
    "  --mode tcp|udp       transport (default tcp: length-prefixed messages)\n"
    "  --group IP:PORT      (udp) send each request once to this multicast group\n"
    "  --quorum N           matching replies that complete an operation (default f+1)\n"
    "  --duration S         run length in seconds (default 10)\n"
    "  --ops N              stop after N operations (default 0 = only --duration)\n"
    "  --keys N             key space (default 1000)\n"
    "  --value-size B       PUT value size in bytes (default 64)\n"
    "  --get-ratio F        fraction of GETs (default 0.5)\n"
    "  --timeout-ms MS      retry timeout (default 500)\n"
    "  --seed N             operation sequence seed (default 1)\n"
    "  --connect-timeout S  (tcp) keep trying to connect this long (default 5)\n";

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  std::string mode = "tcp";
  std::vector<kv::Endpoint> replicas;
  std::optional<kv::Endpoint> group;
  std::size_t quorum = 0;
  double duration = 10;
  std::uint64_t max_ops = 0;
  std::uint64_t keys = 1000;
  std::size_t value_size = 64;
  double get_ratio = 0.5;
  double timeout_ms = 500;
  std::uint64_t seed = 1;
  double connect_timeout = 5;
};

double number_flag(int argc, char** argv, const char* name, double fallback) {
  const char* v = kv::flag_value(argc, argv, name);
  if (!v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end != '\0') kv::usage_error("kv_client", std::string("bad number for ") + name + ": " + v, kUsage);
  return d;
}

Options parse(int argc, char** argv) {
  static const char* known[] = {"--mode", "--replicas", "--group", "--quorum", "--duration", "--ops", "--keys",
                                "--value-size", "--get-ratio", "--timeout-ms", "--seed", "--connect-timeout"};
  for (int i = 1; i < argc; i += 2) {
    bool ok = false;
    for (const char* k : known) ok = ok || std::strcmp(argv[i], k) == 0;
    if (!ok) kv::usage_error("kv_client", std::string("unknown flag ") + argv[i], kUsage);
    if (i + 1 >= argc) kv::usage_error("kv_client", std::string("missing value for ") + argv[i], kUsage);
  }
  Options o;
  if (const char* m = kv::flag_value(argc, argv, "--mode")) o.mode = m;
  if (o.mode != "tcp" && o.mode != "udp") kv::usage_error("kv_client", "--mode must be tcp or udp", kUsage);
  const char* list = kv::flag_value(argc, argv, "--replicas");
  if (!list) kv::usage_error("kv_client", "--replicas is required", kUsage);
  std::string rest = list;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    auto e = kv::parse_endpoint(item);
    if (!e || !kv::to_sockaddr(*e)) kv::usage_error("kv_client", "bad replica address " + item, kUsage);
    o.replicas.push_back(*e);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  if (o.replicas.empty()) kv::usage_error("kv_client", "--replicas is empty", kUsage);
  if (const char* g = kv::flag_value(argc, argv, "--group")) {
    auto e = kv::parse_endpoint(g);
    if (!e || !kv::to_sockaddr(*e)) kv::usage_error("kv_client", std::string("bad --group ") + g, kUsage);
    if (o.mode != "udp") kv::usage_error("kv_client", "--group needs --mode udp", kUsage);
    o.group = e;
  }
  o.quorum = static_cast<std::size_t>(number_flag(argc, argv, "--quorum", o.replicas.size() / 2 + 1));
  if (o.quorum < 1 || o.quorum > o.replicas.size())
    kv::usage_error("kv_client", "--quorum must be between 1 and the number of replicas", kUsage);
  o.duration = number_flag(argc, argv, "--duration", o.duration);
  o.max_ops = static_cast<std::uint64_t>(number_flag(argc, argv, "--ops", 0));
  o.keys = static_cast<std::uint64_t>(number_flag(argc, argv, "--keys", 1000));
  o.value_size = static_cast<std::size_t>(number_flag(argc, argv, "--value-size", 64));
  o.get_ratio = number_flag(argc, argv, "--get-ratio", 0.5);
  o.timeout_ms = number_flag(argc, argv, "--timeout-ms", 500);
  o.seed = static_cast<std::uint64_t>(number_flag(argc, argv, "--seed", 1));
  o.connect_timeout = number_flag(argc, argv, "--connect-timeout", 5);
  if (o.duration <= 0 || o.duration > 86400) kv::usage_error("kv_client", "--duration must be in (0, 86400]", kUsage);
  if (o.keys < 1) kv::usage_error("kv_client", "--keys must be >= 1", kUsage);
  if (o.value_size < 8 || o.value_size > kv::kMaxValue) kv::usage_error("kv_client", "--value-size must be in [8, 65536]", kUsage);
  if (o.get_ratio < 0 || o.get_ratio > 1) kv::usage_error("kv_client", "--get-ratio must be in [0, 1]", kUsage);
  if (o.timeout_ms <= 0) kv::usage_error("kv_client", "--timeout-ms must be positive", kUsage);
  return o;
}

// Where requests go and replies come from: one TCP connection per replica, or one UDP socket.
class Transport {
 public:
  virtual ~Transport() = default;
  // Sends the request body to the replicas whose index is not in `answered`.
  virtual void send(const std::vector<std::uint8_t>& body, const std::vector<bool>& answered) = 0;
  // Waits up to `wait`; appends (replica index, reply) pairs received. False on fatal error.
  virtual bool receive(Clock::duration wait, std::vector<std::pair<std::size_t, kv::Reply>>& out) = 0;
};

class TcpTransport : public Transport {
 public:
  TcpTransport(const Options& o) {
    const auto give_up = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.connect_timeout));
    for (const auto& e : o.replicas) {
      const auto addr = *kv::to_sockaddr(e);
      int fd = -1;
      while (true) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
        const int err = errno;
        if (fd >= 0) close(fd);
        fd = -1;
        if (Clock::now() >= give_up || g_stop) {
          std::fprintf(stderr, "kv_client: connect %s: %s\n", kv::to_string(addr).c_str(), std::strerror(err));
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (fd >= 0) {
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      fds_.push_back(fd);
      readers_.emplace_back();
    }
  }
  ~TcpTransport() override {
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  std::size_t alive() const { return static_cast<std::size_t>(std::count_if(fds_.begin(), fds_.end(), [](int fd) { return fd >= 0; })); }

  void send(const std::vector<std::uint8_t>& body, const std::vector<bool>& answered) override {
    const auto framed = kv::frame(body);
    for (std::size_t i = 0; i < fds_.size(); ++i)
      if (fds_[i] >= 0 && !answered[i] && !kv::send_all(fds_[i], framed.data(), framed.size())) drop(i);
  }

  bool receive(Clock::duration wait, std::vector<std::pair<std::size_t, kv::Reply>>& out) override {
    std::vector<pollfd> pfds;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < fds_.size(); ++i)
      if (fds_[i] >= 0) {
        pfds.push_back({fds_[i], POLLIN, 0});
        index.push_back(i);
      }
    if (pfds.empty()) return false;
    const int ms = static_cast<int>(std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()));
    const int ready = poll(pfds.data(), pfds.size(), ms);
    if (ready < 0) return errno == EINTR;
    std::uint8_t buf[16384];
    for (std::size_t k = 0; k < pfds.size(); ++k) {
      if (!(pfds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const std::size_t i = index[k];
      const ssize_t n = recv(fds_[i], buf, sizeof buf, 0);
      if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        drop(i);
        continue;
      }
      readers_[i].feed(buf, static_cast<std::size_t>(n));
      while (auto body = readers_[i].next()) {
        if (auto reply = kv::decode_reply(body->data(), body->size())) out.emplace_back(i, std::move(*reply));
      }
      if (readers_[i].bad()) drop(i);
    }
    return true;
  }

 private:
  void drop(std::size_t i) {
    std::fprintf(stderr, "kv_client: lost connection to replica %zu\n", i);
    close(fds_[i]);
    fds_[i] = -1;
  }
  std::vector<int> fds_;
  std::vector<kv::FrameReader> readers_;
};

class UdpTransport : public Transport {
 public:
  explicit UdpTransport(const Options& o) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      std::perror("kv_client: socket");
      std::exit(1);
    }
    for (const auto& e : o.replicas) replicas_.push_back(*kv::to_sockaddr(e));
    if (o.group) {
      group_ = *kv::to_sockaddr(*o.group);
      const unsigned char ttl = 4;
      setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    }
  }
  ~UdpTransport() override { close(fd_); }

  void send(const std::vector<std::uint8_t>& body, const std::vector<bool>& answered) override {
    if (group_) {
      sendto(fd_, body.data(), body.size(), 0, reinterpret_cast<const sockaddr*>(&*group_), sizeof *group_);
      return;
    }
    for (std::size_t i = 0; i < replicas_.size(); ++i)
      if (!answered[i])
        sendto(fd_, body.data(), body.size(), 0, reinterpret_cast<const sockaddr*>(&replicas_[i]), sizeof replicas_[i]);
  }

  bool receive(Clock::duration wait, std::vector<std::pair<std::size_t, kv::Reply>>& out) override {
    pollfd pfd{fd_, POLLIN, 0};
    const int ms = static_cast<int>(std::max<long long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()));
    const int ready = poll(&pfd, 1, ms);
    if (ready < 0) return errno == EINTR;
    std::uint8_t buf[kv::kMaxBody + 1];
    while (true) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      auto reply = kv::decode_reply(buf, static_cast<std::size_t>(n));
      if (!reply) continue;
      for (std::size_t i = 0; i < replicas_.size(); ++i)
        if (replicas_[i].sin_addr.s_addr == from.sin_addr.s_addr && replicas_[i].sin_port == from.sin_port)
          out.emplace_back(i, std::move(*reply));
    }
    return true;
  }

 private:
  int fd_ = -1;
  std::vector<sockaddr_in> replicas_;
  std::optional<sockaddr_in> group_;
};

// FNV-1a, 64 bit: a digest of every result, to compare runs.
struct Digest {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  void add(const std::string& s) {
    const std::uint64_t n = s.size();
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Transport> transport;
  if (o.mode == "tcp") {
    auto tcp = std::make_unique<TcpTransport>(o);
    if (tcp->alive() < o.quorum) {
      std::fprintf(stderr, "kv_client: only %zu of %zu replicas reachable, quorum is %zu\n", tcp->alive(),
                   o.replicas.size(), o.quorum);
      return 1;
    }
    transport = std::move(tcp);
  } else {
    transport = std::make_unique<UdpTransport>(o);
  }

  // The operation sequence depends only on --seed (and keys/ratio), never on timing.
  std::mt19937_64 rng(o.seed);
  const std::uint64_t client_id = (static_cast<std::uint64_t>(getpid()) << 32) ^
                                  static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  std::unordered_map<std::string, std::string> written;  // what this client last PUT per key
  std::vector<double> latencies_us;
  Digest digest;
  std::uint64_t gets = 0, puts = 0, retries = 0, violations = 0, request_id = 0;
  const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(o.timeout_ms));
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  bool aborted = false;

  while (!g_stop && Clock::now() < end && (o.max_ops == 0 || request_id < o.max_ops)) {
    kv::Request req;
    req.client_id = client_id;
    req.request_id = ++request_id;
    const std::uint64_t key_index = rng() % o.keys;
    const bool is_get = static_cast<double>(rng() % 1000000) < o.get_ratio * 1000000.0;
    req.key = "key" + std::to_string(key_index);
    req.op = is_get ? kv::Op::get : kv::Op::put;
    if (!is_get) {
      req.value = "v" + std::to_string(req.request_id) + "-" + std::to_string(o.seed) + "-";
      req.value.resize(o.value_size, static_cast<char>('a' + req.request_id % 26));
    }
    const auto body = kv::encode(req);
    std::vector<bool> answered(o.replicas.size(), false);
    std::map<std::pair<kv::Status, std::string>, std::size_t> votes;
    std::optional<std::pair<kv::Status, std::string>> result;

    const auto op_start = Clock::now();
    auto retry_at = op_start + timeout;
    transport->send(body, answered);
    std::vector<std::pair<std::size_t, kv::Reply>> replies;
    while (!result) {
      const auto now = Clock::now();
      if (g_stop || now >= end) break;
      if (now >= retry_at) {
        ++retries;
        transport->send(body, answered);
        retry_at = now + timeout;
        continue;
      }
      replies.clear();
      if (!transport->receive(std::min(retry_at, end) - now, replies)) {
        std::fprintf(stderr, "kv_client: no replica reachable any more\n");
        aborted = true;
        break;
      }
      for (auto& [index, reply] : replies) {
        if (reply.client_id != client_id || reply.request_id != req.request_id || answered[index]) continue;
        answered[index] = true;
        auto vote = std::make_pair(reply.status, reply.value);
        if (++votes[vote] >= o.quorum) result = vote;
      }
    }
    if (!result) break;  // run over (or aborted) with this operation in flight: not counted
    latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - op_start).count());

    const std::uint8_t op_byte = static_cast<std::uint8_t>(req.op), status_byte = static_cast<std::uint8_t>(result->first);
    digest.add(&op_byte, 1);
    digest.add(req.key);
    digest.add(&status_byte, 1);
    digest.add(result->second);
    if (is_get) {
      ++gets;
      auto it = written.find(req.key);
      const bool ok = it == written.end() ? result->first == kv::Status::not_found
                                          : result->first == kv::Status::ok && result->second == it->second;
      if (!ok) ++violations;
    } else {
      ++puts;
      written[req.key] = req.value;
    }
  }
  if (request_id > 0 && aborted && latencies_us.empty()) return 1;

  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> sorted = latencies_us;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (double v : sorted) mean += v;
  if (!sorted.empty()) mean /= static_cast<double>(sorted.size());
  const std::size_t ops = sorted.size();
  const double txn_per_s = elapsed > 0 ? static_cast<double>(ops) / elapsed : 0;

  std::fprintf(stderr,
               "kv_client %s: %zu ops in %.2f s = %.1f txn/s; latency p50 %.0f us, p99 %.0f us, p99.9 %.0f us; "
               "%llu retries; %llu violations\n",
               o.mode.c_str(), ops, elapsed, txn_per_s, percentile(sorted, 50), percentile(sorted, 99),
               percentile(sorted, 99.9), (unsigned long long)retries, (unsigned long long)violations);
  std::printf(
      "{\"mode\":\"%s\",\"multicast\":%s,\"replicas\":%zu,\"quorum\":%zu,\"ops\":%zu,\"gets\":%llu,\"puts\":%llu,"
      "\"duration_s\":%.3f,\"txn_per_s\":%.2f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f,\"retries\":%llu,\"violations\":%llu,\"aborted\":%s,\"digest\":\"%016llx\"}\n",
      o.mode.c_str(), o.group ? "true" : "false", o.replicas.size(), o.quorum, ops, (unsigned long long)gets,
      (unsigned long long)puts, elapsed, txn_per_s, mean, percentile(sorted, 50), percentile(sorted, 99),
      percentile(sorted, 99.9), sorted.empty() ? 0.0 : sorted.back(), (unsigned long long)retries,
      (unsigned long long)violations, aborted ? "true" : "false", (unsigned long long)digest.h);
  std::fflush(stdout);
  if (violations > 0) return 3;
  return aborted ? 1 : 0;
}
