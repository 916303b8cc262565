// tmc::bpf::ClassifierLoader — recognises TMC packets on an interface, counts them per
// channel and direction, and gives a channel a class (skb priority / DSCP) on egress
// (bpf/classify.bpf.c). `tmc stats --dev IFACE` prints counters_on(ifindex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>

#include "tmc/bpf/error.h"
#include "tmc/bpf/tc_attachment.h"

struct tmc_classify_bpf;

namespace tmc::bpf {

// Channel id under which malformed packets too short to name a channel are counted.
inline constexpr uint32_t kUnknownChannel = 0xFFFFFFFFu;

struct ChannelClass {
  std::optional<uint32_t> priority;  // skb->priority on egress (e.g. 6 = TC_PRIO_INTERACTIVE)
  std::optional<uint8_t> dscp;       // 0..63 written into the IPv4 header (46 = EF, RFC 3246)
  bool drop = false;                 // drop the channel's egress packets (counted as drops)
};

struct DirectionCounters {
  uint64_t packets = 0;    // valid TMC packets
  uint64_t bytes = 0;      // their bytes from the Ethernet header on
  uint64_t malformed = 0;  // TMC magic with an invalid header (passed on to user space)
  uint64_t drops = 0;      // dropped by the channel's class
};

struct ChannelCounters {
  DirectionCounters ingress;
  DirectionCounters egress;
};

class ClassifierLoader {
 public:
  ClassifierLoader();  // loads; Error when BPF is unavailable
  ~ClassifierLoader();
  ClassifierLoader(ClassifierLoader&&) noexcept;
  ClassifierLoader& operator=(ClassifierLoader&&) noexcept;

  // Attaches to ingress and egress of ifindex (detached on destruction).
  void attach(int ifindex);
  void detach() noexcept;

  void set_channel_class(uint32_t channel_id, const ChannelClass& channel_class);
  void clear_channel_class(uint32_t channel_id);

  ChannelCounters counters(uint32_t channel_id) const;  // zeros for a channel never seen
  std::map<uint32_t, ChannelCounters> all_counters() const;

  int program_fd(Direction direction) const;

  // Counters of the classifier attached to ifindex by another process (e.g. the engine), read
  // through the tc filter's program: what `tmc stats` prints. Error (ENOENT) when none.
  static std::map<uint32_t, ChannelCounters> counters_on(int ifindex);

 private:
  struct SkeletonDeleter {
    void operator()(tmc_classify_bpf* skeleton) const noexcept;
  };
  std::unique_ptr<tmc_classify_bpf, SkeletonDeleter> skeleton_;
  TcAttachment ingress_;
  TcAttachment egress_;
};

}  // namespace tmc::bpf
