// Serves `tmc stats PID` (stats_protocol.h) from a shimmed process: one thread blocked in
// accept() on the abstract socket "@tmc-stats-<pid>", started with the bridge.
#pragma once

namespace tmc::shim {

// Starts the server for this process (idempotent per pid; a fork child starts its own).
void start_stats_server();

}  // namespace tmc::shim
