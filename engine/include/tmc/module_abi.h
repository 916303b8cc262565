/* libTMC module ABI — new primitive implementations in shared objects (C, versioned).
 *
 * A module exports one symbol:
 *   const tmc_module_descriptor* tmc_module_init(uint32_t host_abi_version);
 * It returns NULL when it cannot serve `host_abi_version`, else a descriptor (static storage,
 * valid until the module is unloaded) whose abi_version equals TMC_MODULE_ABI_VERSION it was
 * built with. The host refuses any other version, with a message naming both.
 *
 * Version 1 carries congestion controllers (ordering primitives are reserved for version 2).
 * A congestion controller sees every event (packet sent / acked / lost / ECN) with the shared
 * transport state, and writes cwnd_bytes, ssthresh_bytes and pacing_rate_bytes_per_sec in it.
 * The host maintains bytes_in_flight and the RTT fields before each call.
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

#define TMC_MODULE_ABI_VERSION 1u
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

typedef struct tmc_module_descriptor {
  uint32_t abi_version;   /* TMC_MODULE_ABI_VERSION the module was built with */
  uint32_t struct_size;   /* sizeof(tmc_module_descriptor) */
  const char* module_name;
  const char* module_version;
  const tmc_congestion_ops* const* congestion;  /* array of congestion_count pointers */
  size_t congestion_count;
  const void* reserved[4]; /* zero: ordering primitives in a later ABI version */
} tmc_module_descriptor;

typedef const tmc_module_descriptor* (*tmc_module_init_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* TMC_MODULE_ABI_H */
