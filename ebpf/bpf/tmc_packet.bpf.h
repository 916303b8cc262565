/* Packet parsing shared by the TMC tc programs (BPF side only; include after vmlinux.h).
 *
 * Contract: tmc_parse() looks at Ethernet / IPv4 or IPv6 / UDP and the TMC common header and
 * fills a struct tmc_packet. It never writes the packet. It may call bpf_skb_pull_data() so
 * that the headers are linear, which invalidates earlier packet pointers: callers parse first.
 * IPv4 fragments (offset != 0 or more-fragments) are reported as TMC_PARSE_NOT_TMC. IPv6: up
 * to TMC_IPV6_MAX_EXT_HEADERS hop-by-hop / routing / destination-options extension headers
 * (RFC 8200 §4) totalling at most TMC_IPV6_MAX_EXT_BYTES are skipped; a Fragment header, any
 * other next header, or more or longer extension headers make the packet TMC_PARSE_NOT_TMC
 * (passed untouched).
 * A UDP GSO/GRO super-packet carries pkt->segments TMC packets; only the first one's header
 * is parsed.
 */
#ifndef TMC_BPF_PACKET_BPF_H
#define TMC_BPF_PACKET_BPF_H

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tmc/wire_format.h"

/* uapi constants that vmlinux.h does not carry (they are #defines, not BTF types). */
#define TMC_ETH_HLEN 14
#define TMC_ETH_P_IP 0x0800
#define TMC_ETH_P_ARP 0x0806
#define TMC_ETH_P_IPV6 0x86DD
#define TMC_IP_MF 0x2000
#define TMC_IP_OFFSET 0x1FFF
#define TMC_IPPROTO_ICMPV6 58
/* RFC 8200 §4 extension headers that tmc_parse() steps over (same layout: next header, length
 * in 8-octet units not counting the first 8). Fragment (44) is not among them. */
#define TMC_IPPROTO_HOPOPTS 0
#define TMC_IPPROTO_ROUTING 43
#define TMC_IPPROTO_DSTOPTS 60
#define TMC_IPV6_HLEN 40
#define TMC_IPV6_MAX_EXT_HEADERS 4
#define TMC_IPV6_MAX_EXT_BYTES 128
/* linux/pkt_cls.h: TC_ACT_UNSPEC lets the next tc filter on the hook run; every TMC program
 * returns it for packets it does not drop, so the programs compose on one hook. */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
/* linux/bpf.h flags for the checksum helpers. */
#define TMC_BPF_F_PSEUDO_HDR (1ULL << 4)
#define TMC_BPF_F_MARK_MANGLED_0 (1ULL << 5)

enum tmc_parse_result {
  TMC_PARSE_NOT_TMC = 0,   /* not IPv4/UDP, or the UDP payload does not start with TMC_MAGIC */
  TMC_PARSE_MALFORMED = 1, /* starts with TMC_MAGIC but the common header is invalid */
  TMC_PARSE_OK = 2,        /* a valid TMC common header (and DATA type part when type == DATA) */
};

struct tmc_packet {
  __u32 ip_offset;  /* from skb->data */
  __u32 udp_offset;
  __u32 tmc_offset; /* first byte of the UDP payload */
  __u32 udp_payload_length;
  __u32 channel_id; /* valid when the payload holds at least 12 bytes, else TMC_CHANNEL_UNKNOWN */
  __u32 sender_id;
  __u32 epoch;
  __u64 sequence;       /* DATA only */
  __u32 fragment_index; /* DATA only */
  __u32 segments;       /* TMC packets in this skb: gso_segs of a UDP GSO/GRO super-packet, else 1 */
  __u16 flags;
  __u16 header_length;
  __u16 payload_length;
  __u16 stream;
  __u8 type;
  __u8 ip_version; /* 4 or 6 */
  __u8 tos;        /* IPv4 TOS, or the IPv6 traffic class: DSCP << 2 | ECN either way */
  __be32 saddr;    /* IPv4 only (zero for IPv6) */
  __be32 daddr;
  __be32 saddr6[4]; /* IPv6 only (zero for IPv4), network order */
  __be32 daddr6[4];
  __be16 sport;
  __be16 dport;
};

/* Channel id reported for a malformed packet too short to carry one. */
#define TMC_CHANNEL_UNKNOWN 0xFFFFFFFFu

static __always_inline __u16 tmc_read16(const __u8 *p) { return ((__u16)p[0] << 8) | p[1]; }

static __always_inline __u32 tmc_read32(const __u8 *p) {
  return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

static __always_inline __u64 tmc_read64(const __u8 *p) {
  return ((__u64)tmc_read32(p) << 32) | tmc_read32(p + 4);
}

/* skb->data / skb->data_end loaded with one exact instruction each: clang otherwise may keep
 * `ctx + offset` in a register across a helper call, which the verifier rejects
 * ("dereference of modified ctx ptr"). */
static __always_inline __u8 *tmc_skb_data(struct __sk_buff *skb) {
  __u8 *data;
  asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(data) : "r"(skb), "i"(offsetof(struct __sk_buff, data)));
  return data;
}

