/* Classifier: structs shared by classify.bpf.c and tmc::bpf::ClassifierLoader. */
#ifndef TMC_BPF_CLASSIFY_H
#define TMC_BPF_CLASSIFY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TMC_CLASSIFY_MAX_CHANNELS 4096
#define TMC_DIRECTION_INGRESS 0
#define TMC_DIRECTION_EGRESS 1

/* Key of the per-CPU hash `channel_counters`. */
struct tmc_counter_key {
  __u32 channel_id; /* TMC_CHANNEL_UNKNOWN (0xFFFFFFFF) for packets too short to name one */
  __u32 direction;  /* TMC_DIRECTION_* */
};

struct tmc_channel_counters {
  __u64 packets;   /* valid TMC packets (each segment of a UDP GSO/GRO super-packet counts) */
  __u64 bytes;     /* their length from the Ethernet header on */
  __u64 malformed; /* TMC magic but invalid header; passed on for user space to count and drop */
  __u64 drops;     /* dropped by the channel's class (class flag TMC_CLASS_DROP) */
};

#define TMC_CLASS_SET_PRIORITY 0x1u /* write skb->priority */
#define TMC_CLASS_SET_DSCP 0x2u     /* rewrite the IPv4 DSCP (ECN bits kept, RFC 2474 section 3) */
#define TMC_CLASS_DROP 0x4u         /* drop the channel's packets on egress (isolate a channel) */

/* Value of the hash `channel_classes`, keyed by channel id; applied on egress only. */
struct tmc_channel_class {
  __u32 flags;    /* TMC_CLASS_* */
  __u32 priority; /* skb->priority, e.g. TC_PRIO_INTERACTIVE (6) for a latency-sensitive channel */
  __u8 dscp;      /* 0..63, e.g. 46 = EF (RFC 3246) */
  __u8 pad[3];
};

#endif /* TMC_BPF_CLASSIFY_H */
