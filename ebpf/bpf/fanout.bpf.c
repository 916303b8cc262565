// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Fan-out (tc egress): in-kernel multicast for networks without IP multicast.
 *
 * Contract with the engine (docs/ebpf.md "Fan-out"): for a channel registered in
 * `fanout_channels`, the engine sends ONE packet to members[0] (IPv4 or IPv6 address:port). A packet is fanned
 * out when it is a valid TMC DATA or SEQUENCE packet of that channel, on a group stream
 * (stream != 0), not a retransmission (TMC_FLAG_RETRANSMIT: repairs are unicast) and addressed
 * to members[0]. The program then emits copies with bpf_clone_redirect() on the same
 * interface so that every member gets exactly one packet: copies go to members[0..count-2]
 * and the original, rewritten, to members[count-1]. Rewriting changes the destination MAC,
 * IP address and UDP port and updates the checksums (RFC 1624 incremental update): IPv4 header
 * and UDP; IPv6 has no header checksum, its UDP checksum covers the addresses (RFC 8200 §8.1).
 * Anything else passes untouched. A UDP GSO super-packet is judged by its first TMC header
 * and cloned whole; the engine keeps super-packets homogeneous under this rule
 * (tmc/fanout_rule.h, transport/kernel_fanout.cpp fanout_gso_class).
 */
#include "vmlinux.h"

#include "fanout.h"
#include "tmc/fanout_rule.h"
#include "tmc_packet.bpf.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TMC_FANOUT_MAX_CHANNELS);
  __type(key, __u32);
  __type(value, struct tmc_fanout_channel);
} fanout_channels SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, TMC_FANOUT_MAX_CHANNELS);
  __type(key, __u32);
  __type(value, struct tmc_fanout_counters);
} fanout_counters SEC(".maps");

/* IPv6 destination address from `from` to `to`: the UDP checksum (mandatory over IPv6, never
 * zero) is updated by the difference of the two 16-byte addresses. */
static __always_inline int rewrite_ipv6_destination(struct __sk_buff *skb, const struct tmc_packet *pkt,
                                                    const struct tmc_fanout_member *from,
                                                    const struct tmc_fanout_member *to) {
  if (from->ipv6[0] == to->ipv6[0] && from->ipv6[1] == to->ipv6[1] && from->ipv6[2] == to->ipv6[2] &&
      from->ipv6[3] == to->ipv6[3])
    return 0;
  __u32 udp_check = pkt->udp_offset + offsetof(struct udphdr, check);
  __s64 difference = bpf_csum_diff((__be32 *)from->ipv6, 16, (__be32 *)to->ipv6, 16, 0);
  if (difference < 0) return -1;
  if (bpf_l4_csum_replace(skb, udp_check, 0, (__u32)difference, TMC_BPF_F_PSEUDO_HDR | TMC_BPF_F_MARK_MANGLED_0) < 0)
    return -1;
  return bpf_skb_store_bytes(skb, pkt->ip_offset + offsetof(struct ipv6hdr, daddr), to->ipv6, 16, 0);
}

/* Rewrites destination MAC, IP address and UDP port from `from` to `to`, field by field through
 * the helpers: the path for IPv4 options and IPv6 extension headers. */
static __always_inline int rewrite_destination(struct __sk_buff *skb, const struct tmc_packet *pkt,
                                               const struct tmc_fanout_member *from,
                                               const struct tmc_fanout_member *to) {
  __u32 ip_check = pkt->ip_offset + offsetof(struct iphdr, check);
  __u32 udp_check = pkt->udp_offset + offsetof(struct udphdr, check);
  if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), to->mac, 6, 0) < 0) return -1;
  if (pkt->ip_version == 6) {
    if (rewrite_ipv6_destination(skb, pkt, from, to) < 0) return -1;
  } else if (from->ipv4 != to->ipv4) {
    if (bpf_l3_csum_replace(skb, ip_check, from->ipv4, to->ipv4, 4) < 0) return -1;
    /* BPF_F_MARK_MANGLED_0: a zero UDP checksum means "none" over IPv4 (RFC 768) and stays
     * zero; the helper also handles CHECKSUM_PARTIAL (offloaded) packets. */
    if (bpf_l4_csum_replace(skb, udp_check, from->ipv4, to->ipv4,
                            TMC_BPF_F_PSEUDO_HDR | TMC_BPF_F_MARK_MANGLED_0 | 4) < 0)
      return -1;
    if (bpf_skb_store_bytes(skb, pkt->ip_offset + offsetof(struct iphdr, daddr), &to->ipv4, 4, 0) < 0)
      return -1;
  }
  if (from->port != to->port) {
    if (bpf_l4_csum_replace(skb, udp_check, from->port, to->port, TMC_BPF_F_MARK_MANGLED_0 | 2) < 0)
      return -1;
    if (bpf_skb_store_bytes(skb, pkt->udp_offset + offsetof(struct udphdr, dest), &to->port, 2, 0) < 0)
      return -1;
  }
  return 0;
}

