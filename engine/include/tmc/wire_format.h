/* TMC wire format, version 1 — constants shared by the engine (C++), the shim and the
 * eBPF programs (C, -target bpf). docs/wire-format.md explains every field.
 *
 * Contract: this header holds only preprocessor constants (no structs, no includes), so it
 * can be included from BPF code next to vmlinux.h as well as from user space. All multi-byte
 * fields are big-endian (network byte order). Offsets are from the first byte of the UDP
 * payload.
 */
#ifndef TMC_WIRE_FORMAT_H
#define TMC_WIRE_FORMAT_H

#define TMC_MAGIC 0x544Du /* "TM" */
#define TMC_VERSION 1u

/* ---- common header (every packet), 28 bytes ---- */
#define TMC_OFF_MAGIC 0          /* u16 TMC_MAGIC */
#define TMC_OFF_VERSION 2        /* u8  TMC_VERSION */
#define TMC_OFF_TYPE 3           /* u8  TMC_TYPE_* */
#define TMC_OFF_FLAGS 4          /* u16 TMC_FLAG_* */
#define TMC_OFF_HEADER_LENGTH 6  /* u16 bytes before the payload (common + type part + options) */
#define TMC_OFF_CHANNEL_ID 8     /* u32 channel the packet belongs to */
#define TMC_OFF_SENDER_ID 12     /* u32 sender of this packet (random or member index + 1) */
#define TMC_OFF_EPOCH 16         /* u32 sender incarnation; a new epoch resets receiver state */
#define TMC_OFF_CHECKSUM 20      /* u32 CRC32C of the whole packet with this field zeroed; 0 if !TMC_FLAG_CHECKSUM */
#define TMC_OFF_PAYLOAD_LENGTH 24 /* u16 payload bytes after the header */
#define TMC_OFF_STREAM 26        /* u16 0 = point-to-point stream to the receiver, else group stream id */
#define TMC_COMMON_HEADER_SIZE 28

/* packet types */
#define TMC_TYPE_DATA 1u     /* a message fragment */
#define TMC_TYPE_ACK 2u      /* cumulative + selective acknowledgement of a stream */
#define TMC_TYPE_CONTROL 3u  /* connection / membership control (subtype in the payload) */
#define TMC_TYPE_SEQUENCE 4u /* group-order stamp from a sequencer (ordering: total) */
#define TMC_TYPE_CREDIT 5u   /* flow-control credit grant */
#define TMC_TYPE_MAX 5u

/* flags (u16) */
#define TMC_FLAG_CHECKSUM 0x0001u     /* checksum field holds CRC32C (RFC 3720 B.4 polynomial) */
#define TMC_FLAG_ACK_REQUESTED 0x0002u /* DATA: receiver must acknowledge (reliability != none) */
#define TMC_FLAG_ORDERED 0x0004u      /* DATA: fifo ordering requested for this message */
#define TMC_FLAG_DROP_STALE 0x0008u   /* DATA: fifo-drop-stale: drop if older than latest delivered */
#define TMC_FLAG_RETRANSMIT 0x0010u   /* DATA: this copy is a retransmission */
#define TMC_FLAG_TOTAL_ORDER 0x0020u  /* DATA: wait for a TMC_TYPE_SEQUENCE stamp before delivery */
#define TMC_FLAG_KNOWN_MASK 0x003Fu   /* a packet with other bits set is malformed */

/* ---- DATA type part, 28 bytes after the common header (header_length >= 56) ---- */
#define TMC_OFF_SEQUENCE 28         /* u64 packet sequence in the (sender, epoch, stream) space */
#define TMC_OFF_FORWARD_SEQUENCE 36 /* u64 sender abandoned every sequence below this (cf. RFC 3758 FORWARD-TSN) */
#define TMC_OFF_MESSAGE_LENGTH 44   /* u32 length of the whole message (all fragments) */
#define TMC_OFF_FRAGMENT_INDEX 48   /* u32 index of this fragment; first fragment's seq = seq - index */
#define TMC_OFF_FRAGMENT_COUNT 52   /* u32 fragments in the message (>= 1) */
#define TMC_DATA_HEADER_SIZE 56

/* ---- ACK type part (header_length = 52 + 16 * sack_count) ---- */
#define TMC_OFF_ACK_EPOCH 28        /* u32 epoch of the acknowledged data sender */
#define TMC_OFF_ACK_DELAY_US 32     /* u32 time the receiver held the ack, microseconds (RFC 9002 5.3) */
#define TMC_OFF_ACK_CUMULATIVE 36   /* u64 every sequence below this is received or abandoned */
#define TMC_OFF_ACK_SACK_COUNT 44   /* u16 number of SACK blocks that follow */
#define TMC_OFF_ACK_RESERVED 46     /* u16 zero */
#define TMC_OFF_ACK_RECEIVER_WINDOW 48 /* u32 receiver's free buffer in packets (0 = not advertised) */
#define TMC_ACK_HEADER_SIZE 52
#define TMC_SACK_BLOCK_SIZE 16      /* u64 start, u64 end (exclusive), ascending, above cumulative */
#define TMC_MAX_SACK_BLOCKS 32

/* ---- CONTROL type part: u8 subtype + u8 reserved + u16 reserved + u32 argument ---- */
#define TMC_OFF_CONTROL_SUBTYPE 28
#define TMC_OFF_CONTROL_ARGUMENT 32
#define TMC_CONTROL_HEADER_SIZE 36
#define TMC_CONTROL_OPEN 1u      /* open a connection-style channel (shim connect()) */
#define TMC_CONTROL_OPEN_ACK 2u  /* accepted */
#define TMC_CONTROL_REFUSE 3u    /* nobody listens: connect() fails with ECONNREFUSED */
#define TMC_CONTROL_CLOSE 4u     /* orderly close after the last sequence (argument: unused) */
#define TMC_CONTROL_RESET 5u     /* abort */
#define TMC_CONTROL_PING 6u      /* liveness probe */
#define TMC_CONTROL_PONG 7u

/* Largest message (sum of its fragments) a receiver accepts: bounds reassembly memory. */
#define TMC_MAX_MESSAGE_LENGTH (64u * 1024u * 1024u)

/* Largest header any valid packet has (DATA with options excluded, ACK with all SACK blocks). */
#define TMC_MAX_HEADER_SIZE (TMC_ACK_HEADER_SIZE + TMC_SACK_BLOCK_SIZE * TMC_MAX_SACK_BLOCKS)

#endif /* TMC_WIRE_FORMAT_H */
