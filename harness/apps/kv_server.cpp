// kv_server: one replica of the harness's replicated key-value store (inconsistent-replication
// style, like TAPIR-KV's replicas). Plain POSIX sockets; knows nothing of TMC.
//
// Every replica applies every request it receives and answers it; clients complete an
// operation on f+1 matching replies. Per client, a replica remembers the newest request id and
// its reply: a repeat of it is answered from that cache (not applied twice), an older one is
// ignored. See kv_protocol.h for the wire format.
//
// Prints "ready <mode> <address>" on stdout once it accepts requests, and a JSON line with its
// counters when it exits (SIGTERM/SIGINT, or --max-seconds).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv_net.h"
#include "kv_protocol.h"

namespace {

constexpr const char* kUsage =
    "usage: kv_server --listen IP:PORT [--mode tcp|udp] [--id N] [--group MCAST_IP] [--max-seconds S]\n"
    "  --mode tcp     length-prefixed messages over TCP connections (default)\n"
    "  --mode udp     one datagram per message\n"
    "  --group IP     (udp) also receive requests sent to this IP multicast group on PORT\n"
    "  --max-seconds  exit after this long (default 3600)\n";

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Counters {
  std::uint64_t requests = 0;
  std::uint64_t gets = 0;
  std::uint64_t puts = 0;
  std::uint64_t repeats = 0;     // answered from the reply cache
  std::uint64_t stale = 0;       // older than the newest request of the client: ignored
  std::uint64_t malformed = 0;   // undecodable bodies / frames
};

class Store {
 public:
  explicit Store(std::uint16_t replica_id) : replica_id_(replica_id) {}

  // The reply to send, or nullopt if the request is stale and gets no answer.
  std::optional<std::vector<std::uint8_t>> handle(const kv::Request& req) {
    ++counters.requests;
    auto& client = clients_[req.client_id];
    if (client.seen && req.request_id < client.newest) {
      ++counters.stale;
      return std::nullopt;
    }
    if (client.seen && req.request_id == client.newest) {
      ++counters.repeats;
      return client.reply;
    }
    kv::Reply reply;
    reply.replica_id = replica_id_;
    reply.client_id = req.client_id;
    reply.request_id = req.request_id;
    if (req.op == kv::Op::put) {
      ++counters.puts;
      data_[req.key] = req.value;
    } else {
      ++counters.gets;
      auto it = data_.find(req.key);
      if (it == data_.end()) {
        reply.status = kv::Status::not_found;
      } else {
        reply.value = it->second;
      }
    }
    client.seen = true;
    client.newest = req.request_id;
    client.reply = kv::encode(reply);
    return client.reply;
  }

  std::size_t size() const { return data_.size(); }
  Counters counters;

