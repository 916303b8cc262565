/* Early drop: structs shared by early_drop.bpf.c and tmc::bpf::EarlyDropLoader. */
#ifndef TMC_BPF_EARLY_DROP_H
#define TMC_BPF_EARLY_DROP_H

#ifndef __VMLINUX_H__
#include <linux/bpf.h> /* struct bpf_spin_lock */
#include <linux/types.h>
#endif

#define TMC_EARLY_DROP_MAX_SENDERS 65536
#define TMC_EARLY_DROP_MAX_CHANNELS 4096
#define TMC_EARLY_DROP_TRACKED_FRAGMENTS 64 /* fragments of the newest message tracked for duplicates */

/* Key of the hash `sender_state`: one fifo-drop-stale sequence space. */
struct tmc_sender_key {
  __u32 channel_id;
  __u32 sender_id;
  __u32 stream;
};

/* Newest message seen from the sender (by first-fragment sequence) and which of its fragments
 * arrived. Guarded by `lock` (several CPUs may receive the same sender). */
struct tmc_sender_state {
  struct bpf_spin_lock lock;
  __u32 epoch;
  __u64 message_start;     /* sequence of the newest message's first fragment */
  __u64 fragments_seen;    /* bit i: fragment i of that message arrived */
};

/* Value of the per-CPU hash `early_drop_counters`, keyed by channel id. */
struct tmc_early_drop_counters {
  __u64 passed;     /* drop-stale DATA packets passed to user space */
  __u64 duplicates; /* dropped: fragment of the newest message that already arrived */
  __u64 stale;      /* dropped: older message, or older epoch, than the newest seen */
  __u64 malformed;  /* TMC magic, invalid header: passed to user space to count and drop */
};

#endif /* TMC_BPF_EARLY_DROP_H */
