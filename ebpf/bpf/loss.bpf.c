// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Loss injector (tc, attached to an interface's INGRESS by tmc-loss / tmc::bpf::LossInjector).
 *
 * Drops IP packets at random: Bernoulli loss at `loss_rate`, or, when `gilbert` is set, the
 * Gilbert–Elliott two-state model (good state loses at `loss_rate`, bad state at
 * `loss_in_bad`; transitions good->bad with `p_good_to_bad`, bad->good with `p_bad_to_good`,
 * evaluated once per eligible packet before the loss decision).
 * Never drops ARP or ICMPv6 (neighbour discovery), so the link stays usable at any rate.
 * With `port_count` > 0 only UDP/TCP packets whose source or destination port is listed are
 * eligible. Configuration is read-only data set by the loader before load.
 */
#include "vmlinux.h"

#include "loss.h"
#include "tmc_packet.bpf.h"

const volatile __u64 loss_rate = 0; /* P * 2^32 */
const volatile __u32 gilbert = 0;
const volatile __u64 p_good_to_bad = 0;
const volatile __u64 p_bad_to_good = 0;
const volatile __u64 loss_in_bad = 0;
const volatile __u64 seed = 0; /* 0: seed each CPU from bpf_get_prandom_u32() */
const volatile __u32 port_count = 0;
const volatile __u16 ports[TMC_LOSS_MAX_PORTS] = {};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tmc_loss_stats);
} loss_stats SEC(".maps");

/* One random stream and one Gilbert–Elliott state for the interface (not per CPU): the model
 * describes the link, and with a seed the sequence of decisions is reproducible whichever CPU
 * runs each packet. Concurrent packets on two CPUs may race on the state (both draw the same
 * number, or one update is lost); that only correlates two decisions, it never stops loss. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tmc_loss_state);
} loss_state SEC(".maps");

/* SplitMix64 finaliser: spreads a small seed over the 64-bit state. */
static __always_inline __u64 mix64(__u64 z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* xorshift64* (Vigna 2016): 32 good bits per call. */
static __always_inline __u32 next_random(struct tmc_loss_state *state) {
  if (state->random_state == 0) {
    __u64 start = seed ? mix64(seed + 0x9E3779B97F4A7C15ULL)
                       : ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();
    state->random_state = start ? start : 1;
  }
  __u64 x = state->random_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  state->random_state = x;
  return (__u32)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static __always_inline int port_listed(__u16 port) {
  for (__u32 i = 0; i < TMC_LOSS_MAX_PORTS; i++) {
    if (i >= port_count) break;
    if (ports[i] == port) return 1;
  }
  return 0;
}

/* Returns 1 when the packet may be dropped. */
static __always_inline int eligible(struct __sk_buff *skb) {
  __u8 l4_protocol;
  __u32 l4_offset;
  if (skb->protocol == bpf_htons(TMC_ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, TMC_ETH_HLEN, &ip, sizeof(ip)) < 0) return 0;
    if (port_count == 0) return 1;
    if (ip.frag_off & bpf_htons(TMC_IP_OFFSET)) return 0; /* no ports in later fragments */
    l4_protocol = ip.protocol;
    l4_offset = TMC_ETH_HLEN + ip.ihl * 4;
  } else if (skb->protocol == bpf_htons(TMC_ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, TMC_ETH_HLEN, &ip6, sizeof(ip6)) < 0) return 0;
    /* Step over hop-by-hop / routing / destination options (RFC 8200 §4), as tmc_parse does,
     * so ICMPv6 behind them is recognised and ports are found. */
    l4_protocol = ip6.nexthdr;
    l4_offset = TMC_ETH_HLEN + sizeof(ip6);
    for (int i = 0; i < TMC_IPV6_MAX_EXT_HEADERS; i++) {
      if (l4_protocol != TMC_IPPROTO_HOPOPTS && l4_protocol != TMC_IPPROTO_ROUTING && l4_protocol != TMC_IPPROTO_DSTOPTS)
        break;
      __u8 extension[2];
      if (bpf_skb_load_bytes(skb, l4_offset, extension, 2) < 0) return 0;
      l4_protocol = extension[0];
      l4_offset += ((__u32)extension[1] + 1) * 8;
    }
    if (l4_protocol == TMC_IPPROTO_ICMPV6) return 0; /* neighbour discovery is the link's ARP */
    if (port_count == 0) return 1;
  } else {
    return 0; /* ARP and everything that is not IP */
  }
  if (l4_protocol != IPPROTO_UDP && l4_protocol != IPPROTO_TCP) return 0;
  __be16 l4_ports[2];
  if (bpf_skb_load_bytes(skb, l4_offset, l4_ports, sizeof(l4_ports)) < 0) return 0;
  return port_listed(bpf_ntohs(l4_ports[0])) || port_listed(bpf_ntohs(l4_ports[1]));
}

SEC("tc")
int tmc_loss(struct __sk_buff *skb) {
  if (!eligible(skb)) return TC_ACT_UNSPEC;
  __u32 zero = 0;
  struct tmc_loss_stats *stats = bpf_map_lookup_elem(&loss_stats, &zero);
  struct tmc_loss_state *state = bpf_map_lookup_elem(&loss_state, &zero);
  if (!stats || !state) return TC_ACT_UNSPEC;
  stats->seen++;

  __u64 threshold = loss_rate;
  if (gilbert) {
    __u64 transition = state->in_bad_state ? p_bad_to_good : p_good_to_bad;
    if ((__u64)next_random(state) < transition) state->in_bad_state = !state->in_bad_state;
    if (state->in_bad_state) threshold = loss_in_bad;
  }
  if ((__u64)next_random(state) < threshold) {
    stats->dropped++;
    return TC_ACT_SHOT;
  }
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
