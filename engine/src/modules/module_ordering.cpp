#include "modules/module_ordering.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "modules/module_manager.h"
#include "tmc/wire_format.h"

namespace tmc {
namespace {

std::int64_t to_ns(core::TimePoint time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

}  // namespace

ModuleOrdering::ModuleOrdering(std::shared_ptr<const LoadedModule> module, const tmc_ordering_ops* ops, void* instance,
                               std::uint32_t sender_id, std::uint16_t stream)
    : module_(std::move(module)), ops_(ops), instance_(instance), sender_id_(sender_id), stream_(stream) {}

ModuleOrdering::~ModuleOrdering() {
  held_.clear();  // the host's bytes; the module only knew their handles
  ops_->destroy(instance_);
}

tmc_ordering_state ModuleOrdering::state_at(std::uint64_t cumulative, core::TimePoint now) const {
  tmc_ordering_state state{};
  state.now_ns = to_ns(now);
  state.cumulative = cumulative;
  state.held = held_.size();
  state.timer_ns = timer_ns_;
  return state;
}

void ModuleOrdering::on_message(core::CompleteMessage&& message, std::uint64_t cumulative, bool late,
                                core::TimePoint now, std::vector<core::CompleteMessage>& out) {
  if (!(message.flags & TMC_FLAG_ORDERED) || (message.flags & TMC_FLAG_TOTAL_ORDER)) {
    out.push_back(std::move(message));  // not the module's: ordering none, or the sequencer's
    return;
  }
  tmc_ordering_message view{};
  view.handle = next_handle_++;
  view.sender_id = sender_id_;
  view.stream = stream_;
  view.flags = message.flags;
  view.first_sequence = message.first_sequence;
  view.fragment_count = message.fragment_count;
  view.length = static_cast<std::uint32_t>(message.payload.size());
  view.late = late ? 1u : 0u;
  tmc_ordering_state state = state_at(cumulative, now);
  const std::uint32_t verdict = ops_->on_message(instance_, &view, &state);
  timer_ns_ = state.timer_ns;
  last_cumulative_ = cumulative;
  switch (verdict) {
    case TMC_ORDER_DELIVER: out.push_back(std::move(message)); break;
    case TMC_ORDER_HOLD: held_.emplace(view.handle, std::move(message)); break;
    case TMC_ORDER_DROP: ++dropped_; break;
    default:
      ++dropped_;
      report_error(fmt::format("on_message returned verdict {}; message dropped", verdict));
      break;
  }
  state.held = held_.size();
  release_due(state, out);
}

void ModuleOrdering::on_progress(std::uint64_t cumulative, core::TimePoint now, std::vector<core::CompleteMessage>& out) {
  const bool timer_due = timer_ns_ != 0 && to_ns(now) >= timer_ns_;
  if (cumulative == last_cumulative_ && !timer_due) return;
  last_cumulative_ = cumulative;
  tmc_ordering_state state = state_at(cumulative, now);
  release_due(state, out);
}

void ModuleOrdering::release_due(tmc_ordering_state& state, std::vector<core::CompleteMessage>& out) {
  release_round(state, out);
  if (timer_ns_ != 0 && timer_ns_ <= state.now_ns) {  // would wake the channel at once, forever
    timer_ns_ = 0;
    report_error("timer_ns left in the past after a release round; timer cleared");
  }
}

void ModuleOrdering::release_round(tmc_ordering_state& state, std::vector<core::CompleteMessage>& out) {
  // Every valid answer but NONE removes one held message: held + 1 calls end any round.
  for (std::size_t round = held_.size() + 1; round > 0; --round) {
    std::uint64_t handle = 0;
    const std::uint32_t verdict = ops_->release(instance_, &state, &handle);
    timer_ns_ = state.timer_ns;
    if (verdict == TMC_ORDER_NONE) return;
    auto it = held_.find(handle);
    if (it == held_.end() || (verdict != TMC_ORDER_DELIVER && verdict != TMC_ORDER_DROP)) {
      report_error(fmt::format("release returned verdict {} for handle {} ({}held)", verdict, handle,
                               it == held_.end() ? "not " : ""));
      return;
    }
    if (verdict == TMC_ORDER_DELIVER) out.push_back(std::move(it->second));
    else ++dropped_;
    held_.erase(it);
    state.held = held_.size();
  }
  report_error("still releasing after every held message went out");
}

// Counted every time; logged as a warning once per stream (a broken module would flood the log).
void ModuleOrdering::report_error(const std::string& what) {
  if (++module_errors_ == 1)
    SPDLOG_WARN("ordering '{}' (module {}), sender {:08x} stream {}: {} (further errors at debug level)", ops_->name,
                module_->path(), sender_id_, stream_, what);
  else
    SPDLOG_DEBUG("ordering '{}' (module {}): {}", ops_->name, module_->path(), what);
}

core::TimePoint ModuleOrdering::next_timer() const {
  if (timer_ns_ == 0) return core::kNever;
  return core::TimePoint(std::chrono::nanoseconds(timer_ns_));
}

std::map<std::string, std::string> merge_ordering_params(const LoadedModule& module, const tmc_ordering_ops& ops,
                                                         const std::map<std::string, std::string>& params) {
  std::map<std::string, std::string> merged;
  std::string known;
  for (std::size_t i = 0; ops.param_names && ops.param_names[i]; ++i) {
    merged[ops.param_names[i]] = ops.param_defaults && ops.param_defaults[i] ? ops.param_defaults[i] : "";
    known += (known.empty() ? "" : ", ") + std::string(ops.param_names[i]);
  }
  for (const auto& [key, value] : params) {
    if (!merged.count(key))
      throw std::invalid_argument("ordering '" + std::string(ops.name) + "' (module " + module.path() +
                                  "): unknown parameter '" + key + "' (known: " + (known.empty() ? "none" : known) + ")");
    merged[key] = value;
  }
  return merged;
}

}  // namespace tmc
