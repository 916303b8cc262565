// Module manager: loads primitive implementations from shared objects through the versioned C
// ABI of tmc/module_abi.h (dlopen RTLD_NOW | RTLD_LOCAL; versions 1 and 2), registers the
// congestion controllers they provide in a CongestionControllerRegistry and makes the ordering
// primitives (version 2) available to channels by (module path, name).
//
// Lifetime: a module stays mapped while the manager lists it or any controller created from it
// is alive (each holds a shared reference); the last one out calls dlclose.
//
// Integration: Channel construction (and Channel::update) calls
//   create_congestion_controller(manifest.congestion_control, transport_state)
// which loads `module` when set and throws ModuleError / CongestionConfigError with a clear
// message — the manifest load fails; nothing falls back silently. A manifest's
// `ordering: {module, name, params}` goes through ordering_factory(), which loads the module,
// checks the name and the parameters (and creates one probe instance) when the channel compiles
// the manifest, and returns what makes one ModuleOrdering per inbound stream.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <functional>

#include "core/receive_ordering.h"
#include "tmc/congestion.h"
#include "tmc/manifest.h"
#include "tmc/module_abi.h"

namespace tmc {

class ModuleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One dlopen()ed module; dlclose() on destruction.
class LoadedModule {
 public:
  LoadedModule(std::string path, void* handle, const tmc_module_descriptor* descriptor);
  ~LoadedModule();
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  const std::string& path() const { return path_; }
  std::string name() const { return descriptor_->module_name ? descriptor_->module_name : ""; }
  std::string version() const { return descriptor_->module_version ? descriptor_->module_version : ""; }
  const tmc_module_descriptor& descriptor() const { return *descriptor_; }
  std::vector<std::string> congestion_controllers() const;
  const tmc_congestion_ops* find_congestion(const std::string& name) const;
  // Ordering primitives (empty for a version-1 module).
  std::vector<std::string> orderings() const;
  const tmc_ordering_ops* find_ordering(const std::string& name) const;

 private:
  std::string path_;
  void* handle_;
  const tmc_module_descriptor* descriptor_;
};

class ModuleManager {
 public:
  explicit ModuleManager(CongestionControllerRegistry& registry);
  ~ModuleManager();  // unregisters everything it registered
  ModuleManager(const ModuleManager&) = delete;
  ModuleManager& operator=(const ModuleManager&) = delete;

  // Process-wide instance registering into CongestionControllerRegistry::global().
  static ModuleManager& global();

  // Loads `path` once (later calls return the same module). Throws ModuleError naming the path:
  // cannot be opened (dlerror), no tmc_module_init symbol, module refused every ABI version the
  // host speaks (2, then 1), a descriptor of another version, malformed descriptor, or a
  // congestion controller name already taken.
  std::shared_ptr<const LoadedModule> load(const std::string& path);
  // Unregisters its algorithms and drops the manager's reference (dlclose once no controller
  // from it is alive). False if not loaded.
  bool unload(const std::string& path);
  std::vector<std::string> loaded() const;

  // The controller a manifest's congestion_control asks for: module-provided when `module` is
  // set (the module must provide `algorithm`), built-in otherwise.
  std::unique_ptr<CongestionController> create_congestion_controller(const CongestionControl& config,
                                                                     TransportState& state);

  // A manifest's ordering module: loads it, finds `config.name` among its orderings, merges the
  // parameters over the declared defaults (unknown keys refused) and creates (then destroys) one
  // instance so the module validates the values. Throws ModuleError (load, name) or
  // std::invalid_argument (parameters), each naming the module. The factory makes the ordering
  // of one inbound stream (sender id, wire stream); it throws std::invalid_argument if the module's
  // create() fails there.
  using OrderingFactory = std::function<std::unique_ptr<core::ReceiveOrdering>(std::uint32_t sender_id, std::uint16_t stream)>;
  OrderingFactory ordering_factory(const OrderingModule& config);

 private:
  CongestionControllerRegistry& registry_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<LoadedModule>> modules_;     // by path
  std::map<std::string, std::vector<std::string>> registered_names_;  // path -> algorithm names
};

// A congestion controller implemented by a module (used by the registry factories).
std::unique_ptr<CongestionController> make_module_congestion_controller(std::shared_ptr<const LoadedModule> module,
                                                                       const tmc_congestion_ops* ops,
                                                                       TransportState& state,
                                                                       const CongestionParams& params);

// Shorthand for ModuleManager::global().create_congestion_controller().
std::unique_ptr<CongestionController> create_congestion_controller(const CongestionControl& config,
                                                                  TransportState& state);

}  // namespace tmc
