// `tmc sequencer` as a process: spawned by pid with the manifest and capabilities files of two
// channels (a, b) in this test process; they send concurrently, it stamps, both deliver the
// identical sequence; SIGTERM stops it (exit 0) and it reports what it stamped. The process is
// killed on every path out of the test (ProcessGuard). Usage errors exit 2, bad files 78.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tmc/channel.h"
#include "tmc/manifest_yaml.h"

extern char** environ;

namespace tmc {
namespace {

using namespace std::chrono_literals;

// A child process with its stdout+stderr on a pipe; killed (SIGKILL) and reaped unless the test
// stopped it itself.
struct ProcessGuard {
  pid_t pid = -1;
  int output = -1;
  std::string text;

  explicit ProcessGuard(std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    output = fds[0];
  }
  ~ProcessGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (output >= 0) ::close(output);
  }
  // Reads output until it contains `pattern` or `limit` passes.
  bool read_until(const std::string& pattern, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (text.find(pattern) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd ready{output, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t got = ::read(output, buffer, sizeof buffer);
      if (got <= 0) return text.find(pattern) != std::string::npos;
      text.append(buffer, static_cast<std::size_t>(got));
    }
    return true;
  }
  // SIGTERM, then the exit status (-1 when it did not exit within `limit`).
  int stop(std::chrono::milliseconds limit) {
    ::kill(pid, SIGTERM);
    return wait(limit);
  }
  int wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        read_until("\x01", 200ms);  // the rest of its output (EOF ends the read)
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
};

// `count` distinct UDP ports free at the moment (all bound at once, read, then closed).
std::vector<std::uint16_t> free_udp_ports(int count) {
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ports.push_back(ntohs(address.sin_port));
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/tmc-sequencer-tool.XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(path + "/" + name) << text;
    return path + "/" + name;
  }
};

TEST(ToolSequencer, StampsForTwoChannelsAndStopsOnSigterm) {
  TempDir dir;
  const auto ports = free_udp_ports(3);
  const std::string a = "127.0.0.1:" + std::to_string(ports[0]);
  const std::string b = "127.0.0.1:" + std::to_string(ports[1]);
  const std::string sequencer = "127.0.0.1:" + std::to_string(ports[2]);
  const std::string manifest_path = dir.write("manifest.yaml",
                                              "channel: tool-sequencer\n"
                                              "multicast:\n  members:\n"
                                              "    - {name: a, address: \"" + a + "\"}\n"
                                              "    - {name: b, address: \"" + b + "\"}\n"
                                              "ordering: total\nreliability: all\nerror_checking: crc32c\n");
  const std::string caps_path = dir.write("caps.yaml", "sequencer: \"" + sequencer + "\"\n");

  ProcessGuard process({TMC_TOOL, "sequencer", "--manifest", manifest_path, "--capabilities", caps_path});
  ASSERT_GT(process.pid, 0);
  ASSERT_TRUE(process.read_until("listening on " + sequencer, 20s)) << process.text;

  {
    ProcessGuard second({TMC_TOOL, "sequencer", "--manifest", manifest_path, "--capabilities", caps_path});
    EXPECT_EQ(second.wait(10s), 1) << "a second sequencer on the same address is refused: " << second.text;
    EXPECT_NE(second.text.find("another sequencer running there?"), std::string::npos) << second.text;
  }

  const Manifest manifest = load_manifest_file(manifest_path);
  auto capabilities = std::make_shared<Capabilities>(load_capabilities_file(caps_path));
  Channel channel_a(manifest, {.self = "a", .capabilities = capabilities});
  Channel channel_b(manifest, {.self = "b", .capabilities = capabilities});
  EXPECT_NE(channel_a.plan().find("ordering: total (dedicated sequencer " + sequencer + ")"), std::string::npos)
      << channel_a.plan();
  struct Seen {
    std::mutex mutex;
    std::vector<std::string> texts;
  } seen[2];
  Channel* channels[2] = {&channel_a, &channel_b};
  for (int i = 0; i < 2; ++i)
    channels[i]->on_message([&seen, i](Message message) {
      std::lock_guard lock(seen[i].mutex);
      seen[i].texts.push_back(std::to_string(message.group_sequence.value_or(~0ull)) + "=" +
                              std::string(reinterpret_cast<const char*>(message.payload.data()), message.payload.size()));
    });
  constexpr int kPerSender = 500;
  std::vector<std::thread> senders;
  for (int i = 0; i < 2; ++i)
    senders.emplace_back([&, i] {
      for (int k = 0; k < kPerSender; ++k) channels[i]->send(std::string(1, "ab"[i]) + ":" + std::to_string(k));
    });
  for (auto& thread : senders) thread.join();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  auto count = [&](int i) {
    std::lock_guard lock(seen[i].mutex);
    return seen[i].texts.size();
  };
  while ((count(0) < 2 * kPerSender || count(1) < 2 * kPerSender) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  {
    std::lock_guard lock_a(seen[0].mutex), lock_b(seen[1].mutex);
    ASSERT_EQ(seen[0].texts.size(), 2u * kPerSender) << process.text;
    EXPECT_EQ(seen[0].texts, seen[1].texts) << "a and b deliver the identical sequence";
  }
  for (Channel* channel : channels) {
    const Stats stats = channel->stats();
    EXPECT_EQ(stats.sequencer, sequencer) << "the process sequenced throughout";
    EXPECT_EQ(stats.messages_stamped, 0u);
  }
  EXPECT_EQ(process.stop(10s), 0) << process.text;
  EXPECT_NE(process.text.find("stamped " + std::to_string(2 * kPerSender) + " messages"), std::string::npos) << process.text;
}

TEST(ToolSequencer, BadArgumentsAndFilesExitWithTheirStatus) {
  TempDir dir;
  {
    ProcessGuard process({TMC_TOOL, "sequencer"});
    EXPECT_EQ(process.wait(10s), 2) << "no manifest: usage";
  }
  {
    ProcessGuard process({TMC_TOOL, "sequencer", "--help"});
    EXPECT_EQ(process.wait(10s), 0);
    EXPECT_NE(process.text.find("usage: tmc sequencer"), std::string::npos) << process.text;
  }
  const std::string manifest = dir.write("manifest.yaml",
                                         "channel: x\nmulticast:\n  members:\n    - {name: a, address: \"127.0.0.1:1\"}\n"
                                         "ordering: total\n");
  {
    const std::string caps = dir.write("member.yaml", "sequencer: a\n");
    ProcessGuard process({TMC_TOOL, "sequencer", "--manifest", manifest, "--capabilities", caps});
    EXPECT_EQ(process.wait(10s), 78);
    EXPECT_NE(process.text.find("sequencer 'a' is not a host:port address"), std::string::npos) << process.text;
  }
  {
    const std::string bad = dir.write("bad.yaml", "channel: x\nordering: sideways\n");
    ProcessGuard process({TMC_TOOL, "sequencer", "--manifest", bad, "--listen", "127.0.0.1:0"});
    EXPECT_EQ(process.wait(10s), 78);
    EXPECT_NE(process.text.find("bad.yaml:2:"), std::string::npos) << process.text;
  }
  {
    const std::string unordered = dir.write("unordered.yaml", "channel: x\n");
    ProcessGuard process({TMC_TOOL, "sequencer", "--manifest", unordered, "--listen", "127.0.0.1:0"});
    EXPECT_EQ(process.wait(10s), 78);
    EXPECT_NE(process.text.find("ordering is total"), std::string::npos) << process.text;
  }
}

}  // namespace
}  // namespace tmc
