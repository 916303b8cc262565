/* libTMC module ABI — new primitive implementations in shared objects (C, versioned).
 *
 * A module exports one symbol:
 *   const tmc_module_descriptor* tmc_module_init(uint32_t host_abi_version);
 * It returns NULL when it cannot serve `host_abi_version`, else a descriptor (static storage,
 * valid until the module is unloaded) whose abi_version is the TMC_MODULE_ABI_VERSION it was
 * built with. The host offers its newest version first and, when the module returns NULL, each
 * older version it still speaks (TMC_MODULE_ABI_VERSION_OLDEST). A descriptor of a version the
 * host does not speak is refused, with a message naming both.
 *
 * Version 1 carries congestion controllers. Version 2 adds receive-side ordering primitives
 * (tmc_ordering_ops) in two of the four descriptor slots version 1 reserved; the layout is otherwise
 * unchanged, so a version-1 module (those slots zero) loads as before and the host ignores the
 * slots of a version-1 descriptor.
 *
 * A congestion controller sees every event (packet sent / acked / lost / ECN) with the shared
 * transport state, and writes cwnd_bytes, ssthresh_bytes and pacing_rate_bytes_per_sec in it.
 * The host maintains bytes_in_flight and the RTT fields before each call.
 *
 * An ordering primitive decides, for one inbound stream (one sender's messages on one stream,
 * numbered by the sender's per-stream sequence space), when each completed message is delivered
 * to the application. It is sans-IO: it sees a view of each message (ids and lengths, never the
 * bytes, which the host owns) and answers DELIVER, HOLD or DROP; a held message is handed back
 * later by its host handle from release(), which the host calls until it returns NONE after
 * every on_message(), whenever the stream's cumulative point moves, and once timer_ns (written
 * by the module) has passed. The host delivers a DELIVER verdict of on_message() before anything
 * the following release() calls hand back; a module that wants a message after held ones holds
 * it and releases it in its place. When release() says NONE, timer_ns must be 0 or in the future
 * (the host clears a timer left in the past, counting a module error). Messages the sender did
 * not mark ordered (TMC_FLAG_ORDERED) and total-order messages never reach the module.
 *
 * Parameters: the manifest's `params:` map, merged over the defaults the module declares
 * (param_names/param_defaults). Unknown keys are refused by the host before create() runs.
 * All strings are NUL-terminated UTF-8. Calls for one instance never overlap.
 */
#ifndef TMC_MODULE_ABI_H
#define TMC_MODULE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TMC_MODULE_ABI_VERSION 2u         /* the version this header describes */
#define TMC_MODULE_ABI_VERSION_OLDEST 1u  /* the oldest version a host of this header still loads */
#define TMC_MODULE_INIT_SYMBOL "tmc_module_init"

typedef struct tmc_cc_state {
  uint64_t max_datagram_bytes;        /* read-only */
  uint64_t bytes_in_flight;           /* read-only, maintained by the host */
  int64_t latest_rtt_ns;              /* read-only, 0 until a sample */
  int64_t smoothed_rtt_ns;            /* read-only (RFC 6298 EWMA) */
  int64_t min_rtt_ns;                 /* read-only */
  uint64_t cwnd_bytes;                /* written by the controller; UINT64_MAX = no window */
  uint64_t ssthresh_bytes;            /* written by the controller */
  double pacing_rate_bytes_per_sec;   /* written by the controller; 0 = unpaced */
} tmc_cc_state;

enum tmc_cc_event_kind {
  TMC_CC_PACKET_SENT = 1,
  TMC_CC_ACK = 2,
  TMC_CC_LOSS = 3,
  TMC_CC_ECN = 4,
};

typedef struct tmc_cc_event {
  uint32_t kind;                    /* tmc_cc_event_kind */
  uint32_t persistent_congestion;   /* LOSS: RFC 9002 §7.6 */
  int64_t now_ns;                   /* monotonic clock */
  uint64_t bytes;                   /* SENT: sent; ACK: acked; LOSS: lost */
  uint64_t count;                   /* LOSS: packets lost; ECN: new CE marks */
  int64_t rtt_sample_ns;            /* ACK: 0 = no sample */
  int64_t packet_sent_time_ns;      /* ACK/LOSS/ECN: send time of the newest packet concerned */
} tmc_cc_event;

typedef struct tmc_module_param {
  const char* key;
  const char* value;
} tmc_module_param;

