// Time in the sans-IO core: every primitive takes `now` as an argument and never reads a clock,
// so tests drive it with a mock time line (no sleeps).
#pragma once

#include <chrono>

namespace tmc::core {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::nanoseconds;
constexpr TimePoint kNever = TimePoint::max();

}  // namespace tmc::core