/* Fast path for the usual layouts — IPv4 without options, IPv6 without extension headers:
 * the program keeps a stack copy of the headers up to and including the UDP ports, rewrites it
 * for each member (MAC, address, port, and the IPv4 header checksum by RFC 1624 eqn. 3, which is
 * never offloaded) and writes it back with ONE bpf_skb_store_bytes — which also unshares the
 * header the previous clone shares (the one pskb_expand_head a copy needs). The UDP checksum
 * still goes through bpf_l4_csum_replace, the only place that knows whether the skb is
 * CHECKSUM_PARTIAL. 3–4 helper calls per copy instead of 6, and no direct packet write, so
 * the verifier adds no unclone prologue that would touch unrelated cloned skbs. */
#define TMC_FANOUT_V4_HEADERS (TMC_ETH_HLEN + 20 + 4)              /* up to the UDP dport */
#define TMC_FANOUT_V6_HEADERS (TMC_ETH_HLEN + TMC_IPV6_HLEN + 4)

/* One's-complement fold of a 32-bit sum of 16-bit words. */
static __always_inline __u16 csum_fold32(__u32 sum) {
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return (__u16)sum;
}

/* IPv4 header checksum after its 32-bit word `from` became `to` (RFC 1624 eqn. 3,
 * HC' = ~(~HC + ~m + m') on 16-bit words; any byte order, as long as it is the same for all). */
static __always_inline __u16 ipv4_check_replace(__u16 check, __be32 from, __be32 to) {
  __u32 sum = (__u16)~check;
  sum += (__u16)~(from >> 16) + (__u16)~(from & 0xFFFF);
  sum += (to >> 16) + (to & 0xFFFF);
  return (__u16)~csum_fold32(sum);
}

struct fanout_headers {
  __u8 bytes[TMC_FANOUT_V6_HEADERS];
};

static __always_inline int rewrite_headers(struct __sk_buff *skb, const struct tmc_packet *pkt,
                                           struct fanout_headers *headers,
                                           const struct tmc_fanout_member *from,
                                           const struct tmc_fanout_member *to) {
  const __u32 udp_check = pkt->udp_offset + offsetof(struct udphdr, check);
  __builtin_memcpy(headers->bytes, to->mac, 6); /* h_dest */
  if (pkt->ip_version == 6) {
    __builtin_memcpy(headers->bytes + TMC_ETH_HLEN + offsetof(struct ipv6hdr, daddr), to->ipv6, 16);
    __builtin_memcpy(headers->bytes + TMC_ETH_HLEN + TMC_IPV6_HLEN + offsetof(struct udphdr, dest), &to->port, 2);
    if (bpf_skb_store_bytes(skb, 0, headers->bytes, TMC_FANOUT_V6_HEADERS, 0) < 0) return -1;
    if (from->ipv6[0] != to->ipv6[0] || from->ipv6[1] != to->ipv6[1] || from->ipv6[2] != to->ipv6[2] ||
        from->ipv6[3] != to->ipv6[3]) {
      __s64 difference = bpf_csum_diff((__be32 *)from->ipv6, 16, (__be32 *)to->ipv6, 16, 0);
      if (difference < 0) return -1;
      if (bpf_l4_csum_replace(skb, udp_check, 0, (__u32)difference,
                              TMC_BPF_F_PSEUDO_HDR | TMC_BPF_F_MARK_MANGLED_0) < 0)
        return -1;
    }
  } else {
    __u8 *ip = headers->bytes + TMC_ETH_HLEN;
    if (from->ipv4 != to->ipv4) {
      __u16 check;
      __builtin_memcpy(&check, ip + offsetof(struct iphdr, check), 2);
      check = ipv4_check_replace(check, from->ipv4, to->ipv4);
      __builtin_memcpy(ip + offsetof(struct iphdr, check), &check, 2);
      __builtin_memcpy(ip + offsetof(struct iphdr, daddr), &to->ipv4, 4);
    }
    __builtin_memcpy(ip + 20 + offsetof(struct udphdr, dest), &to->port, 2);
    if (bpf_skb_store_bytes(skb, 0, headers->bytes, TMC_FANOUT_V4_HEADERS, 0) < 0) return -1;
    if (from->ipv4 != to->ipv4 &&
        bpf_l4_csum_replace(skb, udp_check, from->ipv4, to->ipv4,
                            TMC_BPF_F_PSEUDO_HDR | TMC_BPF_F_MARK_MANGLED_0 | 4) < 0)
      return -1;
  }
  if (from->port != to->port &&
      bpf_l4_csum_replace(skb, udp_check, from->port, to->port, TMC_BPF_F_MARK_MANGLED_0 | 2) < 0)
    return -1;
  return 0;
}

