// Helpers for the eBPF tests: skip where BPF is unavailable, run a tc program on a frame.
#pragma once

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstdint>
#include <string>

#include "packet_fixtures.h"
#include "tmc/bpf/error.h"

// Skips the test with the probe's one-line reason when BPF cannot be loaded here.
#define TMC_REQUIRE_BPF()                                          \
  do {                                                             \
    std::string why_unavailable;                                   \
    if (!tmc::bpf::available(&why_unavailable))                    \
      GTEST_SKIP() << "BPF unavailable: " << why_unavailable;      \
  } while (0)

namespace tmc::bpf::test {

// linux/pkt_cls.h verdicts as bpf_prog_test_run reports them (retval is a u32).
inline constexpr uint32_t kPass = static_cast<uint32_t>(-1);  // TC_ACT_UNSPEC: next filter / stack
inline constexpr uint32_t kDrop = 2;                          // TC_ACT_SHOT

struct RunResult {
  uint32_t retval = 0;
  Bytes output;
  __sk_buff context{};
};

// Runs tc program `prog_fd` on `frame` `repeat` times (bpf_prog_test_run_opts).
inline RunResult run_tc(int prog_fd, const Bytes& frame, uint32_t repeat = 1, __sk_buff context_in = {}) {
  RunResult result;
  result.output.resize(frame.size() + 256);
  bpf_test_run_opts opts{};
  opts.sz = sizeof opts;
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_out = result.output.data();
  opts.data_size_out = static_cast<uint32_t>(result.output.size());
  opts.ctx_in = &context_in;
  opts.ctx_size_in = sizeof context_in;
  opts.ctx_out = &result.context;
  opts.ctx_size_out = sizeof result.context;
  opts.repeat = repeat;
  int error = bpf_prog_test_run_opts(prog_fd, &opts);
  EXPECT_EQ(error, 0) << "bpf_prog_test_run_opts: " << std::strerror(errno);
  result.retval = opts.retval;
  result.output.resize(opts.data_size_out);
  return result;
}

}  // namespace tmc::bpf::test
