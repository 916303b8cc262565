/* Example libTMC module: one ordering primitive, "reorder-window", behind the C ABI of
 * tmc/module_abi.h (version 2).
 *
 * Policy, per inbound stream: deliver in sequence order, waiting a bounded while for gaps.
 *  - `next` is the sequence after the latest delivered message. A message below it is dropped
 *    (it arrived after the window moved past it). Before the first delivery the first message
 *    sets it (a reliable one only once nothing before it is missing).
 *  - A message is due when it starts at `next`, or (reliable, TMC_FLAG_ACK_REQUESTED) when
 *    the cumulative point passed it: whatever is missing before it was abandoned by the sender.
 *    Due messages go out lowest first; the rest are held.
 *  - At most `window` messages are held: one more makes the lowest due (the gap before it is
 *    given up). A message held `max_hold_us` microseconds becomes due the same way (the timer;
 *    0 = no timer).
 * So deliveries are strictly ascending, and every message is delivered or dropped, never lost.
 *
 * Build variants for the tests: -DEXAMPLE_ABI_VERSION=N reports another ABI version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmc/module_abi.h"
#include "tmc/wire_format.h"

#ifndef EXAMPLE_ABI_VERSION
#define EXAMPLE_ABI_VERSION TMC_MODULE_ABI_VERSION
#endif

typedef struct held_message {
  uint64_t handle;
  uint64_t first;
  uint32_t count;
  int reliable;
  int64_t since_ns;
} held_message;

typedef struct reorder_window {
  uint32_t window;
  int64_t max_hold_ns;
  int started;    /* `next` is known */
  uint64_t next;  /* sequence after the latest delivered message */
  size_t held_count;
  held_message* held; /* ascending by first; capacity window + 1 */
} reorder_window;

static int live_instances = 0;

/* Exported for the tests: how many instances of this module are alive. */
__attribute__((visibility("default"))) int example_ordering_live_instances(void) { return live_instances; }

static const char* find_param(const tmc_module_param* params, size_t count, const char* key) {
  for (size_t i = 0; i < count; ++i)
    if (strcmp(params[i].key, key) == 0) return params[i].value;
  return NULL;
}

static int parse_unsigned(const char* text, unsigned long long minimum, unsigned long long maximum,
                          unsigned long long* out) {
  if (!text || !*text || text[0] == '-') return 0;
  char* end = NULL;
  unsigned long long value = strtoull(text, &end, 10);
  if (*end != '\0' || value < minimum || value > maximum) return 0;
  *out = value;
  return 1;
}

static void* window_create(const tmc_module_param* params, size_t count, char* error, size_t error_size) {
  const char* window_text = find_param(params, count, "window");
  const char* hold_text = find_param(params, count, "max_hold_us");
  unsigned long long window = 0, hold_us = 0;
  if (!parse_unsigned(window_text, 1, 65536, &window)) {
    snprintf(error, error_size, "window must be a whole number in 1..65536, got '%s'", window_text ? window_text : "");
    return NULL;
  }
  if (!parse_unsigned(hold_text, 0, 60000000ull, &hold_us)) {
    snprintf(error, error_size, "max_hold_us must be a whole number in 0..60000000, got '%s'", hold_text ? hold_text : "");
    return NULL;
  }
  reorder_window* self = calloc(1, sizeof *self);
  held_message* held = calloc((size_t)window + 1, sizeof *held);
  if (!self || !held) {
    free(self);
    free(held);
    snprintf(error, error_size, "out of memory");
    return NULL;
  }
  self->window = (uint32_t)window;
  self->max_hold_ns = (int64_t)hold_us * 1000;
  self->held = held;
  ++live_instances;
  return self;
}

static void window_destroy(void* instance) {
  reorder_window* self = instance;
  free(self->held);
  free(self);
  --live_instances;
}

