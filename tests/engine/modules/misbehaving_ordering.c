/* A module that breaks the ordering contract on purpose, for tests/engine/module_ordering_test.cpp:
 * ordering "misbehaving" answers on_message with a verdict outside the ABI for every third
 * message (first_sequence % 3 == 0) and holds the others; release() hands back the latest held
 * handle and then, without end, a handle it never held (or, with `mode: repeat`, the same one
 * again). With `mode: past-timer` it holds everything, releases nothing and leaves its timer in
 * the past. The host must count these, drop nothing it should not, and never loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmc/module_abi.h"

typedef struct misbehaving {
  int repeat;
  int past_timer;
  uint64_t latest;  /* latest held handle, 0 = none */
  uint64_t released;
} misbehaving;

static void* bad_create(const tmc_module_param* params, size_t count, char* error, size_t error_size) {
  misbehaving* self = calloc(1, sizeof *self);
  if (!self) {
    snprintf(error, error_size, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < count; ++i)
    if (strcmp(params[i].key, "mode") == 0) {
      self->repeat = strcmp(params[i].value, "repeat") == 0;
      self->past_timer = strcmp(params[i].value, "past-timer") == 0;
    }
  return self;
}

static uint32_t bad_on_message(void* instance, const tmc_ordering_message* message, tmc_ordering_state* state) {
  misbehaving* self = instance;
  (void)state;
  if (self->past_timer) return TMC_ORDER_HOLD;
  if (message->first_sequence % 3 == 0) return 42;
  self->latest = message->handle;
  return TMC_ORDER_HOLD;
}

static uint32_t bad_release(void* instance, tmc_ordering_state* state, uint64_t* handle) {
  misbehaving* self = instance;
  if (self->past_timer) {
    state->timer_ns = state->now_ns;
    return TMC_ORDER_NONE;
  }
  if (self->latest != 0 && self->released != self->latest) {
    self->released = self->latest;
    *handle = self->latest;
    return TMC_ORDER_DELIVER;
  }
  *handle = self->repeat ? self->released : 1000000 + self->released;
  return TMC_ORDER_DELIVER;
}

static void bad_destroy(void* instance) { free(instance); }

static const char* const bad_param_names[] = {"mode", NULL};
static const char* const bad_param_defaults[] = {"unknown", NULL};

static const tmc_ordering_ops bad_ops = {
    .struct_size = sizeof(tmc_ordering_ops),
    .name = "misbehaving",
    .param_names = bad_param_names,
    .param_defaults = bad_param_defaults,
    .create = bad_create,
    .on_message = bad_on_message,
    .release = bad_release,
    .destroy = bad_destroy,
};

static const tmc_ordering_ops* const bad_orderings[] = {&bad_ops};

static const tmc_module_descriptor bad_descriptor = {
    .abi_version = TMC_MODULE_ABI_VERSION,
    .struct_size = sizeof(tmc_module_descriptor),
    .module_name = "misbehaving",
    .module_version = "0",
    .ordering = bad_orderings,
    .ordering_count = 1,
};

__attribute__((visibility("default"))) const tmc_module_descriptor* tmc_module_init(uint32_t host_abi_version) {
  (void)host_abi_version;
  return &bad_descriptor;
}
