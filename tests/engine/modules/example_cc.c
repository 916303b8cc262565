/* Example libTMC module: one congestion controller, "example-aimd", behind the C ABI of
 * tmc/module_abi.h. Additive increase of one datagram per window acknowledged, multiplicative
 * decrease by `decrease_factor` on loss or ECN-CE, pacing at cwnd / smoothed RTT.
 *
 * Build variants for the tests: -DEXAMPLE_ABI_VERSION=N reports another ABI version in its
 * descriptor; -DEXAMPLE_REQUIRE_HOST_ABI=N refuses any host that does not speak N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmc/module_abi.h"

#ifndef EXAMPLE_ABI_VERSION
#define EXAMPLE_ABI_VERSION TMC_MODULE_ABI_VERSION
#endif

typedef struct example_aimd {
  double decrease_factor;
  uint64_t minimum_window;
  double acked_in_window;
} example_aimd;

static int live_instances = 0;

/* Exported for the test: how many controllers of this module are alive. */
__attribute__((visibility("default"))) int example_live_instances(void) { return live_instances; }

static const char* find_param(const tmc_module_param* params, size_t count, const char* key) {
  for (size_t i = 0; i < count; ++i)
    if (strcmp(params[i].key, key) == 0) return params[i].value;
  return NULL;
}

static void* example_create(const tmc_module_param* params, size_t count, tmc_cc_state* state, char* error,
                            size_t error_size) {
  const char* window_text = find_param(params, count, "initial_window_packets");
  const char* factor_text = find_param(params, count, "decrease_factor");
  char* end = NULL;
  double window = strtod(window_text ? window_text : "", &end);
  if (!window_text || *end != '\0' || window < 1) {
    snprintf(error, error_size, "initial_window_packets must be a number >= 1, got '%s'", window_text ? window_text : "");
    return NULL;
  }
  double factor = strtod(factor_text ? factor_text : "", &end);
  if (!factor_text || *end != '\0' || factor <= 0 || factor >= 1) {
    snprintf(error, error_size, "decrease_factor must be in (0, 1), got '%s'", factor_text ? factor_text : "");
    return NULL;
  }
  example_aimd* self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(error, error_size, "out of memory");
    return NULL;
  }
  self->decrease_factor = factor;
  self->minimum_window = 2 * state->max_datagram_bytes;
  state->cwnd_bytes = (uint64_t)(window * (double)state->max_datagram_bytes);
  state->ssthresh_bytes = state->cwnd_bytes;
  state->pacing_rate_bytes_per_sec = 0;
  ++live_instances;
  return self;
}

static void example_on_event(void* instance, const tmc_cc_event* event, tmc_cc_state* state) {
  example_aimd* self = instance;
  switch (event->kind) {
    case TMC_CC_ACK:
      self->acked_in_window += (double)event->bytes;
      if (self->acked_in_window >= (double)state->cwnd_bytes) {
        self->acked_in_window -= (double)state->cwnd_bytes;
        state->cwnd_bytes += state->max_datagram_bytes;
      }
      break;
    case TMC_CC_LOSS:
    case TMC_CC_ECN: {
      uint64_t reduced = (uint64_t)((double)state->cwnd_bytes * self->decrease_factor);
      state->cwnd_bytes = reduced > self->minimum_window ? reduced : self->minimum_window;
      state->ssthresh_bytes = state->cwnd_bytes;
      self->acked_in_window = 0;
      break;
    }
    default:
      break;
  }
  if (state->smoothed_rtt_ns > 0) state->pacing_rate_bytes_per_sec = (double)state->cwnd_bytes * 1e9 / (double)state->smoothed_rtt_ns;
}

static void example_destroy(void* instance) {
  free(instance);
  --live_instances;
}

static const char* const example_param_names[] = {"initial_window_packets", "decrease_factor", NULL};
static const char* const example_param_defaults[] = {"4", "0.5", NULL};

static const tmc_congestion_ops example_aimd_ops = {
    .struct_size = sizeof(tmc_congestion_ops),
    .name = "example-aimd",
    .param_names = example_param_names,
    .param_defaults = example_param_defaults,
    .create = example_create,
    .on_event = example_on_event,
    .destroy = example_destroy,
};

static const tmc_congestion_ops* const example_congestion[] = {&example_aimd_ops};

static const tmc_module_descriptor example_descriptor = {
    .abi_version = EXAMPLE_ABI_VERSION,
    .struct_size = sizeof(tmc_module_descriptor),
    .module_name = "example",
    .module_version = "1.0",
    .congestion = example_congestion,
    .congestion_count = 1,
    .reserved = {0},
};

__attribute__((visibility("default"))) const tmc_module_descriptor* tmc_module_init(uint32_t host_abi_version) {
#ifdef EXAMPLE_REQUIRE_HOST_ABI
  if (host_abi_version != EXAMPLE_REQUIRE_HOST_ABI) return NULL;
#else
  (void)host_abi_version;
#endif
  return &example_descriptor;
}
