// `tmc stats --dev IFACE` (see kernel_stats.h): formats ClassifierLoader::counters_on().
#include "kernel_stats.h"

#include <cstdio>

#ifdef TMC_HAVE_BPF
#include <net/if.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "tmc/bpf/classifier.h"
#endif

namespace tmc::tool {

#ifndef TMC_HAVE_BPF

int print_kernel_stats(const std::string& device, bool) {
  std::fprintf(stderr,
               "tmc stats: cannot read the kernel counters of %s: this tmc was built without eBPF support "
               "(configure found no clang/bpftool/libbpf/kernel BTF, or TMC_BPF=OFF)\n",
               device.c_str());
  return 1;
}

#else

namespace {

// Channel label: the decimal channel id, "unknown" for malformed packets too short to name one.
std::string channel_label(uint32_t channel_id) {
  return channel_id == bpf::kUnknownChannel ? "unknown" : std::to_string(channel_id);
}

void print_table(const std::string& device, const std::map<uint32_t, bpf::ChannelCounters>& counters) {
  std::printf("TMC classifier counters on %s\n", device.c_str());
  if (counters.empty()) {
    std::printf("(no TMC packet seen yet)\n");
    return;
  }
  std::printf("%-10s %-9s %12s %14s %10s %10s\n", "channel", "direction", "packets", "bytes", "malformed", "drops");
  for (const auto& [channel_id, both] : counters) {
    for (const auto& [direction, row] : {std::pair{"ingress", &both.ingress}, std::pair{"egress", &both.egress}}) {
      std::printf("%-10s %-9s %12" PRIu64 " %14" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n",
                  channel_label(channel_id).c_str(), direction, row->packets, row->bytes, row->malformed, row->drops);
    }
  }
}

// Prometheus text exposition format 0.0.4: one # HELP/# TYPE per metric family, then one
// sample per (channel, direction), labelled like the shim's tmc_shim_* metrics.
void print_prometheus(const std::string& device, const std::map<uint32_t, bpf::ChannelCounters>& counters) {
  struct Family {
    const char* name;
    const char* help;
    uint64_t bpf::DirectionCounters::*field;
  };
  static const Family kFamilies[] = {
      {"tmc_kernel_packets_total", "Valid TMC packets seen by the eBPF classifier", &bpf::DirectionCounters::packets},
      {"tmc_kernel_bytes_total", "Bytes of those packets from the Ethernet header on", &bpf::DirectionCounters::bytes},
      {"tmc_kernel_malformed_total", "Packets with the TMC magic and an invalid header (passed to user space)",
       &bpf::DirectionCounters::malformed},
      {"tmc_kernel_drops_total", "Packets dropped by the channel's class", &bpf::DirectionCounters::drops},
  };
  for (const auto& family : kFamilies) {
    std::printf("# HELP %s %s\n# TYPE %s counter\n", family.name, family.help, family.name);
    for (const auto& [channel_id, both] : counters) {
      for (const auto& [direction, row] : {std::pair{"ingress", &both.ingress}, std::pair{"egress", &both.egress}}) {
        // Device names hold no '"' or '\\' (the kernel refuses '/', ':' and whitespace too).
        std::printf("%s{device=\"%s\",channel=\"%s\",direction=\"%s\"} %" PRIu64 "\n", family.name, device.c_str(),
                    channel_label(channel_id).c_str(), direction, row->*family.field);
      }
    }
  }
}

}  // namespace

int print_kernel_stats(const std::string& device, bool prometheus) {
  unsigned ifindex = if_nametoindex(device.c_str());
  if (ifindex == 0) {
    std::fprintf(stderr, "tmc stats: no network device '%s' in this network namespace (%s)\n", device.c_str(),
                 std::strerror(errno));
    return 1;
  }
  std::map<uint32_t, bpf::ChannelCounters> counters;
  try {
    counters = bpf::ClassifierLoader::counters_on(static_cast<int>(ifindex));
  } catch (const bpf::Error& error) {
    if (error.error_code() == ENOENT) {
      std::fprintf(stderr,
                   "tmc stats: no TMC classifier is attached to %s (nothing counts TMC packets there; the engine or "
                   "tmc::bpf::ClassifierLoader attaches it)\n",
                   device.c_str());
    } else {
      std::fprintf(stderr, "tmc stats: cannot read the classifier counters on %s: %s\n", device.c_str(), error.what());
    }
    return 1;
  }
  if (prometheus) {
    print_prometheus(device, counters);
  } else {
    print_table(device, counters);
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

#endif

}  // namespace tmc::tool
