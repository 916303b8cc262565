// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Early drop (tc ingress): for fifo-drop-stale channels (DATA packets with
 * TMC_FLAG_DROP_STALE), drops duplicates and stale packets before they wake user space.
 *
 * State per (channel, sender, stream): the epoch and the newest message (first-fragment
 * sequence = sequence - fragment_index) with a bitmap of its fragments.
 *   older epoch, or message older than the newest          -> stale, dropped
 *   newest message, fragment already seen                  -> duplicate, dropped
 *   newer epoch (sender restarted) or newer message        -> state reset, passed
 * Everything else (other channels, other types, non-TMC) passes untouched; malformed TMC
 * packets are counted and passed so user space counts and drops them under its own policy.
 */
#include "vmlinux.h"

#include "early_drop.h"
#include "tmc_packet.bpf.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH); /* spin locks need HASH, not LRU: when full, new senders pass untracked */
  __uint(max_entries, TMC_EARLY_DROP_MAX_SENDERS);
  __type(key, struct tmc_sender_key);
  __type(value, struct tmc_sender_state);
} sender_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, TMC_EARLY_DROP_MAX_CHANNELS);
  __type(key, __u32);
  __type(value, struct tmc_early_drop_counters);
} early_drop_counters SEC(".maps");

enum verdict { VERDICT_PASS, VERDICT_DUPLICATE, VERDICT_STALE };

static __always_inline __u64 fragment_bit(__u32 index) {
  return index < TMC_EARLY_DROP_TRACKED_FRAGMENTS ? 1ULL << index : 0;
}

static __always_inline int judge(struct tmc_sender_state *state, const struct tmc_packet *pkt) {
  __u64 message_start = pkt->sequence - pkt->fragment_index;
  __u64 bit = fragment_bit(pkt->fragment_index);
  int verdict = VERDICT_PASS;
  bpf_spin_lock(&state->lock);
  if (pkt->epoch < state->epoch) {
    verdict = VERDICT_STALE;
  } else if (pkt->epoch > state->epoch || message_start > state->message_start) {
    state->epoch = pkt->epoch;
    state->message_start = message_start;
    state->fragments_seen = bit;
  } else if (message_start < state->message_start) {
    verdict = VERDICT_STALE;
  } else if (state->fragments_seen & bit) {
    verdict = VERDICT_DUPLICATE;
  } else {
    state->fragments_seen |= bit;
  }
  bpf_spin_unlock(&state->lock);
  return verdict;
}

SEC("tc")
int tmc_early_drop(struct __sk_buff *skb) {
  struct tmc_packet pkt = {};
  int result = tmc_parse(skb, &pkt);
  if (result == TMC_PARSE_NOT_TMC) return TC_ACT_UNSPEC;
  if (result == TMC_PARSE_OK && (pkt.type != TMC_TYPE_DATA || !(pkt.flags & TMC_FLAG_DROP_STALE)))
    return TC_ACT_UNSPEC;
  /* A GRO super-packet holds several TMC packets; judging it by the first would drop the
   * others with it. User space sees them all. */
  if (result == TMC_PARSE_OK && pkt.segments > 1) return TC_ACT_UNSPEC;

  struct tmc_early_drop_counters *counters = bpf_map_lookup_elem(&early_drop_counters, &pkt.channel_id);
  if (!counters) {
    struct tmc_early_drop_counters zero = {};
    bpf_map_update_elem(&early_drop_counters, &pkt.channel_id, &zero, BPF_NOEXIST);
    counters = bpf_map_lookup_elem(&early_drop_counters, &pkt.channel_id);
    if (!counters) return TC_ACT_UNSPEC;
  }
  if (result == TMC_PARSE_MALFORMED) {
    counters->malformed++;
    return TC_ACT_UNSPEC;
  }

  struct tmc_sender_key key = {.channel_id = pkt.channel_id, .sender_id = pkt.sender_id, .stream = pkt.stream};
  struct tmc_sender_state *state = bpf_map_lookup_elem(&sender_state, &key);
  if (!state) {
    struct tmc_sender_state fresh = {};
    fresh.epoch = pkt.epoch;
    fresh.message_start = pkt.sequence - pkt.fragment_index;
    fresh.fragments_seen = fragment_bit(pkt.fragment_index);
    if (bpf_map_update_elem(&sender_state, &key, &fresh, BPF_NOEXIST) == 0) {
      counters->passed++;
      return TC_ACT_UNSPEC;
    }
    state = bpf_map_lookup_elem(&sender_state, &key); /* another CPU inserted it first */
    if (!state) {
      counters->passed++;
      return TC_ACT_UNSPEC;
    }
  }
  int verdict = judge(state, &pkt);
  if (verdict == VERDICT_DUPLICATE) {
    counters->duplicates++;
    return TC_ACT_SHOT;
  }
  if (verdict == VERDICT_STALE) {
    counters->stale++;
    return TC_ACT_SHOT;
  }
  counters->passed++;
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
