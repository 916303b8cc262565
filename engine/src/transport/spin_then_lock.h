// spin_then_lock: takes a mutex that is usually held only for a few microseconds by a thread
// running on another CPU — spinning briefly on try_lock before sleeping on the futex.
//
// Why: a channel's runtime thread wakes for a datagram and takes the channel mutex, often while
// an application thread is finishing a send under it (sendmmsg, timerfd_settime). Sleeping on
// the futex there costs one more context switch and wake-up on the request/response path (tens
// of microseconds on an idle VM); the holder is usually done within a few microseconds. The
// spin is bounded in time (a holder that was preempted is not waited for long; TMC_LOCK_SPIN_US
// tunes the bound, 0 turns it off) and skipped on a single-CPU machine, where the holder cannot make progress while we spin (the idea of
// glibc's PTHREAD_MUTEX_ADAPTIVE_NP, with an explicit time bound).
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace tmc::transport {

// Long enough for a send's critical section on a loopback/veth path, short against a wake-up.
inline constexpr core::Duration kLockSpin = std::chrono::microseconds(8);

// The spin bound of this process: kLockSpin, or TMC_LOCK_SPIN_US (0 turns spinning off; at
// most 1000), read once; 0 on a single-CPU machine.
inline core::Duration configured_lock_spin() {
  static const core::Duration spin = [] {
    if (std::thread::hardware_concurrency() <= 1) return core::Duration::zero();
    const char* text = std::getenv("TMC_LOCK_SPIN_US");
    if (!text || !*text) return core::Duration(kLockSpin);
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end != '\0' || value < 0) {
      SPDLOG_WARN("TMC_LOCK_SPIN_US='{}' is not a number of microseconds; using {} us", text, kLockSpin.count() / 1000);
      return core::Duration(kLockSpin);
    }
    return core::Duration(std::chrono::microseconds(std::min(value, 1000L)));
  }();
  return spin;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// `lock` is an unlocked unique_lock on its mutex; returns with it locked.
template <typename Mutex>
void spin_then_lock(std::unique_lock<Mutex>& lock, core::Duration spin = configured_lock_spin()) {
  if (lock.try_lock()) return;
  if (spin > core::Duration::zero()) {
    const core::TimePoint until = core::Clock::now() + spin;
    do {
      for (int i = 0; i < 16; ++i) cpu_relax();
      if (lock.try_lock()) return;
    } while (core::Clock::now() < until);
  }
  lock.lock();
}

}  // namespace tmc::transport
