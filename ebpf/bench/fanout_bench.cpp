// tmc-fanout-bench — fan-out of one message to 3 members: the eBPF fan-out (the engine sends one
// datagram to members[0], the tc egress program emits the copies) against the engine's best
// user-space fan-out (one datagram per member, sendmmsg batches), same packets, same members,
// same pinning, same run. Needs root (network namespaces) and BPF. Figures go to docs/ebpf.md.
//
//   tmc-fanout-bench [--messages N] [--size BYTES] [--rounds R] [--batch M]
//                    [--handoff napi|rps|inline] [--rate MSGS_PER_S] [--gso none|user|both]
//                    [--only user|ebpf]
//
// Both arms send the way tmc::Channel's flush does (engine/src/transport/udp_socket.cpp): the
// datagrams of M queued messages leave in sendmmsg calls of at most 64 (UdpSocket::kBatch) —
// 3*M datagrams for user space, M for eBPF. --batch 1 is one flush per message. --gso: an arm
// that uses UDP GSO sends, per flush, one super-packet per destination (UDP_SEGMENT, at most 64
// segments, as GsoBatcher plans it). Default `user`: GSO for user-space fan-out only, as the
// engine did until it kept GSO on fan-out channels (tmc/fanout_rule.h); `both` also gives the
// eBPF arm super-packets (the program copies them whole), as the engine does now; `none` is the
// engine without GSO. tmc-channel-fanout-bench compares the arms through tmc::Channel itself.
//
// Isolation (default): on veth every packet's receive work (bridge, the member's veth, IP/UDP,
// socket wake-up) runs in the softirq of the CPU that transmitted it, i.e. in the sender's
// syscall, whichever arm made the copy. To measure the fan-out mechanism, the sender thread is
// pinned to CPU 0, the member threads to CPU 1, and every frame the sender transmits is handed
// to CPU 1 (--handoff): `napi` (default) gives the sender's bridge port a threaded NAPI poll
// pinned to CPU 1, so the sender's veth transmit only fills the port's ring, as a NIC driver
// fills its TX ring; `rps` queues each frame to CPU 1's backlog (flow hash + enqueue);
// `inline` keeps the kernel's defaults, where the receivers' work is charged to the sender.
// The sender's CPU then does the send side only: syscalls, UDP/IP output or clone + rewrite,
// the hand-off, and the frees of its skbs. --rate paces the flushes (equal offered load).
//
// Alternation: the arms run back to back in every round, in alternating order; the BPF program
// is loaded once and attached only for the eBPF run; every figure is a PAIRED ratio eBPF /
// user space within one round, summarised as median [min..max] over the rounds.
#include <bpf/bpf.h>
#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
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
constexpr int kSendmmsgLimit = 64;  // tmc::transport::UdpSocket::kBatch
constexpr int kSenderCpu = 0;
constexpr int kReceiveCpu = 1;

// Set by SIGINT/SIGTERM: the bench stops after the current run and still removes its network
// namespaces (the testbed's destructor); SIGPIPE is ignored for the same reason (| head).
std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

double now_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;  // 0: the calling thread
}

// Runs `body` on a thread that entered netns `ns` (reads of /proc/thread-self/net/* then see
// that namespace's devices and counters).
template <typename Body>
void in_netns(const std::string& ns, Body body) {
  std::thread thread([&] {
    InNetns inside(ns);
    body();
  });
  thread.join();
}

// Sets an ethtool feature of `device` in the calling thread's netns (SIOCETHTOOL; `command` is
// ETHTOOL_SGRO, ETHTOOL_STSO, ...).
void set_feature(const std::string& device, uint32_t command, bool on) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ethtool_value value{};
  value.cmd = command;
  value.data = on ? 1 : 0;
  ifreq request{};
  std::strncpy(request.ifr_name, device.c_str(), IFNAMSIZ - 1);
  request.ifr_data = reinterpret_cast<char*>(&value);
  const int result = fd < 0 ? -1 : ioctl(fd, SIOCETHTOOL, &request);
  const int error = errno;
  if (fd >= 0) close(fd);
  if (result != 0)
    throw std::runtime_error("ethtool command " + std::to_string(command) + " on " + device + ": " + std::strerror(error));
}

