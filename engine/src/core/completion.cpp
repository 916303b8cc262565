#include "core/completion_state.h"

namespace tmc {

const char* to_string(SendStatus status) {
  switch (status) {
    case SendStatus::pending: return "pending";
    case SendStatus::delivered: return "delivered";
    case SendStatus::expired: return "expired";
    case SendStatus::failed: return "failed";
    case SendStatus::closed: return "closed";
    case SendStatus::refused: return "refused";
  }
  return "?";
}

void Completion::State::resolve(SendStatus outcome) {
  std::vector<std::function<void(SendStatus)>> to_run;
  {
    std::lock_guard lock(mutex);
    if (status.load(std::memory_order_relaxed) != SendStatus::pending) return;
    status.store(outcome, std::memory_order_release);
    to_run.swap(handlers);
  }
  resolved.notify_all();
  for (auto& handler : to_run) handler(outcome);
}

std::shared_ptr<Completion::State> Completion::State::decided(SendStatus outcome) {
  auto make = [](SendStatus status) {
    auto state = std::make_shared<State>();
    state->status = status;
    return state;
  };
  // Indexed by SendStatus; pending (0) has no shared state: each pending completion has its own.
  static const std::shared_ptr<State> kDecided[] = {nullptr,
                                                    make(SendStatus::delivered), make(SendStatus::expired),
                                                    make(SendStatus::failed),    make(SendStatus::closed),
                                                    make(SendStatus::refused)};
  static_assert(static_cast<int>(SendStatus::pending) == 0 && static_cast<int>(SendStatus::refused) == 5);
  if (outcome == SendStatus::pending) return std::make_shared<State>();
  return kDecided[static_cast<int>(outcome)];
}

Completion::Completion() : state_(std::make_shared<State>()) {}
Completion::Completion(std::shared_ptr<State> state) : state_(std::move(state)) {}

SendStatus Completion::status() const { return state_->status.load(std::memory_order_acquire); }

SendStatus Completion::wait() const {
  if (const SendStatus status = this->status(); status != SendStatus::pending) return status;
  std::unique_lock lock(state_->mutex);
  state_->resolved.wait(lock, [&] { return state_->status != SendStatus::pending; });
  return state_->status;
}

SendStatus Completion::wait_for(Duration timeout) const {
  if (const SendStatus status = this->status(); status != SendStatus::pending) return status;
  std::unique_lock lock(state_->mutex);
  state_->resolved.wait_for(lock, timeout, [&] { return state_->status != SendStatus::pending; });
  return state_->status;
}

void Completion::on_complete(std::function<void(SendStatus)> handler) const {
  if (const SendStatus status = this->status(); status != SendStatus::pending) return handler(status);
  {
    std::lock_guard lock(state_->mutex);
    if (state_->status == SendStatus::pending) {
      state_->handlers.push_back(std::move(handler));
      return;
    }
  }
  handler(state_->status);
}

}  // namespace tmc
