// Manifest: merging per-message overrides over channel defaults, and the YAML spellings of the
// enumerations (the same words the loader accepts, see manifest_yaml.cpp and docs/manifest.md).
#include "tmc/manifest.h"

namespace tmc {

namespace {

// An override set on `self` replaces the whole feature; there is no field-by-field merge inside a
// feature (a per-message `reliability` replaces the channel's, timers included).
template <typename T>
std::optional<T> pick(const std::optional<T>& self, const std::optional<T>& defaults) {
  return self.has_value() ? self : defaults;
}

}  // namespace

Manifest Manifest::merged_over(const Manifest& defaults) const {
  Manifest merged;
  merged.channel = pick(channel, defaults.channel);
  merged.multicast = pick(multicast, defaults.multicast);
  merged.targets = pick(targets, defaults.targets);
  merged.ordering = pick(ordering, defaults.ordering);
  merged.ordering_module = ordering || ordering_module ? ordering_module : defaults.ordering_module;
  merged.reliability = pick(reliability, defaults.reliability);
  merged.error_checking = pick(error_checking, defaults.error_checking);
  merged.mtu = pick(mtu, defaults.mtu);
  merged.pacing = pick(pacing, defaults.pacing);
  merged.flow_control = pick(flow_control, defaults.flow_control);
  merged.congestion_control = pick(congestion_control, defaults.congestion_control);
  merged.synchronicity = pick(synchronicity, defaults.synchronicity);
  merged.duplexity = pick(duplexity, defaults.duplexity);
  merged.deadline = pick(deadline, defaults.deadline);
  merged.sequencer = pick(sequencer, defaults.sequencer);
  return merged;
}

const char* to_string(Ordering ordering) {
  switch (ordering) {
    case Ordering::none:
      return "none";
    case Ordering::fifo:
      return "fifo";
    case Ordering::fifo_drop_stale:
      return "fifo-drop-stale";
    case Ordering::total:
      return "total";
    case Ordering::module:
      return "module";
  }
  return "?";
}

const char* to_string(ErrorChecking error_checking) {
  switch (error_checking) {
    case ErrorChecking::none:
      return "none";
    case ErrorChecking::crc32c:
      return "crc32c";
  }
  return "?";
}

const char* to_string(Synchronicity synchronicity) {
  switch (synchronicity) {
    case Synchronicity::blocking:
      return "blocking";
    case Synchronicity::asynchronous:
      return "asynchronous";
  }
  return "?";
}

const char* to_string(Duplexity duplexity) {
  switch (duplexity) {
    case Duplexity::full:
      return "full";
    case Duplexity::half:
      return "half";
    case Duplexity::send_only:
      return "send-only";
    case Duplexity::receive_only:
      return "receive-only";
  }
  return "?";
}

}  // namespace tmc
