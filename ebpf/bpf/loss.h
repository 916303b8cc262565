/* Loss injector: structs shared by loss.bpf.c and its loader (src/loss_injector.cpp). */
#ifndef TMC_BPF_LOSS_H
#define TMC_BPF_LOSS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TMC_LOSS_MAX_PORTS 16

/* Probabilities are fixed point: P * 2^32, so 1.0 == 1ULL << 32 (a __u64 holds it). */
#define TMC_LOSS_ONE (1ULL << 32)

/* Value of the single-entry per-CPU array `loss_stats`. */
struct tmc_loss_stats {
  __u64 seen;    /* packets eligible for loss (IP, not ICMPv6, port filter matched) */
  __u64 dropped; /* of those, dropped */
};

/* Value of the single-entry array `loss_state`: the interface's random stream and
 * Gilbert–Elliott channel state. */
struct tmc_loss_state {
  __u64 random_state; /* xorshift64* state; 0 = not seeded yet */
  __u32 in_bad_state; /* Gilbert–Elliott: 1 while in the bad (bursty) state */
  __u32 pad;
};

#endif /* TMC_BPF_LOSS_H */
