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
    auto logger = spdlog::stderr_color_mt("tmc");
    // One reference is never released: spdlog's registry is a static destroyed at exit, while
    // the runtime thread (in a shimmed program it outlives main()) may still log through it.
    new std::shared_ptr<spdlog::logger>(logger);
    spdlog::set_default_logger(std::move(logger));
    const char* level = std::getenv("TMC_LOG");
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::err);
  });
}

}  // namespace tmc::core
