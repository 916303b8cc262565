/* TMC wire format, version 1 — type parts of TMC_TYPE_SEQUENCE (total order) and
 * TMC_TYPE_CREDIT (flow control). Same contract as tmc/wire_format.h: preprocessor constants
 * only, big-endian fields, offsets from the first byte of the UDP payload, i.e. after the
 * 28-byte common header. docs/transport.md explains every field.
 */
#ifndef TMC_WIRE_FORMAT_TRANSPORT_H
#define TMC_WIRE_FORMAT_TRANSPORT_H

/* ---- SEQUENCE type part: header_length = 44 + 16 * count ---- */
#define TMC_OFF_SEQ_KIND 28            /* u8  TMC_SEQ_* */
#define TMC_OFF_SEQ_RESERVED 29        /* u8  zero */
#define TMC_OFF_SEQ_COUNT 30           /* u16 stamps that follow (STAMPS, NEW_VIEW) / stamps requested (REQUEST) */
#define TMC_OFF_SEQ_VIEW 32            /* u32 sequencer view (epoch of the sequencer role); stamps of a replaced view are refused */
#define TMC_OFF_SEQ_GROUP_SEQUENCE 36  /* u64 STAMPS: group sequence of the first stamp; REQUEST: first wanted;
                                          HEARTBEAT: next group sequence to assign; VIEW_CHANGE: sender's contiguous end;
                                          NEW_VIEW: first group sequence of the new view */
#define TMC_SEQ_HEADER_SIZE 44
/* stamp entry, 16 bytes each, consecutive group sequences from TMC_OFF_SEQ_GROUP_SEQUENCE */
#define TMC_SEQ_STAMP_SENDER_ID 0      /* u32 sender of the stamped message */
#define TMC_SEQ_STAMP_SENDER_EPOCH 4   /* u32 that sender's epoch */
#define TMC_SEQ_STAMP_SENDER_SEQUENCE 8 /* u64 sequence of the message's first fragment */
#define TMC_SEQ_STAMP_SIZE 16
#define TMC_SEQ_MAX_STAMPS 64          /* 44 + 64 * 16 = 1068 bytes: fits any MTU >= 1280 */

#define TMC_SEQ_STAMPS 1u       /* sequencer -> members (or member -> member answering a REQUEST) */
#define TMC_SEQ_REQUEST 2u      /* member -> sequencer or peer: resend stamps [group_sequence, +count) */
#define TMC_SEQ_HEARTBEAT 3u    /* sequencer -> members: alive; next group sequence */
#define TMC_SEQ_VIEW_CHANGE 4u  /* member -> new sequencer: sequencer of `view - 1` suspected; my contiguous end */
#define TMC_SEQ_NEW_VIEW 5u     /* new sequencer -> members: view starts at group_sequence */
#define TMC_SEQ_KIND_MAX 5u

/* ---- CREDIT type part: header_length = 48 ---- */
#define TMC_OFF_CREDIT_KIND 28         /* u8  TMC_CREDIT_* */
#define TMC_OFF_CREDIT_RESERVED 29     /* u8 + u16 zero */
#define TMC_OFF_CREDIT_EPOCH 32        /* u32 epoch of the data sender's stream this credit is about */
#define TMC_OFF_CREDIT_VALUE 36        /* u64 GRANT: the sender may send packet sequences < value;
                                          BLOCKED: the sender's next unsent sequence */
#define TMC_OFF_CREDIT_QUEUE 44        /* u32 GRANT: bytes queued in the receiving application (hint, saturating) */
#define TMC_CREDIT_HEADER_SIZE 48

#define TMC_CREDIT_GRANT 1u    /* receiver -> sender */
#define TMC_CREDIT_BLOCKED 2u  /* sender -> receiver: out of credit since a while; please re-grant */

#endif /* TMC_WIRE_FORMAT_TRANSPORT_H */
