#include "modules/module_manager.h"

#include <dlfcn.h>

#include <cstddef>

#include <algorithm>

#include "modules/module_ordering.h"

namespace tmc {
namespace {

std::int64_t to_ns(TimePoint time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

class ModuleCongestionController final : public CongestionController {
 public:
  ModuleCongestionController(std::shared_ptr<const LoadedModule> module, const tmc_congestion_ops* ops,
                             TransportState& state, void* instance)
      : CongestionController(state), module_(std::move(module)), ops_(ops), instance_(instance) {}
  ~ModuleCongestionController() override { ops_->destroy(instance_); }
  std::string_view name() const override { return ops_->name; }

 protected:
  void handle_sent(const PacketSent& event) override {
    tmc_cc_event out = make(TMC_CC_PACKET_SENT, event.now);
    out.bytes = event.bytes;
    out.count = 1;
    dispatch(out);
  }
  void handle_ack(const AckEvent& event) override {
    tmc_cc_event out = make(TMC_CC_ACK, event.now);
    out.bytes = event.bytes_acked;
    out.rtt_sample_ns = event.rtt_sample.count();
    out.packet_sent_time_ns = to_ns(event.largest_acked_sent_time);
    dispatch(out);
  }
  void handle_loss(const LossEvent& event) override {
    tmc_cc_event out = make(TMC_CC_LOSS, event.now);
    out.persistent_congestion = event.persistent_congestion ? 1u : 0u;
    out.bytes = event.bytes_lost;
    out.count = event.packets_lost;
    out.packet_sent_time_ns = to_ns(event.largest_lost_sent_time);
    dispatch(out);
  }
  void handle_ecn(const EcnEvent& event) override {
    tmc_cc_event out = make(TMC_CC_ECN, event.now);
    out.count = event.ce_marks;
    out.packet_sent_time_ns = to_ns(event.largest_acked_sent_time);
    dispatch(out);
  }

 private:
  static tmc_cc_event make(std::uint32_t kind, TimePoint now) {
    tmc_cc_event event{};
    event.kind = kind;
    event.now_ns = to_ns(now);
    return event;
  }
  void dispatch(const tmc_cc_event& event) {
    tmc_cc_state view = export_state(state_);
    ops_->on_event(instance_, &event, &view);
    import_state(view, state_);
  }

 public:
  static tmc_cc_state export_state(const TransportState& state) {
    tmc_cc_state view{};
    view.max_datagram_bytes = state.max_datagram_bytes;
    view.bytes_in_flight = state.bytes_in_flight;
    view.latest_rtt_ns = state.latest_rtt.count();
    view.smoothed_rtt_ns = state.smoothed_rtt.count();
    view.min_rtt_ns = state.min_rtt.count();
    view.cwnd_bytes = state.cwnd_bytes;
    view.ssthresh_bytes = state.ssthresh_bytes;
    view.pacing_rate_bytes_per_sec = state.pacing_rate_bytes_per_sec;
    return view;
  }
  static void import_state(const tmc_cc_state& view, TransportState& state) {
    if (view.cwnd_bytes < state.cwnd_bytes && view.cwnd_bytes != kUnlimitedWindow) ++state.congestion_events;
    state.cwnd_bytes = std::max<std::uint64_t>(view.cwnd_bytes, 1);
    state.ssthresh_bytes = view.ssthresh_bytes;
    state.pacing_rate_bytes_per_sec = view.pacing_rate_bytes_per_sec > 0 ? view.pacing_rate_bytes_per_sec : 0;
  }

 private:
  std::shared_ptr<const LoadedModule> module_;  // keeps the code mapped
  const tmc_congestion_ops* ops_;
  void* instance_;
};

std::string describe_version(std::uint32_t version) { return std::to_string(version); }

// "2 and 1": the versions this host speaks, newest first.
std::string spoken_versions() {
  std::string text;
  for (std::uint32_t v = TMC_MODULE_ABI_VERSION; v >= TMC_MODULE_ABI_VERSION_OLDEST && v > 0; --v)
    text += (text.empty() ? "" : v == TMC_MODULE_ABI_VERSION_OLDEST ? " and " : ", ") + describe_version(v);
  return text;
}

// Version 2 fills two slots version 1 reserved; nothing moved.
static_assert(sizeof(void*) != 8 || sizeof(tmc_module_descriptor) == 72, "the descriptor keeps version 1's layout");
static_assert(offsetof(tmc_module_descriptor, ordering) == offsetof(tmc_module_descriptor, congestion_count) + sizeof(size_t));

}  // namespace

LoadedModule::LoadedModule(std::string path, void* handle, const tmc_module_descriptor* descriptor)
    : path_(std::move(path)), handle_(handle), descriptor_(descriptor) {}

LoadedModule::~LoadedModule() {
  if (handle_) dlclose(handle_);
}

std::vector<std::string> LoadedModule::congestion_controllers() const {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < descriptor_->congestion_count; ++i) names.push_back(descriptor_->congestion[i]->name);
  return names;
}

const tmc_congestion_ops* LoadedModule::find_congestion(const std::string& name) const {
  for (std::size_t i = 0; i < descriptor_->congestion_count; ++i)
    if (name == descriptor_->congestion[i]->name) return descriptor_->congestion[i];
  return nullptr;
}

// A version-1 descriptor's ordering slots were reserved: never read.
std::vector<std::string> LoadedModule::orderings() const {
  std::vector<std::string> names;
  if (descriptor_->abi_version < 2) return names;
  for (std::size_t i = 0; i < descriptor_->ordering_count; ++i) names.push_back(descriptor_->ordering[i]->name);
  return names;
}

const tmc_ordering_ops* LoadedModule::find_ordering(const std::string& name) const {
  if (descriptor_->abi_version < 2) return nullptr;
  for (std::size_t i = 0; i < descriptor_->ordering_count; ++i)
    if (name == descriptor_->ordering[i]->name) return descriptor_->ordering[i];
  return nullptr;
}

std::unique_ptr<CongestionController> make_module_congestion_controller(std::shared_ptr<const LoadedModule> module,
                                                                       const tmc_congestion_ops* ops,
                                                                       TransportState& state,
                                                                       const CongestionParams& params) {
  // Declared parameters with their defaults; unknown keys are refused.
  std::map<std::string, std::string> merged;
  std::string known;
  for (std::size_t i = 0; ops->param_names && ops->param_names[i]; ++i) {
    merged[ops->param_names[i]] = ops->param_defaults && ops->param_defaults[i] ? ops->param_defaults[i] : "";
    known += (known.empty() ? "" : ", ") + std::string(ops->param_names[i]);
  }
  for (const auto& [key, value] : params) {
    if (!merged.count(key))
      throw CongestionConfigError("congestion_control '" + std::string(ops->name) + "' (module " + module->path() +
                                  "): unknown parameter '" + key + "' (known: " + (known.empty() ? "none" : known) + ")");
    merged[key] = value;
  }
  std::vector<tmc_module_param> list;
  for (const auto& [key, value] : merged) list.push_back({key.c_str(), value.c_str()});
  tmc_cc_state view = ModuleCongestionController::export_state(state);
  char error[256] = {0};
  void* instance = ops->create(list.data(), list.size(), &view, error, sizeof error);
  if (!instance) {
    error[sizeof error - 1] = 0;
    throw CongestionConfigError("congestion_control '" + std::string(ops->name) + "' (module " + module->path() +
                                "): " + (error[0] ? error : "create() failed"));
  }
  ModuleCongestionController::import_state(view, state);
  state.congestion_events = 0;
  return std::make_unique<ModuleCongestionController>(std::move(module), ops, state, instance);
}

ModuleManager::ModuleManager(CongestionControllerRegistry& registry) : registry_(registry) {}

ModuleManager::~ModuleManager() {
  std::vector<std::string> paths = loaded();
  for (const auto& path : paths) unload(path);
}

ModuleManager& ModuleManager::global() {
  static ModuleManager* manager = new ModuleManager(CongestionControllerRegistry::global());  // never unmapped at exit
  return *manager;
}

std::shared_ptr<const LoadedModule> ModuleManager::load(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (auto it = modules_.find(path); it != modules_.end()) return it->second;
  auto fail = [&](const std::string& why) -> ModuleError { return ModuleError("module " + path + ": " + why); };

  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* reason = dlerror();
    throw fail(std::string("cannot load: ") + (reason ? reason : "unknown error"));
  }
  // From here on the module is closed by LoadedModule's destructor on every error path.
  auto init = reinterpret_cast<tmc_module_init_fn>(dlsym(handle, TMC_MODULE_INIT_SYMBOL));
  if (!init) {
    dlclose(handle);
    throw fail("not a TMC module (no " TMC_MODULE_INIT_SYMBOL " symbol)");
  }
  // Newest version first; a module that cannot serve it (NULL) is offered the older ones.
  const tmc_module_descriptor* descriptor = nullptr;
  for (std::uint32_t offered = TMC_MODULE_ABI_VERSION; !descriptor && offered >= TMC_MODULE_ABI_VERSION_OLDEST && offered > 0;
       --offered)
    descriptor = init(offered);
  auto module = std::make_shared<LoadedModule>(path, handle, descriptor);
  if (!descriptor) throw fail("refused this host's module ABI versions " + spoken_versions());
  if (descriptor->abi_version < TMC_MODULE_ABI_VERSION_OLDEST || descriptor->abi_version > TMC_MODULE_ABI_VERSION)
    throw fail("incompatible module ABI version " + describe_version(descriptor->abi_version) + " (this libtmc speaks " +
               spoken_versions() + ")");
  if (descriptor->struct_size < sizeof(tmc_module_descriptor)) throw fail("malformed descriptor (struct_size too small)");
  if (descriptor->congestion_count > 0 && !descriptor->congestion) throw fail("malformed descriptor (no congestion table)");
  if (descriptor->abi_version >= 2) {
    if (descriptor->ordering_count > 0 && !descriptor->ordering) throw fail("malformed descriptor (no ordering table)");
    for (std::size_t i = 0; i < descriptor->ordering_count; ++i) {
      const tmc_ordering_ops* ops = descriptor->ordering[i];
      if (!ops || ops->struct_size < sizeof(tmc_ordering_ops) || !ops->name || !ops->name[0] || !ops->create ||
          !ops->on_message || !ops->release || !ops->destroy)
        throw fail("malformed ordering entry " + std::to_string(i));
      if (ops->param_names && !ops->param_defaults)
        throw fail(std::string("ordering '") + ops->name + "' declares parameters without defaults");
      for (std::size_t k = 0; k < i; ++k)
        if (std::string(ops->name) == descriptor->ordering[k]->name)
          throw fail(std::string("ordering '") + ops->name + "' is listed twice");
    }
  }
  for (std::size_t i = 0; i < descriptor->congestion_count; ++i) {
    const tmc_congestion_ops* ops = descriptor->congestion[i];
    if (!ops || ops->struct_size < sizeof(tmc_congestion_ops) || !ops->name || !ops->name[0] || !ops->create ||
        !ops->on_event || !ops->destroy)
      throw fail("malformed congestion controller entry " + std::to_string(i));
    if (ops->param_names && !ops->param_defaults)
      throw fail(std::string("congestion controller '") + ops->name + "' declares parameters without defaults");
    if (registry_.contains(ops->name))
      throw fail(std::string("congestion controller '") + ops->name + "' is already registered");
  }
  std::vector<std::string> names;
  try {
    for (std::size_t i = 0; i < descriptor->congestion_count; ++i) {
      const tmc_congestion_ops* ops = descriptor->congestion[i];
      std::shared_ptr<const LoadedModule> shared = module;
      registry_.add(ops->name, [shared, ops](TransportState& state, const CongestionParams& params) {
        return make_module_congestion_controller(shared, ops, state, params);
      });
      names.push_back(ops->name);
    }
  } catch (const CongestionConfigError& error) {
    for (const auto& name : names) registry_.remove(name);
    throw fail(error.what());
  }
  registered_names_[path] = names;
  modules_[path] = module;
  return module;
}

