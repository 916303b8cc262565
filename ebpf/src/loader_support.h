// Internal helpers shared by the loaders: libbpf logging, errors, per-CPU map reads.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tmc/bpf/error.h"

namespace tmc::bpf::detail {

// Routes libbpf's messages (verifier logs included) to spdlog at debug level, so loaders
// are quiet by default and TMC_LOG=debug shows why a load failed. Idempotent.
void install_libbpf_logging();

// Throws Error("tmc::bpf: <what>: <strerror>" + a privilege hint for EPERM/EACCES).
// `error` may be negative (libbpf style) or positive.
[[noreturn]] void fail(const std::string& what, int error);

// errno after a libbpf call that returned NULL (skeleton open/load), never 0.
inline int error_from_errno() { return errno ? errno : EINVAL; }

int possible_cpus();

// Sums a per-CPU map value made of uint64_t counters (value_size bytes per CPU). Returns
// false when the key is absent.
bool sum_percpu_counters(int map_fd, const void* key, size_t value_size, uint64_t* out_counters);

// The fd of the map named `map_name` used by program `prog_id`, or throws. Caller closes it.
int map_fd_of_program(uint32_t prog_id, const std::string& map_name);

}  // namespace tmc::bpf::detail
