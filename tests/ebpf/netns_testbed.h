// Network-namespace testbed for the eBPF tests: N hosts (one netns each, eth0 =
// 10.77.0.<i+1>/24 and, when asked, fd00:77::<i+1>/64; MAC 02:00:00:00:00:<i+1>) on a Linux
// bridge in its own netns. Names carry
// the pid and a counter, so ctest may run tests in parallel; the destructor deletes every
// namespace it created (with them their veths, bridge, tc filters and BPF programs), also when
// the test failed. Only addresses the testbed creates are ever used.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace tmc::bpf::test {

// Runs a shell command; returns its exit status and (if given) its stdout+stderr.
inline int run_command(const std::string& command, std::string* output = nullptr) {
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return -1;
  std::string text;
  char buffer[512];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
  int status = pclose(pipe);
  if (output) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline void must(const std::string& command) {
  std::string output;
  if (run_command(command, &output) != 0) throw std::runtime_error("'" + command + "' failed: " + output);
}

// Enters a named netns for the calling thread until destroyed.
class InNetns {
 public:
  explicit InNetns(const std::string& name) {
    saved_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (saved_ < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
      if (target >= 0) close(target);
      throw std::runtime_error("cannot enter netns " + name);
    }
    close(target);
  }
  ~InNetns() {
    setns(saved_, CLONE_NEWNET);
    close(saved_);
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  int saved_ = -1;
};

class Testbed {
 public:
  explicit Testbed(int hosts, bool ipv6 = false) {
    static int counter = 0;
    prefix_ = "tmce" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    try {
      bridge_ns_ = prefix_ + "br";
      must("ip netns add " + bridge_ns_);
      namespaces_.push_back(bridge_ns_);
      must("ip -n " + bridge_ns_ + " link add br0 type bridge");
      must("ip -n " + bridge_ns_ + " link set br0 up");
      for (int i = 0; i < hosts; i++) {
        std::string ns = prefix_ + "h" + std::to_string(i);
        must("ip netns add " + ns);
        namespaces_.push_back(ns);
        hosts_.push_back(ns);
        std::string port = "p" + std::to_string(i);
        must("ip -n " + bridge_ns_ + " link add " + port + " type veth peer name eth0 netns " + ns);
        must("ip -n " + bridge_ns_ + " link set " + port + " master br0 up");
        must("ip -n " + ns + " link set eth0 address " + mac(i));
        must("ip -n " + ns + " addr add " + ip(i) + "/24 dev eth0");
        if (ipv6) must("ip -n " + ns + " addr add " + ip6(i) + "/64 dev eth0 nodad");  // usable at once
        must("ip -n " + ns + " link set eth0 up");
        must("ip -n " + ns + " link set lo up");
      }
    } catch (...) {
      remove();
      throw;
    }
  }
  ~Testbed() { remove(); }
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;

  const std::string& host(int i) const { return hosts_.at(i); }
  const std::string& bridge() const { return bridge_ns_; }  // the netns holding br0 and the ports p<i>
  static std::string ip(int i) { return "10.77.0." + std::to_string(i + 1); }
  static std::string ip6(int i) { return "fd00:77::" + std::to_string(i + 1); }
  static std::string mac(int i) {
    char text[32];
    std::snprintf(text, sizeof text, "02:00:00:00:00:%02x", i + 1);
    return text;
  }

 private:
  void remove() noexcept {
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) run_command("ip netns del " + *it);
    namespaces_.clear();
  }
  std::string prefix_;
  std::string bridge_ns_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> hosts_;
};

}  // namespace tmc::bpf::test
