// libtmc_shim.so's process setup: runs before main(). Loads the policy ($TMC_POLICY, else
// $TMC_POLICY_DIR/<program>.yaml); a malformed or missing-but-named policy prints
// "FILE:LINE:COL: message" and exits 78 before main — never a silent fallback to TCP.
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef TMC_SHIM_LOOPBACK_CHANNELS
// Test-only build (tests/shim): channels are an in-process hub, so both ends must live in one
// process. Lets the interposition layer be exercised without the engine.
#include "shim/loopback_channel.h"
#else
#include "core/engine_port.h"
#endif
#include "core/guard.h"
#include "core/real.h"
#include "core/socket_ops.h"
#include "core/stats_server.h"
#include "policy/policy.h"
#include "tmc/manifest_yaml.h"

namespace tmc::shim {
namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG, as `tmc policy check`

[[noreturn]] void refuse(const std::string& message) {
  std::string line = message + "\n";
  ssize_t ignored = TMC_REAL(write)(2, line.data(), line.size());
  (void)ignored;
  ::_exit(kExitConfig);
}

void child_after_fork() {
  after_fork_child();  // the stats server and bridge restart lazily in the child
}

std::chrono::milliseconds connect_timeout() {
  if (const char* value = std::getenv("TMC_CONNECT_TIMEOUT_MS"); value && *value) {
    long milliseconds = std::strtol(value, nullptr, 10);
    if (milliseconds > 0) return std::chrono::milliseconds(milliseconds);
  }
  return std::chrono::milliseconds(10000);
}

}  // namespace
}  // namespace tmc::shim

__attribute__((constructor(101))) static void tmc_shim_start() {
  using namespace tmc::shim;
  int saved_errno = errno;
  ShimScope scope;
  real::resolve();
  ops::remember_environment();
  std::string program = program_invocation_short_name ? program_invocation_short_name : "";
  std::string error;
  std::string path = locate_policy(program, &error);
  if (!error.empty()) refuse(error);
  if (path.empty()) {
    errno = saved_errno;
    return;  // no policy for this program: every socket passes through
  }
  tmc::shim::Policy* policy = nullptr;
  try {
    policy = new tmc::shim::Policy(load_policy_file(path));
  } catch (const tmc::ConfigError& failure) {
    refuse(failure.what());
  } catch (const std::exception& failure) {
    refuse(path + ":0:0: " + failure.what());
  }
  ShimConfig configuration;
  configuration.policy = policy;
  configuration.program = program;
  configuration.make_factory = []() -> std::shared_ptr<ChannelFactory> {
    start_stats_server();
#ifdef TMC_SHIM_LOOPBACK_CHANNELS
    static auto* hub = new std::shared_ptr<testing::LoopbackHub>([] {
      auto created = std::make_shared<testing::LoopbackHub>();
      created->refuse_unbound = true;  // closed ports refuse, as with the engine
      return created;
    }());
    return std::make_shared<testing::LoopbackFactory>(*hub);
#else
    return make_engine_factory();
#endif
  };
  configuration.bridge_options.connect_timeout = connect_timeout();
  if (const char* value = std::getenv("TMC_SHIM_MAX_OUTSTANDING"); value && *value) {
    configuration.bridge_options.max_outstanding_bytes = std::strtoull(value, nullptr, 10);
  }
  if (const char* value = std::getenv("TMC_SHIM_DIRECT_BULK"); value && *value) {
    configuration.bridge_options.direct_bulk = std::strcmp(value, "0") != 0;
  }
  configure(std::move(configuration));
  ::pthread_atfork(before_fork, after_fork_parent, child_after_fork);
  errno = saved_errno;
}
