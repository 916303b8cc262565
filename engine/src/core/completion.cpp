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
    if (status != SendStatus::pending) return;
    status = outcome;
    to_run.swap(handlers);
  }
  resolved.notify_all();
  for (auto& handler : to_run) handler(outcome);
}

Completion::Completion() : state_(std::make_shared<State>()) {}
Completion::Completion(std::shared_ptr<State> state) : state_(std::move(state)) {}

SendStatus Completion::status() const {
  std::lock_guard lock(state_->mutex);
  return state_->status;
}

SendStatus Completion::wait() const {
  std::unique_lock lock(state_->mutex);
  state_->resolved.wait(lock, [&] { return state_->status != SendStatus::pending; });
  return state_->status;
}

SendStatus Completion::wait_for(Duration timeout) const {
  std::unique_lock lock(state_->mutex);
  state_->resolved.wait_for(lock, timeout, [&] { return state_->status != SendStatus::pending; });
  return state_->status;
}

void Completion::on_complete(std::function<void(SendStatus)> handler) const {
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
