// `tmc stats --dev IFACE`: prints the per-channel counters the eBPF classifier
// (ebpf/bpf/classify.bpf.c) keeps on a network device, read through the tc filter's program,
// so the classifier may have been attached by any process (the engine, a test). Compiled
// against tmc_bpf when the build has it (TMC_HAVE_BPF), else it explains that it is missing.
#pragma once

#include <string>

namespace tmc::tool {

// Prints the counters of the classifier on `device` (a name in the caller's network
// namespace) to stdout, as a table or as Prometheus text. Returns the exit status: 0, or 1
// with one line on stderr when the device does not exist, no classifier is attached there, BPF
// is not permitted, or this tmc was built without eBPF support.
int print_kernel_stats(const std::string& device, bool prometheus);

}  // namespace tmc::tool