// Task ids of the kernel threads whose name starts with `prefix`.
std::vector<int> threads_named(const std::string& prefix) {
  std::vector<int> found;
  DIR* proc = opendir("/proc");
  if (!proc) return found;
  while (dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (std::getline(comm, name) && name.rfind(prefix, 0) == 0) found.push_back(pid);
  }
  closedir(proc);
  std::sort(found.begin(), found.end());
  return found;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

struct DeviceCounters {
  uint64_t rx_packets = 0, rx_dropped = 0, tx_packets = 0, tx_dropped = 0;
};
// `device`'s counters from /proc/thread-self/net/dev (the calling thread's netns).
DeviceCounters device_counters(const std::string& device) {
  std::istringstream lines(read_text("/proc/thread-self/net/dev"));
  std::string line;
  while (std::getline(lines, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name != device) continue;
    std::istringstream fields(line.substr(colon + 1));
    uint64_t v[16] = {};
    for (auto& x : v) fields >> x;
    return {v[1], v[3], v[9], v[11]};
  }
  return {};
}
// Udp: RcvbufErrors from /proc/thread-self/net/snmp (the calling thread's netns).
uint64_t udp_receive_buffer_errors() {
  std::istringstream lines(read_text("/proc/thread-self/net/snmp"));
  std::string names, values, line;
  while (std::getline(lines, line)) {
    if (line.rfind("Udp: ", 0) != 0) continue;
    if (names.empty()) names = line;
    else values = line;
  }
  std::istringstream n(names), v(values);
  std::string name, value;
  while (n >> name && v >> value)
    if (name == "RcvbufErrors") return std::stoull(value);
  return 0;
}
// Sum over CPUs of the packets dropped because a backlog was full (/proc/net/softnet_stat col 2).
uint64_t backlog_drops() {
  std::istringstream lines(read_text("/proc/net/softnet_stat"));
  std::string line;
  uint64_t total = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string processed, dropped;
    if (fields >> processed >> dropped) total += std::stoull(dropped, nullptr, 16);
  }
  return total;
}

struct CpuTimes {
  double busy = 0, softirq = 0;  // seconds
};
// Per-CPU busy (everything but idle and iowait) and softirq time from /proc/stat.
std::vector<CpuTimes> cpu_times() {
  std::istringstream lines(read_text("/proc/stat"));
  std::string line;
  std::vector<CpuTimes> cpus;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(lines, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] == ' ') continue;
    std::istringstream fields(line);
    std::string label;
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
    fields >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    cpus.push_back({(user + nice + system + irq + softirq + steal) / tick, softirq / tick});
  }
  return cpus;
}

// The program's cumulative run time (ns) and run count, kept by the kernel while
// kernel.bpf_stats_enabled = 1 (else both stay 0).
std::pair<uint64_t, uint64_t> program_run_time(int program_fd) {
  bpf_prog_info info{};
  uint32_t length = sizeof info;
  if (bpf_obj_get_info_by_fd(program_fd, &info, &length) != 0) return {0, 0};
  return {info.run_time_ns, info.run_cnt};
}