bool ModuleManager::unload(const std::string& path) {
  std::lock_guard lock(mutex_);
  auto it = modules_.find(path);
  if (it == modules_.end()) return false;
  for (const auto& name : registered_names_[path]) registry_.remove(name);  // drops the factories' references
  registered_names_.erase(path);
  modules_.erase(it);
  return true;
}

std::vector<std::string> ModuleManager::loaded() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> paths;
  for (const auto& [path, module] : modules_) paths.push_back(path);
  return paths;
}

std::unique_ptr<CongestionController> ModuleManager::create_congestion_controller(const CongestionControl& config,
                                                                                  TransportState& state) {
  if (config.module.empty()) return registry_.create(config.algorithm, state, config.params);
  auto module = load(config.module);
  const tmc_congestion_ops* ops = module->find_congestion(config.algorithm);
  if (!ops) {
    std::string list;
    for (const auto& name : module->congestion_controllers()) list += (list.empty() ? "" : ", ") + name;
    throw ModuleError("module " + config.module + " provides no congestion controller '" + config.algorithm +
                      "' (it provides: " + (list.empty() ? "none" : list) + ")");
  }
  return make_module_congestion_controller(module, ops, state, config.params);
}

ModuleManager::OrderingFactory ModuleManager::ordering_factory(const OrderingModule& config) {
  auto module = load(config.module);
  const tmc_ordering_ops* ops = module->find_ordering(config.name);
  if (!ops) {
    std::string list;
    for (const auto& name : module->orderings()) list += (list.empty() ? "" : ", ") + name;
    throw ModuleError("module " + config.module + " provides no ordering '" + config.name + "' (it provides: " +
                      (list.empty() ? "none" : list) + ")" +
                      (module->descriptor().abi_version < 2 ? "; ABI version 1 modules carry no orderings" : ""));
  }
  auto merged = std::make_shared<const std::map<std::string, std::string>>(merge_ordering_params(*module, *ops, config.params));
  auto create = [module, ops, merged](std::uint32_t sender_id, std::uint16_t stream) -> std::unique_ptr<core::ReceiveOrdering> {
    std::vector<tmc_module_param> list;
    for (const auto& [key, value] : *merged) list.push_back({key.c_str(), value.c_str()});
    char error[256] = {0};
    void* instance = ops->create(list.data(), list.size(), error, sizeof error);
    if (!instance) {
      error[sizeof error - 1] = 0;
      throw std::invalid_argument("ordering '" + std::string(ops->name) + "' (module " + module->path() +
                                  "): " + (error[0] ? error : "create() failed"));
    }
    return std::make_unique<ModuleOrdering>(module, ops, instance, sender_id, stream);
  };
  create(0, 0);  // the probe: the module judges the parameter values now, not at the first packet
  return create;
}

std::unique_ptr<CongestionController> create_congestion_controller(const CongestionControl& config,
                                                                  TransportState& state) {
  return ModuleManager::global().create_congestion_controller(config, state);
}

}  // namespace tmc
