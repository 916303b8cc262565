// Engine logging setup: spdlog to stderr, quiet by default (errors only); TMC_LOG=debug|info|warn|error|off
// chooses the level. Called (once) before the engine logs anything.
#pragma once

namespace tmc::core {
void configure_logging();
}
