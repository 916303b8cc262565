/* The eBPF fan-out's packet rule, in ONE place for both sides (docs/ebpf.md "Fan-out"):
 * ebpf/bpf/fanout.bpf.c (tmc_fanout) applies it to the first TMC header of each skb it sees,
 * the engine (transport/kernel_fanout.cpp, fanout_gso_class) to each datagram it queues, so
 * that a UDP GSO super-packet only ever holds datagrams the program treats alike — the program
 * judges and clones a super-packet by its first header.
 *
 * A packet is fanned out exactly when all of these hold:
 *   1. it is a valid TMC packet of a channel registered in the program's map (the engine's own
 *      packets are valid; the engine checks the magic and the channel id),
 *   2. tmc_fanout_header_eligible(type, flags, stream) below,
 *   3. its destination is the channel's members[0] (address and port).
 * Change the rule here and in the destination/channel checks on both sides together.
 *
 * Contract: C, no includes beyond wire_format.h, usable next to vmlinux.h (BPF) and from C++. */
#ifndef TMC_FANOUT_RULE_H
#define TMC_FANOUT_RULE_H

#include "tmc/wire_format.h"

/* Group-stream DATA or SEQUENCE, not a retransmission (repairs are unicast to the member that
 * lost them; stream 0 is point-to-point). */
static inline int tmc_fanout_header_eligible(unsigned type, unsigned flags, unsigned stream) {
  return (type == TMC_TYPE_DATA || type == TMC_TYPE_SEQUENCE) && stream != 0 && !(flags & TMC_FLAG_RETRANSMIT);
}

#endif /* TMC_FANOUT_RULE_H */
