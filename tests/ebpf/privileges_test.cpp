// Where BPF is not permitted (an unprivileged user), loaders and tmc-loss fail with one clear
// message, and the probe says why.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf_test_support.h"
#include "netns_testbed.h"
#include "tmc/bpf/classifier.h"
#include "tmc/bpf/early_drop.h"
#include "tmc/bpf/fanout.h"
#include "tmc/bpf/loss_injector.h"

namespace tmc::bpf::test {
namespace {

constexpr uid_t kNobody = 65534;

TEST(PrivilegesTest, ProbeSucceedsWhereBpfWorks) {
  std::string why;
  bool ok = available(&why);
  if (!ok) GTEST_SKIP() << "BPF unavailable: " << why;
  EXPECT_TRUE(why.empty());
}

// Runs `body` in a child process that dropped root; the child's exit code is body's result.
int as_nobody(const std::function<int()>& body) {
  pid_t child = fork();
  if (child == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0)
      _exit(90);
    _exit(body());
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 91;
}

TEST(PrivilegesTest, UnprivilegedLoadsFailWithOneClearMessage) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to an unprivileged user";
  std::string why;
  if (!available(&why)) GTEST_SKIP() << "BPF unavailable even as root: " << why;
  // 0: as expected; 1..: which expectation failed.
  int result = as_nobody([] {
    std::string reason;
    if (available(&reason)) return 10;  // unprivileged BPF allowed here: nothing to check
    if (reason.find("not permitted") == std::string::npos) return 1;
    auto check = [](auto&& construct) {
      try {
        construct();
        return 2;
      } catch (const Error& error) {
        if (!error.not_permitted()) return 3;
        if (std::string(error.what()).find("BPF is not permitted here") == std::string::npos) return 4;
        return 0;
      }
    };
    if (int r = check([] { ClassifierLoader loader; })) return r;
    if (int r = check([] { FanoutLoader loader; })) return r + 10;
    if (int r = check([] { EarlyDropLoader loader; })) return r + 20;
    if (int r = check([] { LossInjector loader{LossConfig{}}; })) return r + 30;
    return 0;
  });
  if (result == 10) GTEST_SKIP() << "unprivileged BPF is enabled on this kernel";
  EXPECT_EQ(result, 0) << "see the codes in the test";
}

TEST(PrivilegesTest, TmcLossAsAnUnprivilegedUserSaysSo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to an unprivileged user";
  std::string why;
  if (!available(&why)) GTEST_SKIP() << "BPF unavailable even as root: " << why;
  Testbed bed(1);  // inside a private netns, so nothing else is touched even if it succeeded
  std::string output;
  int code = run_command("ip netns exec " + bed.host(0) + " setpriv --reuid=65534 --regid=65534 --clear-groups " +
                             std::string(TMC_LOSS_CLI) + " attach --dev eth0 --rate 0.1",
                         &output);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("not permitted"), std::string::npos) << output;
  // One line, not a libbpf log.
  EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
}

}  // namespace
}  // namespace tmc::bpf::test
