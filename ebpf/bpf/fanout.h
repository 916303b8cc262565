/* Fan-out: structs shared by fanout.bpf.c and tmc::bpf::FanoutLoader. */
#ifndef TMC_BPF_FANOUT_H
#define TMC_BPF_FANOUT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TMC_FANOUT_MAX_MEMBERS 16
#define TMC_FANOUT_MAX_CHANNELS 1024

/* skb->mark bit set on clones while the program emits them, so a clone that re-enters the
 * egress hook is never fanned out again (restored on the original before it leaves). */
#define TMC_FANOUT_MARK 0x80000000u

struct tmc_fanout_member {
  __be32 ipv4;  /* network order; IPv4 members */
  __be16 port;  /* network order */
  __u8 mac[6];  /* next-hop MAC: the member's on a shared L2, else the gateway's */
  __u8 family;  /* 4 or 6: every member of a channel has the same family */
  __u8 pad[3];
  __be32 ipv6[4]; /* network order; IPv6 members */
};

/* Value of the hash `fanout_channels`, keyed by channel id. The engine sends one packet to
 * members[0] (its address and port); the program emits copies to members[0..count-2] and rewrites the
 * original for members[count-1]. */
struct tmc_fanout_channel {
  __u32 count; /* 1..TMC_FANOUT_MAX_MEMBERS */
  __u32 pad;
  struct tmc_fanout_member members[TMC_FANOUT_MAX_MEMBERS];
};

/* Value of the per-CPU hash `fanout_counters`, keyed by channel id. */
struct tmc_fanout_counters {
  __u64 fanned_out;   /* packets sent once by the engine and fanned out */
  __u64 copies;       /* copies emitted with bpf_clone_redirect (count - 1 per packet) */
  __u64 copy_errors;  /* members a copy failed for (clone or rewrite error) */
};

#endif /* TMC_BPF_FANOUT_H */
