#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>

namespace tmc::core {

void configure_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    // stderr, never stdout: inside a shimmed application stdout is the application's output.
    spdlog::set_default_logger(spdlog::stderr_color_mt("tmc"));
    const char* level = std::getenv("TMC_LOG");
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::err);
  });
}

}  // namespace tmc::core