std::string load_average() {
  std::string line = read_text("/proc/loadavg");
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

enum class Mode { user, ebpf };
const char* name_of(Mode mode) { return mode == Mode::ebpf ? "ebpf  (1 datagram/msg)" : "user  (3 datagrams/msg)"; }

struct Result {
  double sender_rate = 0;       // messages/s: N / wall time of the sender's send loop
  double sender_cpu_us = 0;     // sender thread CPU per message
  double receive_cpu_us = 0;    // CPU 1 busy time per delivered message (3 socket arrivals; includes others' load)
  double delivered_rate = 0;    // messages/s reaching every member socket: min count / (last arrival - start)
  double delivered_fraction = 0;  // min over members of socket arrivals / N
  double program_ns = 0;          // eBPF arm with kernel.bpf_stats_enabled: program run time per message
  uint64_t wire_copies = 0;       // sender eth0 tx_packets + tx_dropped
  uint64_t member_interface[kMembers] = {};
  uint64_t member_socket[kMembers] = {};
  uint64_t backlog_drops = 0, rcvbuf_errors = 0;
};

class Receivers {
 public:
  Receivers(std::vector<std::unique_ptr<UdpSocket>>& sockets, int cpu) : sockets_(sockets), cpu_(cpu) {
    for (auto& socket : sockets_) {
      timeval timeout{0, 50000};
      setsockopt(socket->fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
  }
  void start() {
    stop_ = false;
    for (int i = 0; i < kMembers; i++) {
      counts_[i] = 0;
      last_[i] = 0;
      threads_.emplace_back([this, i] {
        if (cpu_ >= 0) pin_to(cpu_);
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
          if (n > 0) {
            counts_[i] += n;
            last_[i] = now_seconds(CLOCK_MONOTONIC);
          }
          if (n <= 0 && stop_) break;
        }
      });
    }
  }
  void stop() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }
  uint64_t count(int i) const { return counts_[i]; }
  double last_arrival(int i) const { return last_[i]; }

 private:
  std::vector<std::unique_ptr<UdpSocket>>& sockets_;
  int cpu_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> counts_[kMembers];
  double last_[kMembers] = {};  // written by thread i, read after join
};

struct Bench {
  Testbed& bed;
  UdpSocket& sender;
  Receivers& receivers;
  int messages;
  size_t size;
  int batch;
  int program_fd;
  double rate = 0;  // messages/s offered; 0 = as fast as the sender can
  bool gso_user = false, gso_ebpf = false;  // the arm sends UDP GSO super-packets per destination

  struct MemberSnapshot {
    DeviceCounters device;
    uint64_t rcvbuf = 0;
  };
  MemberSnapshot member_snapshot(int i) {
    MemberSnapshot snapshot;
    in_netns(bed.host(i), [&] {
      snapshot.device = device_counters("eth0");
      snapshot.rcvbuf = udp_receive_buffer_errors();
    });
    return snapshot;
  }

  // Called on the sender thread (already in the sender's netns and pinned).
  Result run(Mode mode) {
    TmcHeader header;
    header.channel_id = kChannel;
    size_t body = size > TMC_DATA_HEADER_SIZE ? size - TMC_DATA_HEADER_SIZE : 0;
    const Bytes payload = tmc_payload(header, Bytes(body, 0x5A));
    sockaddr_in destinations[kMembers];
    for (int i = 0; i < kMembers; i++)
      destinations[i] = UdpSocket::make_address(Testbed::ip(i), static_cast<uint16_t>(kBasePort + i));
    // The flush queue: one buffer per queued message (the sequence differs), one mmsghdr per
    // datagram, as the engine's UdpSocket queue holds them.
    const int per_message = mode == Mode::ebpf ? 1 : kMembers;
    std::vector<Bytes> buffers(static_cast<size_t>(batch), payload);
    std::vector<iovec> vectors(static_cast<size_t>(batch));
    std::vector<mmsghdr> queue(static_cast<size_t>(batch * per_message));
    for (int b = 0; b < batch; b++) {
      vectors[b] = {buffers[b].data(), buffers[b].size()};
      for (int c = 0; c < per_message; c++) {
        mmsghdr& entry = queue[static_cast<size_t>(b * per_message + c)];
        entry = {};
        entry.msg_hdr.msg_name = &destinations[c];
        entry.msg_hdr.msg_namelen = sizeof destinations[c];
        entry.msg_hdr.msg_iov = &vectors[b];
        entry.msg_hdr.msg_iovlen = 1;
      }
    }

    // UDP GSO (udp(7) UDP_SEGMENT), as the engine's GsoBatcher plans a flush: per destination
    // one super-packet of its queued datagrams (all the same size here), at most 64 segments
    // and 65507 bytes each; the units of one flush leave in one sendmmsg.
    const bool gso = mode == Mode::ebpf ? gso_ebpf : gso_user;
    const int per_unit = std::max<int>(1, std::min<int>(64, static_cast<int>(65507 / payload.size())));
    const int units_per_destination = (batch + per_unit - 1) / per_unit;
    std::vector<mmsghdr> units(static_cast<size_t>(per_message * units_per_destination));
    std::vector<std::array<char, CMSG_SPACE(sizeof(uint16_t))>> controls(units.size());
    auto plan_units = [&](int queued) {
      size_t n = 0;
      for (int c = 0; c < per_message; c++)
        for (int start = 0; start < queued; start += per_unit, n++) {
          mmsghdr& unit = units[n];
          unit = {};
          unit.msg_hdr.msg_name = &destinations[c];
          unit.msg_hdr.msg_namelen = sizeof destinations[c];
          unit.msg_hdr.msg_iov = &vectors[static_cast<size_t>(start)];
          unit.msg_hdr.msg_iovlen = static_cast<size_t>(std::min(per_unit, queued - start));
          unit.msg_hdr.msg_control = controls[n].data();
          unit.msg_hdr.msg_controllen = controls[n].size();
          cmsghdr* header = CMSG_FIRSTHDR(&unit.msg_hdr);
          header->cmsg_level = SOL_UDP;
          header->cmsg_type = UDP_SEGMENT;
          header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          const uint16_t segment = static_cast<uint16_t>(payload.size());
          std::memcpy(CMSG_DATA(header), &segment, sizeof segment);
        }
      return static_cast<int>(n);
    };

    MemberSnapshot before[kMembers];
    for (int i = 0; i < kMembers; i++) before[i] = member_snapshot(i);
    const DeviceCounters sender_before = device_counters("eth0");
    const uint64_t drops_before = backlog_drops();
    const auto cpus_before = cpu_times();
    const auto program_before = program_run_time(program_fd);
    receivers.start();
    const double wall_start = now_seconds(CLOCK_MONOTONIC);
    const double thread_start = now_seconds(CLOCK_THREAD_CPUTIME_ID);
    uint64_t failed = 0;
    timespec next{};
    clock_gettime(CLOCK_MONOTONIC, &next);
    const long flush_interval_ns = rate > 0 ? static_cast<long>(1e9 * batch / rate) : 0;
    for (int m = 0; m < messages && !interrupted;) {
      if (flush_interval_ns > 0) {  // paced: one flush every batch/rate seconds, sleeping in between
        next.tv_nsec += flush_interval_ns;
        while (next.tv_nsec >= 1000000000L) {
          next.tv_nsec -= 1000000000L;
          next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
      }
      const int queued = std::min(batch, messages - m);
      for (int b = 0; b < queued; b++) put64(buffers[b].data() + TMC_OFF_SEQUENCE, static_cast<uint64_t>(m + b));
      mmsghdr* entries = queue.data();
      int datagrams = queued * per_message;
      if (gso) {
        entries = units.data();
        datagrams = plan_units(queued);  // units, each one sendmmsg entry
      }
      for (int at = 0; at < datagrams;) {
        const int chunk = std::min(kSendmmsgLimit, datagrams - at);
        const int sent = sendmmsg(sender.fd(), entries + at, static_cast<unsigned>(chunk), 0);
        if (sent <= 0) {
          failed++;
          at++;  // counted as lost, never retried: both arms see the same rule
        } else {
          at += sent;
        }
      }
      m += queued;
    }
    const double wall_sent = now_seconds(CLOCK_MONOTONIC);
    const double thread_cpu = now_seconds(CLOCK_THREAD_CPUTIME_ID) - thread_start;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the receivers drain
    receivers.stop();
    const auto cpus_after = cpu_times();
    const auto program_after = program_run_time(program_fd);
    const DeviceCounters sender_after = device_counters("eth0");

    Result r;
    const double n = messages;
    r.sender_rate = n / (wall_sent - wall_start);
    r.sender_cpu_us = thread_cpu / n * 1e6;
    r.program_ns = static_cast<double>(program_after.first - program_before.first) / n;
    r.wire_copies = (sender_after.tx_packets - sender_before.tx_packets) +
                    (sender_after.tx_dropped - sender_before.tx_dropped);
    uint64_t least = UINT64_MAX;
    double last = wall_start;
    for (int i = 0; i < kMembers; i++) {
      MemberSnapshot after = member_snapshot(i);
      r.member_interface[i] = after.device.rx_packets - before[i].device.rx_packets;
      r.member_socket[i] = receivers.count(i);
      r.rcvbuf_errors += after.rcvbuf - before[i].rcvbuf;
      least = std::min(least, receivers.count(i));
      last = std::max(last, receivers.last_arrival(i));
    }
    r.backlog_drops = backlog_drops() - drops_before;
    const double delivered_copies = static_cast<double>(r.member_socket[0] + r.member_socket[1] + r.member_socket[2]);
    if (cpus_after.size() > kReceiveCpu && cpus_before.size() > kReceiveCpu && delivered_copies > 0)
      r.receive_cpu_us =
          (cpus_after[kReceiveCpu].busy - cpus_before[kReceiveCpu].busy) / (delivered_copies / kMembers) * 1e6;
    r.delivered_fraction = static_cast<double>(least) / n;
    r.delivered_rate = last > wall_start ? static_cast<double>(least) / (last - wall_start) : 0;
    if (failed) std::fprintf(stderr, "  (%llu sendmmsg failures)\n", static_cast<unsigned long long>(failed));
    return r;
  }
};

struct Spread {
  double median, low, high;
};
Spread spread_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}
std::string format_spread(const std::vector<double>& values, const char* format) {
  const Spread s = spread_of(values);
  char f[64], text[160];
  std::snprintf(f, sizeof f, "%s [%s..%s]", format, format, format);
  std::snprintf(text, sizeof text, f, s.median, s.low, s.high);
  return text;
}

int usage() {
  std::fprintf(stderr,
               "usage: tmc-fanout-bench [--messages N] [--size BYTES] [--rounds R] [--batch M] "
               "[--handoff napi|rps|inline] [--rate MSGS_PER_S] [--gso none|user|both] [--only user|ebpf]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 200000, rounds = 11, batch = 64;
  size_t size = 64;
  std::string handoff = "napi";
  double rate = 0;
  std::string gso_mode = "user";
  std::string only;
  for (int i = 1; i < argc; i++) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (flag == "--messages") messages = std::atoi(value);
    else if (flag == "--size") size = static_cast<size_t>(std::atoi(value));
    else if (flag == "--rounds") rounds = std::atoi(value);
    else if (flag == "--batch") batch = std::atoi(value);
    else if (flag == "--only") only = value;
    else if (flag == "--handoff") handoff = value;
    else if (flag == "--rate") rate = std::atof(value);
    else if (flag == "--gso") gso_mode = value;
    else return usage();
  }
  if (messages <= 0 || messages > 10000000 || rounds <= 0 || rounds > 101 || size > 1400 || batch < 1 ||
      batch > 1024 || (!only.empty() && only != "user" && only != "ebpf") ||
      (handoff != "napi" && handoff != "rps" && handoff != "inline") || rate < 0 || rate > 1e7 ||
      (gso_mode != "none" && gso_mode != "user" && gso_mode != "both")) {
    std::fprintf(stderr, "tmc-fanout-bench: messages 1..10M, rounds 1..101, size <= 1400, batch 1..1024, "
                         "--only user|ebpf, --handoff napi|rps|inline, --rate 0..1e7, --gso none|user|both\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction action{};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::string why;
  if (!available(&why)) {
    std::fprintf(stderr, "tmc-fanout-bench: BPF unavailable: %s\n", why.c_str());
    return 77;
  }
  const bool isolated = handoff != "inline";
  if (isolated && std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "tmc-fanout-bench: --handoff %s needs 2 CPUs; use --handoff inline\n", handoff.c_str());
    return 2;
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
    const std::string sender_port = "p" + std::to_string(kSenderHost);  // the sender's bridge-side veth
    std::string handoff_text;
    if (handoff == "rps") {
      char mask[16];
      std::snprintf(mask, sizeof mask, "%x", 1u << kReceiveCpu);
      must("ip netns exec " + bed.bridge() + " sh -c 'echo " + mask + " > /sys/class/net/" + sender_port +
           "/queues/rx-0/rps_cpus'");
      handoff_text = "RPS on " + sender_port + " (rx-0/rps_cpus): every frame the sender transmits is queued to CPU " +
                     std::to_string(kReceiveCpu) + "'s backlog (flow hash, backlog lock, IPI)";
    } else if (handoff == "napi") {
      // GRO on the sender's bridge port gives it a NAPI instance: the sender's veth transmit
      // then only puts the skb on the port's 256-entry ring (as a NIC driver puts it on its TX
      // ring), and the port's threaded NAPI poll, pinned to the receive CPU, does the rest.
      // veth takes that path only for frames it may hand to GRO: with TSO on the sending
      // device only socket-owned skbs, and only if the port also forwards UDP GRO — never
      // bpf_clone_redirect's clones — so TSO (TCP only, unused here) is turned off on the
      // sender's eth0, for both arms.
      const std::vector<int> before = threads_named("napi/" + sender_port + "-");
      in_netns(bed.bridge(), [&] { set_feature(sender_port, ETHTOOL_SGRO, true); });
      in_netns(bed.host(kSenderHost), [&] { set_feature("eth0", ETHTOOL_STSO, false); });
      must("ip netns exec " + bed.bridge() + " sh -c 'echo 1 > /sys/class/net/" + sender_port + "/threaded'");
      std::vector<int> after = threads_named("napi/" + sender_port + "-"), ours;
      std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(ours));
      if (ours.empty()) throw std::runtime_error("no threaded NAPI kernel thread appeared for " + sender_port);
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(kReceiveCpu, &set);
      for (int pid : ours)
        if (sched_setaffinity(pid, sizeof set, &set) != 0)
          throw std::runtime_error("cannot pin the NAPI thread " + std::to_string(pid));
      handoff_text = "GRO + threaded NAPI on " + sender_port + " (thread " + std::to_string(ours[0]) +
                     " pinned to CPU " + std::to_string(kReceiveCpu) +
                     "): the sender's veth transmit puts each frame on the port's ring (drops when full)";
    }
    if (isolated && !pin_to(kSenderCpu)) throw std::runtime_error("cannot pin the sender to CPU 0");
    UdpSocket sender(bed.host(kSenderHost), Testbed::ip(kSenderHost), 0);
    Receivers receivers(sockets, isolated ? kReceiveCpu : -1);
    InNetns in_sender(bed.host(kSenderHost));
    const int ifindex = static_cast<int>(if_nametoindex("eth0"));
    FanoutLoader fanout;  // loaded once; attached only while the eBPF arm runs
    fanout.set_members(kChannel, members);
    Bench bench{bed, sender, receivers, 2000, size, batch, fanout.program_fd()};
    bench.run(Mode::user);  // warm-up: ARP for every member, caches
    bench.messages = messages;
    bench.rate = rate;
    bench.gso_user = gso_mode != "none";
    bench.gso_ebpf = gso_mode == "both";

    const std::string load_before = load_average();
    std::printf("fan-out to %d members: %zu-byte UDP payload, %d messages per run, %d rounds, %d messages per flush "
                "(sendmmsg <= %d datagrams), offered %s\n",
                kMembers, std::max(size, size_t(TMC_DATA_HEADER_SIZE)), messages, rounds, batch, kSendmmsgLimit,
                rate > 0 ? (std::to_string(static_cast<long>(rate)) + " msg/s (paced per flush)").c_str()
                         : "as fast as the sender can");
    if (isolated)
      std::printf("layout: sender pinned to CPU %d, member threads to CPU %d; hand-off: %s; so the bridge, the "
                  "member veths, IP/UDP receive and the wake-ups run on CPU %d\n",
                  kSenderCpu, kReceiveCpu, handoff_text.c_str(), kReceiveCpu);
    else
      std::printf("layout: --handoff inline: no pinning, kernel defaults; each copy's bridge and receive work runs in "
                  "the sender's softirq, charged to the sender\n");
    std::printf("arms: user = 3 datagrams per message%s; ebpf = 1 datagram per message to members[0]%s; "
                "--gso %s (the engine sends GSO on both: on a fan-out channel only runs the program treats alike)\n",
                bench.gso_user ? ", as UDP GSO super-packets per member" : ", sendmmsg",
                bench.gso_ebpf ? ", as UDP GSO super-packets (the program copies them whole)" : ", sendmmsg",
                gso_mode.c_str());
    std::printf("definitions:\n"
                "  sender rate   = N / wall time of the sender's send loop (the fan-out mechanism's rate; every copy "
                "counted on the sender's eth0, tx_packets + tx_dropped; a GSO super-packet counts once)\n"
                "  sender CPU    = sender thread CPU time / N (syscalls, UDP/IP output or clone+rewrite, veth "
                "transmit%s)\n"
                "  receive CPU   = CPU %d busy time / (datagrams read by the member sockets / 3) (/proc/stat; bridge + "
                "member stacks + member threads, plus anything else the machine runs there)\n"
                "  delivered     = min over members of datagrams read from the member socket / (last arrival - "
                "start), and that count / N\n"
                "load average before: %s\n\n",
                isolated ? ", hand-off" : ", and every copy's bridge + receive stack", kReceiveCpu,
                load_before.c_str());

    std::vector<Mode> arms;
    if (only.empty() || only == "user") arms.push_back(Mode::user);
    if (only.empty() || only == "ebpf") arms.push_back(Mode::ebpf);
    std::vector<Result> results[2];
    const uint64_t errors_before = fanout.counters(kChannel).copy_errors;
    int completed = 0;
    for (int round = 0; round < rounds && !interrupted; round++) {
      for (size_t k = 0; k < arms.size(); k++) {
        const Mode mode = arms[(k + static_cast<size_t>(round)) % arms.size()];
        if (mode == Mode::ebpf) fanout.attach(ifindex);
        const Result r = bench.run(mode);
        if (mode == Mode::ebpf) fanout.detach();
        if (interrupted) break;  // a cut-short run is not reported
        results[static_cast<int>(mode)].push_back(r);
        std::printf("round %2d %-24s sender %8.0f msg/s %6.3f us/msg | receive CPU %6.3f us/msg | delivered %8.0f "
                    "msg/s (%5.1f%%) | wire %llu iface %llu/%llu/%llu socket %llu/%llu/%llu backlog-drop %llu "
                    "rcvbuf-err %llu\n",
                    round + 1, name_of(mode), r.sender_rate, r.sender_cpu_us, r.receive_cpu_us, r.delivered_rate,
                    r.delivered_fraction * 100, (unsigned long long)r.wire_copies,
                    (unsigned long long)r.member_interface[0], (unsigned long long)r.member_interface[1],
                    (unsigned long long)r.member_interface[2], (unsigned long long)r.member_socket[0],
                    (unsigned long long)r.member_socket[1], (unsigned long long)r.member_socket[2],
                    (unsigned long long)r.backlog_drops, (unsigned long long)r.rcvbuf_errors);
        std::fflush(stdout);
      }
      if (!interrupted) completed++;
    }
    for (auto& arm : results) arm.resize(std::min(arm.size(), static_cast<size_t>(completed)));
    if (interrupted) std::printf("interrupted: summarising the %d complete rounds\n", completed);
    if (completed == 0) return 1;  // the testbed and the loader still clean up on the way out
    rounds = completed;
    const uint64_t copy_errors = fanout.counters(kChannel).copy_errors - errors_before;
    const std::string load_after = load_average();

    auto column = [&](Mode mode, double Result::*field) {
      std::vector<double> values;
      for (const auto& r : results[static_cast<int>(mode)]) values.push_back(r.*field);
      return values;
    };
    if (!results[static_cast<int>(Mode::ebpf)].empty() && column(Mode::ebpf, &Result::program_ns)[0] > 0)
      std::printf("eBPF program run time (kernel.bpf_stats_enabled=1; includes the clones' nested transmit): %s "
                  "ns/msg\n",
                  format_spread(column(Mode::ebpf, &Result::program_ns), "%.0f").c_str());
    std::printf("\nper arm over %d rounds: median [min..max]\n", rounds);
    for (Mode mode : arms) {
      std::printf("  %-24s sender %s msg/s, sender CPU %s us/msg, receive CPU %s us/msg, delivered %s msg/s\n",
                  name_of(mode), format_spread(column(mode, &Result::sender_rate), "%.0f").c_str(),
                  format_spread(column(mode, &Result::sender_cpu_us), "%.3f").c_str(),
                  format_spread(column(mode, &Result::receive_cpu_us), "%.3f").c_str(),
                  format_spread(column(mode, &Result::delivered_rate), "%.0f").c_str());
    }
    if (arms.size() == 2) {
      const auto& e = results[static_cast<int>(Mode::ebpf)];
      const auto& u = results[static_cast<int>(Mode::user)];
      std::vector<double> rate, cpu, receive, delivered;
      int goal = 0;
      for (int round = 0; round < rounds; round++) {
        rate.push_back(e[round].sender_rate / u[round].sender_rate);
        cpu.push_back(u[round].sender_cpu_us / e[round].sender_cpu_us);
        if (u[round].receive_cpu_us > 0 && e[round].receive_cpu_us > 0)
          receive.push_back(u[round].receive_cpu_us / e[round].receive_cpu_us);
        delivered.push_back(e[round].delivered_rate / u[round].delivered_rate);
        if (rate.back() >= 1.5) goal++;
      }
      std::printf("\npaired ratios eBPF / user space, same round: median [min..max]\n");
      std::printf("  sender rate (msg/s)              %s   (>= 1.5x in %d of %d rounds)\n",
                  format_spread(rate, "%.2fx").c_str(), goal, rounds);
      std::printf("  messages per sender CPU-second   %s\n", format_spread(cpu, "%.2fx").c_str());
      if (!receive.empty())
        std::printf("  messages per receive CPU-second  %s\n", format_spread(receive, "%.2fx").c_str());
      std::printf("  delivered to all member sockets  %s\n", format_spread(delivered, "%.2fx").c_str());
    }
    std::printf("eBPF copy errors %llu; load average before %s, after %s\n", (unsigned long long)copy_errors,
                load_before.c_str(), load_after.c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tmc-fanout-bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
