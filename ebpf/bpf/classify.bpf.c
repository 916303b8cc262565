// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Classifier (tc ingress and egress): recognises TMC packets by their common header, counts
 * them per (channel, direction) and, on egress, applies the channel's class: skb->priority
 * (which the egress qdisc's bands use) and the DSCP (IPv4 TOS / IPv6 traffic class), so a latency-sensitive channel can
 * jump queues here and on DSCP-aware hops. Non-TMC packets pass untouched; malformed TMC
 * packets are counted and passed on, so user space counts and drops them (it owns the policy).
 */
#include "vmlinux.h"

#include "classify.h"
#include "tmc_packet.bpf.h"

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 2 * TMC_CLASSIFY_MAX_CHANNELS);
  __type(key, struct tmc_counter_key);
  __type(value, struct tmc_channel_counters);
} channel_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TMC_CLASSIFY_MAX_CHANNELS);
  __type(key, __u32);
  __type(value, struct tmc_channel_class);
} channel_classes SEC(".maps");

static __always_inline struct tmc_channel_counters *counters_for(__u32 channel_id, __u32 direction) {
  struct tmc_counter_key key = {.channel_id = channel_id, .direction = direction};
  struct tmc_channel_counters *counters = bpf_map_lookup_elem(&channel_counters, &key);
  if (counters) return counters;
  struct tmc_channel_counters zero = {};
  bpf_map_update_elem(&channel_counters, &key, &zero, BPF_NOEXIST); /* fails when full: not counted */
  return bpf_map_lookup_elem(&channel_counters, &key);
}

/* IPv6: the traffic class straddles bytes 0-1 (version:4 | class:8 | flow label:20, RFC 8200
 * §3); there is no header checksum and the UDP pseudo header does not cover the class. */
static __always_inline int set_traffic_class(struct __sk_buff *skb, struct tmc_packet *pkt, __u8 new_class) {
  __u8 first[2];
  if (bpf_skb_load_bytes(skb, pkt->ip_offset, first, 2) < 0) return -1;
  first[0] = (first[0] & 0xF0) | (new_class >> 4);
  first[1] = (__u8)(new_class << 4) | (first[1] & 0x0F);
  return bpf_skb_store_bytes(skb, pkt->ip_offset, first, 2, 0);
}

static __always_inline int set_dscp(struct __sk_buff *skb, struct tmc_packet *pkt, __u8 dscp) {
  __u8 old_tos = pkt->tos;
  __u8 new_tos = (__u8)((dscp & 0x3F) << 2) | (old_tos & 0x3);
  if (new_tos == old_tos) return 0;
  if (pkt->ip_version == 6) return set_traffic_class(skb, pkt, new_tos);
  /* The checksum is over 16-bit words: (version/ihl, tos) is the first one (RFC 1624 update). */
  __u8 version_ihl = 0;
  if (bpf_skb_load_bytes(skb, pkt->ip_offset, &version_ihl, 1) < 0) return -1;
  __be16 old_word = bpf_htons(((__u16)version_ihl << 8) | old_tos);
  __be16 new_word = bpf_htons(((__u16)version_ihl << 8) | new_tos);
  if (bpf_l3_csum_replace(skb, pkt->ip_offset + offsetof(struct iphdr, check), old_word, new_word, 2) < 0)
    return -1;
  return bpf_skb_store_bytes(skb, pkt->ip_offset + offsetof(struct iphdr, tos), &new_tos, 1, 0);
}

static __always_inline int classify(struct __sk_buff *skb, __u32 direction) {
  struct tmc_packet pkt = {};
  int result = tmc_parse(skb, &pkt);
  if (result == TMC_PARSE_NOT_TMC) return TC_ACT_UNSPEC;
  struct tmc_channel_counters *counters = counters_for(pkt.channel_id, direction);
  if (result == TMC_PARSE_MALFORMED) {
    if (counters) counters->malformed++;
    return TC_ACT_UNSPEC;
  }
  if (direction == TMC_DIRECTION_EGRESS) {
    struct tmc_channel_class *class = bpf_map_lookup_elem(&channel_classes, &pkt.channel_id);
    if (class) {
      if (class->flags & TMC_CLASS_DROP) {
        if (counters) counters->drops++;
        return TC_ACT_SHOT;
      }
      if (class->flags & TMC_CLASS_SET_PRIORITY) skb->priority = class->priority;
      if (class->flags & TMC_CLASS_SET_DSCP) set_dscp(skb, &pkt, class->dscp);
    }
  }
  if (counters) {
    counters->packets += pkt.segments;
    counters->bytes += skb->len;
  }
  return TC_ACT_UNSPEC;
}

SEC("tc")
int tmc_classify_ingress(struct __sk_buff *skb) { return classify(skb, TMC_DIRECTION_INGRESS); }

SEC("tc")
int tmc_classify_egress(struct __sk_buff *skb) { return classify(skb, TMC_DIRECTION_EGRESS); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