SEC("tc")
int tmc_fanout(struct __sk_buff *skb) {
  if (skb->mark & TMC_FANOUT_MARK) return TC_ACT_UNSPEC; /* one of our copies */
  struct tmc_packet pkt = {};
  if (tmc_parse(skb, &pkt) != TMC_PARSE_OK) return TC_ACT_UNSPEC;
  /* The rule (tmc/fanout_rule.h) the engine also applies per datagram when it forms UDP GSO
   * super-packets (transport/kernel_fanout.cpp fanout_gso_class): only the FIRST header of a
   * super-packet is judged here, so the engine never batches packets this rule separates. */
  if (!tmc_fanout_header_eligible(pkt.type, pkt.flags, pkt.stream)) return TC_ACT_UNSPEC;
  struct tmc_fanout_channel *channel = bpf_map_lookup_elem(&fanout_channels, &pkt.channel_id);
  if (!channel) return TC_ACT_UNSPEC;
  __u32 count = channel->count;
  if (count == 0 || count > TMC_FANOUT_MAX_MEMBERS) return TC_ACT_UNSPEC;
  const struct tmc_fanout_member *first = &channel->members[0];
  if (pkt.ip_version != first->family || pkt.dport != first->port) return TC_ACT_UNSPEC;
  if (pkt.ip_version == 4 && pkt.daddr != first->ipv4) return TC_ACT_UNSPEC;
  if (pkt.ip_version == 6 && (pkt.daddr6[0] != first->ipv6[0] || pkt.daddr6[1] != first->ipv6[1] ||
                              pkt.daddr6[2] != first->ipv6[2] || pkt.daddr6[3] != first->ipv6[3]))
    return TC_ACT_UNSPEC;

  struct tmc_fanout_counters *counters = bpf_map_lookup_elem(&fanout_counters, &pkt.channel_id);
  if (!counters) {
    struct tmc_fanout_counters zero = {};
    bpf_map_update_elem(&fanout_counters, &pkt.channel_id, &zero, BPF_NOEXIST);
    counters = bpf_map_lookup_elem(&fanout_counters, &pkt.channel_id);
  }

  /* Copies for members[0..count-2], the original itself for members[count-1]: the packet is
   * already addressed to members[0], so the first copy needs no rewrite and the original
   * needs no restore (count - 1 rewrites in all). */
  __u32 original_mark = skb->mark;
  skb->mark = original_mark | TMC_FANOUT_MARK;
  const struct tmc_fanout_member *current = first;
  __u64 copies = 0, errors = 0;
  int failed = 0;
  struct fanout_headers headers;
  __u32 header_length = 0;
  if (pkt.ip_version == 4 && pkt.udp_offset == TMC_ETH_HLEN + 20) header_length = TMC_FANOUT_V4_HEADERS;
  if (pkt.ip_version == 6 && pkt.udp_offset == TMC_ETH_HLEN + TMC_IPV6_HLEN) header_length = TMC_FANOUT_V6_HEADERS;
  if (header_length == TMC_FANOUT_V4_HEADERS) {
    if (bpf_skb_load_bytes(skb, 0, headers.bytes, TMC_FANOUT_V4_HEADERS) < 0) header_length = 0;
  } else if (header_length == TMC_FANOUT_V6_HEADERS) {
    if (bpf_skb_load_bytes(skb, 0, headers.bytes, TMC_FANOUT_V6_HEADERS) < 0) header_length = 0;
  }
  for (__u32 i = 1; i < TMC_FANOUT_MAX_MEMBERS; i++) {
    if (i >= count) break;
    if (bpf_clone_redirect(skb, skb->ifindex, 0) < 0)
      errors++;
    else
      copies++;
    const struct tmc_fanout_member *member = &channel->members[i];
    const int rewritten = header_length ? rewrite_headers(skb, &pkt, &headers, current, member)
                                        : rewrite_destination(skb, &pkt, current, member);
    if (rewritten < 0) {
      errors += count - i; /* this member and the ones after it get nothing */
      failed = 1;
      break;
    }
    current = member;
  }
  skb->mark = original_mark;
  if (counters) {
    counters->fanned_out++;
    counters->copies += copies;
    counters->copy_errors += errors;
  }
  /* A half-rewritten original must not reach a wrong member. */
  return failed ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
