// Shim logging through spdlog, quiet by default; TMC_LOG=debug|info|warn|error enables it.
// Messages go to stderr prefixed "tmc-shim[pid]".
#pragma once

#include <spdlog/spdlog.h>

namespace tmc::shim {

spdlog::logger& logger();

template <typename... Args>
void log_debug(spdlog::format_string_t<Args...> format, Args&&... args) {
  auto& log = logger();
  if (log.should_log(spdlog::level::debug)) log.debug(format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_info(spdlog::format_string_t<Args...> format, Args&&... args) {
  auto& log = logger();
  if (log.should_log(spdlog::level::info)) log.info(format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(spdlog::format_string_t<Args...> format, Args&&... args) {
  auto& log = logger();
  if (log.should_log(spdlog::level::warn)) log.warn(format, std::forward<Args>(args)...);
}

}  // namespace tmc::shim