static void update_timer(const reorder_window* self, tmc_ordering_state* state) {
  state->timer_ns = 0;
  if (self->max_hold_ns == 0) return;
  for (size_t i = 0; i < self->held_count; ++i) {
    const int64_t due = self->held[i].since_ns + self->max_hold_ns;
    if (state->timer_ns == 0 || due < state->timer_ns) state->timer_ns = due;
  }
}

static uint32_t window_on_message(void* instance, const tmc_ordering_message* message, tmc_ordering_state* state) {
  reorder_window* self = instance;
  const int reliable = (message->flags & TMC_FLAG_ACK_REQUESTED) != 0;
  if (self->started && message->first_sequence < self->next) return TMC_ORDER_DROP;
  if (!self->started && !reliable && self->held_count == 0) {
    self->started = 1;
    self->next = message->first_sequence + message->fragment_count;
    return TMC_ORDER_DELIVER;
  }
  if (self->started && message->first_sequence == self->next && self->held_count == 0) {
    self->next += message->fragment_count;
    return TMC_ORDER_DELIVER;
  }
  /* Hold it in sequence order (release() decides; a copy of a held message is dropped). */
  size_t at = 0;
  while (at < self->held_count && self->held[at].first < message->first_sequence) ++at;
  if (at < self->held_count && self->held[at].first == message->first_sequence) return TMC_ORDER_DROP;
  memmove(&self->held[at + 1], &self->held[at], (self->held_count - at) * sizeof *self->held);
  self->held[at] = (held_message){message->handle, message->first_sequence, message->fragment_count, reliable,
                                  state->now_ns};
  ++self->held_count;
  update_timer(self, state);
  return TMC_ORDER_HOLD;
}

static uint32_t window_release(void* instance, tmc_ordering_state* state, uint64_t* handle) {
  reorder_window* self = instance;
  if (self->held_count == 0) {
    state->timer_ns = 0;
    return TMC_ORDER_NONE;
  }
  const held_message lowest = self->held[0];
  const int in_sequence = self->started && lowest.first == self->next;
  const int predecessors_settled = lowest.reliable && lowest.first < state->cumulative;
  const int overflow = self->held_count > self->window;
  const int expired = self->max_hold_ns != 0 && state->now_ns >= lowest.since_ns + self->max_hold_ns;
  if (!in_sequence && !predecessors_settled && !overflow && !expired) {
    update_timer(self, state);
    return TMC_ORDER_NONE;
  }
  memmove(&self->held[0], &self->held[1], (self->held_count - 1) * sizeof *self->held);
  --self->held_count;
  *handle = lowest.handle;
  if (self->started && lowest.first < self->next) return TMC_ORDER_DROP; /* defensive: never below next */
  self->started = 1;
  self->next = lowest.first + lowest.count;
  update_timer(self, state);
  return TMC_ORDER_DELIVER;
}

static const char* const window_param_names[] = {"window", "max_hold_us", NULL};
static const char* const window_param_defaults[] = {"8", "5000", NULL};

static const tmc_ordering_ops reorder_window_ops = {
    .struct_size = sizeof(tmc_ordering_ops),
    .name = "reorder-window",
    .param_names = window_param_names,
    .param_defaults = window_param_defaults,
    .create = window_create,
    .on_message = window_on_message,
    .release = window_release,
    .destroy = window_destroy,
};

static const tmc_ordering_ops* const example_orderings[] = {&reorder_window_ops};

static const tmc_module_descriptor example_descriptor = {
    .abi_version = EXAMPLE_ABI_VERSION,
    .struct_size = sizeof(tmc_module_descriptor),
    .module_name = "example-ordering",
    .module_version = "1.0",
    .congestion = NULL,
    .congestion_count = 0,
    .ordering = example_orderings,
    .ordering_count = 1,
    .reserved = {0},
};

__attribute__((visibility("default"))) const tmc_module_descriptor* tmc_module_init(uint32_t host_abi_version) {
  if (host_abi_version < 2) return NULL; /* orderings need version 2 */
  return &example_descriptor;
}