static __always_inline __u8 *tmc_skb_data_end(struct __sk_buff *skb) {
  __u8 *end;
  asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(end) : "r"(skb), "i"(offsetof(struct __sk_buff, data_end)));
  return end;
}

/* Bytes we want linear: Ethernet + IPv4 with options (or IPv6 with the extension headers we
 * step over) + UDP + the DATA header. */
#define TMC_PULL_LENGTH (TMC_ETH_HLEN + 60 + 8 + TMC_DATA_HEADER_SIZE)
#define TMC_PULL_LENGTH6 (TMC_ETH_HLEN + TMC_IPV6_HLEN + TMC_IPV6_MAX_EXT_BYTES + 8 + TMC_DATA_HEADER_SIZE)

/* IPv4 header at `ip`: fills the address fields and pkt->udp_offset. */
static __always_inline int tmc_parse_ipv4(__u8 *ip_start, __u8 *end, struct tmc_packet *pkt) {
  struct iphdr *ip = (struct iphdr *)ip_start;
  if ((__u8 *)(ip + 1) > end) return TMC_PARSE_NOT_TMC;
  if (ip->version != 4 || ip->ihl < 5) return TMC_PARSE_NOT_TMC;
  if (ip->protocol != IPPROTO_UDP) return TMC_PARSE_NOT_TMC;
  if (ip->frag_off & bpf_htons(TMC_IP_MF | TMC_IP_OFFSET)) return TMC_PARSE_NOT_TMC;
  pkt->ip_version = 4;
  pkt->udp_offset = TMC_ETH_HLEN + ip->ihl * 4;
  pkt->tos = ip->tos;
  pkt->saddr = ip->saddr;
  pkt->daddr = ip->daddr;
  return TMC_PARSE_OK;
}

/* IPv6 header at `ip` and the extension headers after it (RFC 8200 §4): fills the address
 * fields and pkt->udp_offset when the upper layer is UDP. */
static __always_inline int tmc_parse_ipv6(__u8 *data, __u8 *end, struct tmc_packet *pkt) {
  struct ipv6hdr *ip6 = (struct ipv6hdr *)(data + TMC_ETH_HLEN);
  if ((__u8 *)(ip6 + 1) > end) return TMC_PARSE_NOT_TMC;
  if (ip6->version != 6) return TMC_PARSE_NOT_TMC;
  __u8 next = ip6->nexthdr;
  __u32 offset = TMC_ETH_HLEN + TMC_IPV6_HLEN;
  for (int i = 0; i < TMC_IPV6_MAX_EXT_HEADERS; i++) {
    if (next != TMC_IPPROTO_HOPOPTS && next != TMC_IPPROTO_ROUTING && next != TMC_IPPROTO_DSTOPTS) break;
    if (offset > TMC_ETH_HLEN + TMC_IPV6_HLEN + TMC_IPV6_MAX_EXT_BYTES) return TMC_PARSE_NOT_TMC;
    __u8 *extension = data + offset;
    if (extension + 2 > end) return TMC_PARSE_NOT_TMC;
    next = extension[0];
    offset += ((__u32)extension[1] + 1) * 8;
  }
  if (next != IPPROTO_UDP) return TMC_PARSE_NOT_TMC; /* also Fragment, or more extension headers */
  if (offset > TMC_ETH_HLEN + TMC_IPV6_HLEN + TMC_IPV6_MAX_EXT_BYTES) return TMC_PARSE_NOT_TMC;
  pkt->ip_version = 6;
  pkt->udp_offset = offset;
  /* Traffic class: the 4 low bits of byte 0 and the 4 high bits of byte 1. */
  __u8 *first = (__u8 *)ip6;
  pkt->tos = (__u8)((first[0] & 0x0F) << 4) | (first[1] >> 4);
  __builtin_memcpy(pkt->saddr6, &ip6->saddr, 16);
  __builtin_memcpy(pkt->daddr6, &ip6->daddr, 16);
  return TMC_PARSE_OK;
}

