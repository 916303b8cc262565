// Shared state behind tmc::Completion: resolved once by the channel core, waited on by the
// application.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "tmc/channel.h"

namespace tmc {

struct Completion::State {
  mutable std::mutex mutex;
  mutable std::condition_variable resolved;
  SendStatus status = SendStatus::pending;
  std::vector<std::function<void(SendStatus)>> handlers;

  // First call wins; later calls are ignored. Handlers run on the calling thread, unlocked.
  void resolve(SendStatus outcome);
};

}  // namespace tmc
