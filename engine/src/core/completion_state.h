// Shared state behind tmc::Completion: resolved once by the channel core, waited on by the
// application.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <functional>
#include <mutex>
#include <vector>

#include "tmc/channel.h"

namespace tmc {

struct Completion::State {
  mutable std::mutex mutex;
  mutable std::condition_variable resolved;
  // Written once (pending -> outcome) under `mutex`; read without it once decided.
  std::atomic<SendStatus> status{SendStatus::pending};
  std::vector<std::function<void(SendStatus)>> handlers;

  // First call wins; later calls are ignored. Handlers run on the calling thread, unlocked.
  void resolve(SendStatus outcome);

  // A state decided from the start, shared by every completion with that outcome (an
  // unreliable send is delivered as soon as it is sent): no allocation per send. Never
  // pending, so nothing waits on it or adds a handler to it.
  static std::shared_ptr<State> decided(SendStatus outcome);
};

}  // namespace tmc