 private:
  struct ClientState {
    bool seen = false;
    std::uint64_t newest = 0;
    std::vector<std::uint8_t> reply;
  };
  std::uint16_t replica_id_;
  std::unordered_map<std::string, std::string> data_;
  std::unordered_map<std::uint64_t, ClientState> clients_;
};

int fail(const char* what) {
  std::fprintf(stderr, "kv_server: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int run_tcp(const sockaddr_in& addr, Store& store, std::chrono::steady_clock::time_point end) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return fail("socket");
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  if (listen(listener, 64) != 0) return fail("listen");
  std::printf("ready tcp %s\n", kv::to_string(addr).c_str());
  std::fflush(stdout);

  std::map<int, std::unique_ptr<kv::FrameReader>> connections;
  std::vector<std::uint8_t> buf(64 * 1024);
  while (!g_stop && std::chrono::steady_clock::now() < end) {
    std::vector<pollfd> fds;
    fds.push_back({listener, POLLIN, 0});
    for (auto& [fd, reader] : connections) fds.push_back({fd, POLLIN, 0});
    const int ready = poll(fds.data(), fds.size(), 100);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return fail("poll");
    }
    if (fds[0].revents & POLLIN) {
      const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connections.emplace(fd, std::make_unique<kv::FrameReader>());
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int fd = fds[i].fd;
      auto& reader = *connections.at(fd);
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      bool close_it = n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
      if (n > 0) {
        reader.feed(buf.data(), static_cast<std::size_t>(n));
        while (auto body = reader.next()) {
          auto req = kv::decode_request(body->data(), body->size());
          if (!req) {
            ++store.counters.malformed;
            continue;
          }
          if (auto reply = store.handle(*req)) {
            const auto framed = kv::frame(*reply);
            if (!kv::send_all(fd, framed.data(), framed.size())) close_it = true;
          }
        }
        if (reader.bad()) {
          ++store.counters.malformed;
          close_it = true;
        }
      }
      if (close_it) {
        close(fd);
        connections.erase(fd);
      }
    }
  }
  for (auto& [fd, reader] : connections) close(fd);
  close(listener);
  return 0;
}

int run_udp(const sockaddr_in& addr, const char* group, Store& store, std::chrono::steady_clock::time_point end) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int rcvbuf = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in bind_addr = addr;
  if (group) {
    // Receive both unicast to our address and datagrams to the group: bind the wildcard.
    bind_addr.sin_addr.s_addr = htonl(INADDR_ANY);
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_addr), sizeof bind_addr) != 0) return fail("bind");
  if (group) {
    ip_mreq mreq{};
    if (inet_pton(AF_INET, group, &mreq.imr_multiaddr) != 1 || !IN_MULTICAST(ntohl(mreq.imr_multiaddr.s_addr))) {
      std::fprintf(stderr, "kv_server: --group %s is not an IPv4 multicast address\n", group);
      return 2;
    }
    mreq.imr_interface = addr.sin_addr;  // the interface that carries our unicast address
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) return fail("IP_ADD_MEMBERSHIP");
  }
  std::printf("ready udp %s%s%s\n", kv::to_string(addr).c_str(), group ? " group " : "", group ? group : "");
  std::fflush(stdout);

  std::vector<std::uint8_t> buf(kv::kMaxBody + 1);
  while (!g_stop && std::chrono::steady_clock::now() < end) {
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, 100);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return fail("poll");
    }
    if (ready == 0) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) continue;
    auto req = kv::decode_request(buf.data(), static_cast<std::size_t>(n));
    if (!req) {
      ++store.counters.malformed;
      continue;
    }
    if (auto reply = store.handle(*req))
      sendto(fd, reply->data(), reply->size(), 0, reinterpret_cast<const sockaddr*>(&from), from_len);
  }
  close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  static const char* known[] = {"--listen", "--mode", "--id", "--group", "--max-seconds"};
  for (int i = 1; i < argc; i += 2) {
    bool ok = false;
    for (const char* k : known) ok = ok || std::strcmp(argv[i], k) == 0;
    if (!ok) kv::usage_error("kv_server", std::string("unknown flag ") + argv[i], kUsage);
    if (i + 1 >= argc) kv::usage_error("kv_server", std::string("missing value for ") + argv[i], kUsage);
  }
  const char* listen_text = kv::flag_value(argc, argv, "--listen");
  if (!listen_text) kv::usage_error("kv_server", "--listen is required", kUsage);
  const auto endpoint = kv::parse_endpoint(listen_text);
  const auto addr = endpoint ? kv::to_sockaddr(*endpoint) : std::nullopt;
  if (!addr) kv::usage_error("kv_server", std::string("bad --listen ") + listen_text, kUsage);
  const std::string mode = kv::flag_value(argc, argv, "--mode") ? kv::flag_value(argc, argv, "--mode") : "tcp";
  if (mode != "tcp" && mode != "udp") kv::usage_error("kv_server", "--mode must be tcp or udp", kUsage);
  const char* group = kv::flag_value(argc, argv, "--group");
  if (group && mode != "udp") kv::usage_error("kv_server", "--group needs --mode udp", kUsage);
  const int id = kv::flag_value(argc, argv, "--id") ? std::atoi(kv::flag_value(argc, argv, "--id")) : 0;
  const double max_seconds =
      kv::flag_value(argc, argv, "--max-seconds") ? std::atof(kv::flag_value(argc, argv, "--max-seconds")) : 3600;
  if (max_seconds <= 0) kv::usage_error("kv_server", "--max-seconds must be positive", kUsage);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Store store(static_cast<std::uint16_t>(id));
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(max_seconds));
  const int rc = mode == "tcp" ? run_tcp(*addr, store, end) : run_udp(*addr, group, store, end);
  const auto& c = store.counters;
  std::printf(
      "{\"replica\":%d,\"mode\":\"%s\",\"requests\":%llu,\"gets\":%llu,\"puts\":%llu,\"repeats\":%llu,"
      "\"stale\":%llu,\"malformed\":%llu,\"keys\":%zu}\n",
      id, mode.c_str(), (unsigned long long)c.requests, (unsigned long long)c.gets, (unsigned long long)c.puts,
      (unsigned long long)c.repeats, (unsigned long long)c.stale, (unsigned long long)c.malformed, store.size());
  std::fflush(stdout);
  return rc;
}
