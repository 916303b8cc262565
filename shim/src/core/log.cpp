#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace tmc::shim {

spdlog::logger& logger() {
  // Never destroyed: interposed calls can log during exit.
  static spdlog::logger* instance = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto* log = new spdlog::logger("tmc-shim", sink);
    log->set_pattern("tmc-shim[%P] %l: %v");
    const char* level = std::getenv("TMC_LOG");
    log->set_level(level && *level ? spdlog::level::from_str(level) : spdlog::level::off);
    log->flush_on(spdlog::level::trace);
    return log;
  }();
  return *instance;
}

}  // namespace tmc::shim