static __always_inline int tmc_parse(struct __sk_buff *skb, struct tmc_packet *pkt) {
  pkt->channel_id = TMC_CHANNEL_UNKNOWN;
  const int ipv6 = skb->protocol == bpf_htons(TMC_ETH_P_IPV6);
  if (!ipv6 && skb->protocol != bpf_htons(TMC_ETH_P_IP)) return TMC_PARSE_NOT_TMC;

  __u32 pull = ipv6 ? TMC_PULL_LENGTH6 : TMC_PULL_LENGTH;
  __u32 want = skb->len < pull ? skb->len : pull;
  if (tmc_skb_data(skb) + want > tmc_skb_data_end(skb)) bpf_skb_pull_data(skb, want);

  __u8 *data = tmc_skb_data(skb);
  __u8 *end = tmc_skb_data_end(skb);
  struct ethhdr *eth = (struct ethhdr *)data;
  if ((__u8 *)(eth + 1) > end) return TMC_PARSE_NOT_TMC;
  if (eth->h_proto != bpf_htons(ipv6 ? TMC_ETH_P_IPV6 : TMC_ETH_P_IP)) return TMC_PARSE_NOT_TMC;
  pkt->ip_offset = TMC_ETH_HLEN;
  int ip_result = ipv6 ? tmc_parse_ipv6(data, end, pkt) : tmc_parse_ipv4(data + TMC_ETH_HLEN, end, pkt);
  if (ip_result != TMC_PARSE_OK) return TMC_PARSE_NOT_TMC;
  if (pkt->udp_offset > TMC_ETH_HLEN + TMC_IPV6_HLEN + TMC_IPV6_MAX_EXT_BYTES) return TMC_PARSE_NOT_TMC; /* verifier bound */

  struct udphdr *udp = (struct udphdr *)(data + pkt->udp_offset);
  if ((__u8 *)(udp + 1) > end) return TMC_PARSE_NOT_TMC;
  pkt->sport = udp->source;
  pkt->dport = udp->dest;
  __u32 udp_length = bpf_ntohs(udp->len);
  if (udp_length < sizeof(*udp)) return TMC_PARSE_NOT_TMC;
  pkt->udp_payload_length = udp_length - sizeof(*udp);
  pkt->tmc_offset = pkt->udp_offset + sizeof(*udp);

  __u8 *tmc = data + pkt->tmc_offset;
  if (tmc + 2 > end || pkt->udp_payload_length < 2) return TMC_PARSE_NOT_TMC;
  if (tmc_read16(tmc + TMC_OFF_MAGIC) != TMC_MAGIC) return TMC_PARSE_NOT_TMC;

  /* From here on the packet claims to be TMC: anything wrong is "malformed", never a crash. */
  if (tmc + TMC_OFF_CHANNEL_ID + 4 <= end && pkt->udp_payload_length >= TMC_OFF_CHANNEL_ID + 4)
    pkt->channel_id = tmc_read32(tmc + TMC_OFF_CHANNEL_ID);
  if (tmc + TMC_COMMON_HEADER_SIZE > end || pkt->udp_payload_length < TMC_COMMON_HEADER_SIZE)
    return TMC_PARSE_MALFORMED;
  /* A frame shorter than its UDP length claims (cut on the way) is not judged by its header:
   * the IP layer will drop it, and early drop must not record it as seen. */
  if (pkt->tmc_offset + pkt->udp_payload_length > skb->len) return TMC_PARSE_MALFORMED;
  pkt->type = tmc[TMC_OFF_TYPE];
  pkt->flags = tmc_read16(tmc + TMC_OFF_FLAGS);
  pkt->header_length = tmc_read16(tmc + TMC_OFF_HEADER_LENGTH);
  pkt->sender_id = tmc_read32(tmc + TMC_OFF_SENDER_ID);
  pkt->epoch = tmc_read32(tmc + TMC_OFF_EPOCH);
  pkt->payload_length = tmc_read16(tmc + TMC_OFF_PAYLOAD_LENGTH);
  pkt->stream = tmc_read16(tmc + TMC_OFF_STREAM);
  if (tmc[TMC_OFF_VERSION] != TMC_VERSION) return TMC_PARSE_MALFORMED;
  if (pkt->type == 0 || pkt->type > TMC_TYPE_MAX) return TMC_PARSE_MALFORMED;
  if (pkt->flags & ~TMC_FLAG_KNOWN_MASK) return TMC_PARSE_MALFORMED;
  if (pkt->header_length < TMC_COMMON_HEADER_SIZE) return TMC_PARSE_MALFORMED;
  /* header + payload must be exactly the UDP payload (docs/wire-format.md) — except in a UDP
   * GSO/GRO super-packet (gso_segs > 1), whose UDP length covers every segment and whose
   * header we see for the first segment only. */
  pkt->segments = skb->gso_segs > 1 ? skb->gso_segs : 1;
  __u32 tmc_length = (__u32)pkt->header_length + pkt->payload_length;
  if (pkt->segments == 1 ? tmc_length != pkt->udp_payload_length : tmc_length > pkt->udp_payload_length)
    return TMC_PARSE_MALFORMED;
  if (pkt->type == TMC_TYPE_DATA) {
    if (pkt->header_length < TMC_DATA_HEADER_SIZE) return TMC_PARSE_MALFORMED;
    if (tmc + TMC_DATA_HEADER_SIZE > end) return TMC_PARSE_MALFORMED;
    pkt->sequence = tmc_read64(tmc + TMC_OFF_SEQUENCE);
    pkt->fragment_index = tmc_read32(tmc + TMC_OFF_FRAGMENT_INDEX);
    if (pkt->fragment_index >= tmc_read32(tmc + TMC_OFF_FRAGMENT_COUNT)) return TMC_PARSE_MALFORMED;
    if (pkt->fragment_index > pkt->sequence) return TMC_PARSE_MALFORMED;
  }
  return TMC_PARSE_OK;
}

#endif /* TMC_BPF_PACKET_BPF_H */