typedef struct tmc_congestion_ops {
  uint32_t struct_size;               /* sizeof(tmc_congestion_ops) */
  const char* name;                   /* the manifest's congestion_control name */
  const char* const* param_names;     /* NULL-terminated; may be NULL (no parameters) */
  const char* const* param_defaults;  /* same length as param_names */
  /* Returns an instance, or NULL after writing a message to `error` (NUL-terminated). Sets the
   * initial cwnd/pacing in `state`. `params` holds every declared parameter (defaults merged). */
  void* (*create)(const tmc_module_param* params, size_t param_count, tmc_cc_state* state, char* error,
                  size_t error_size);
  void (*on_event)(void* instance, const tmc_cc_event* event, tmc_cc_state* state);
  void (*destroy)(void* instance);
} tmc_congestion_ops;

/* ---- Ordering primitives (ABI version 2) ---- */

enum tmc_order_verdict {
  TMC_ORDER_NONE = 0,     /* release(): nothing (more) is due */
  TMC_ORDER_DELIVER = 1,  /* deliver the message now */
  TMC_ORDER_HOLD = 2,     /* on_message(): the module keeps the handle and hands it back from release() */
  TMC_ORDER_DROP = 3,     /* discard the message; the host counts it (Stats::stale_dropped) */
};

/* A completed message of the stream, as the module sees it. */
typedef struct tmc_ordering_message {
  uint64_t handle;          /* the host's id; unique per stream; meaningful to release() while held */
  uint32_t sender_id;       /* the sending member's wire sender id */
  uint16_t stream;          /* the wire stream id (0: point-to-point, 1: group) */
  uint16_t flags;           /* TMC_FLAG_* of its DATA packets (ORDERED always; ACK_REQUESTED if reliable) */
  uint64_t first_sequence;  /* it covers first_sequence .. first_sequence + fragment_count - 1 */
  uint32_t fragment_count;
  uint32_t length;          /* payload bytes */
  uint32_t late;            /* 1: it arrived after the sender had abandoned it (below the cumulative point) */
  uint32_t reserved;        /* zero */
} tmc_ordering_message;

/* The stream's state around each call. */
typedef struct tmc_ordering_state {
  int64_t now_ns;       /* read-only: monotonic clock */
  uint64_t cumulative;  /* read-only: every sequence below it was received or abandoned by the sender */
  uint64_t held;        /* read-only: how many handles the module holds */
  int64_t timer_ns;     /* written by the module (kept between calls): call release() once now_ns
                           reaches it; 0 = no timer */
} tmc_ordering_state;

typedef struct tmc_ordering_ops {
  uint32_t struct_size;               /* sizeof(tmc_ordering_ops) */
  const char* name;                   /* the manifest's ordering name */
  const char* const* param_names;     /* NULL-terminated; may be NULL (no parameters) */
  const char* const* param_defaults;  /* same length as param_names */
  /* One instance per inbound stream. Returns it, or NULL after writing a message to `error`.
   * `params` holds every declared parameter (defaults merged). */
  void* (*create)(const tmc_module_param* params, size_t param_count, char* error, size_t error_size);
  /* A message completed: returns TMC_ORDER_DELIVER, TMC_ORDER_HOLD or TMC_ORDER_DROP. */
  uint32_t (*on_message)(void* instance, const tmc_ordering_message* message, tmc_ordering_state* state);
  /* Hands back one held message: writes its handle and returns TMC_ORDER_DELIVER or
   * TMC_ORDER_DROP, or returns TMC_ORDER_NONE when nothing is due. */
  uint32_t (*release)(void* instance, tmc_ordering_state* state, uint64_t* handle);
  /* The stream ends (its held messages are discarded by the host). */
  void (*destroy)(void* instance);
} tmc_ordering_ops;

typedef struct tmc_module_descriptor {
  uint32_t abi_version;   /* TMC_MODULE_ABI_VERSION the module was built with */
  uint32_t struct_size;   /* sizeof(tmc_module_descriptor) */
  const char* module_name;
  const char* module_version;
  const tmc_congestion_ops* const* congestion;  /* array of congestion_count pointers */
  size_t congestion_count;
  const tmc_ordering_ops* const* ordering;      /* version 2 (version 1: reserved, zero) */
  size_t ordering_count;                        /* version 2 (version 1: reserved, zero) */
  const void* reserved[2];                      /* zero */
} tmc_module_descriptor;

typedef const tmc_module_descriptor* (*tmc_module_init_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* TMC_MODULE_ABI_H */
