// Module manager: the example module (tests/engine/modules/example_cc.c) loads, runs, unloads;
// version-1 modules still load (ABI versions 1 and 2); wrong ABI versions and non-modules are
// refused with clear messages.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "modules/module_manager.h"

using namespace std::chrono_literals;

namespace tmc {
namespace {

// Paths of the example module builds (tests/engine/modules/CMakeLists.txt builds them and
// passes the paths in).
class ModuleManagerTest : public ::testing::Test {
 protected:
  const char* good = TMC_EXAMPLE_MODULE;
  const char* v1 = TMC_EXAMPLE_MODULE_V1;
  const char* v1_strict = TMC_EXAMPLE_MODULE_V1_STRICT;
  const char* wrong_abi = TMC_EXAMPLE_MODULE_WRONG_ABI;
  const char* refuses_host = TMC_EXAMPLE_MODULE_REFUSES_HOST;
  const char* ordering = TMC_EXAMPLE_ORDERING_MODULE;
};

bool is_mapped(const char* path) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

int live_instances(const char* path) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (!handle) return -1;
  auto count = reinterpret_cast<int (*)()>(dlsym(handle, "example_live_instances"));
  int result = count ? count() : -2;
  dlclose(handle);
  return result;
}

CongestionControl config(std::string algorithm, std::string module = "", CongestionParams params = {}) {
  CongestionControl result;
  result.algorithm = std::move(algorithm);
  result.module = std::move(module);
  result.params = std::move(params);
  return result;
}

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "(no error)";
}

TEST_F(ModuleManagerTest, ExampleModuleLoadsRunsAndUnloads) {
  CongestionControllerRegistry registry;
  registry.add_builtins();
  {
    ModuleManager manager(registry);
    auto module = manager.load(good);
    EXPECT_EQ(module->name(), "example");
    EXPECT_EQ(module->version(), "1.0");
    EXPECT_EQ(module->congestion_controllers(), std::vector<std::string>{"example-aimd"});
    EXPECT_TRUE(registry.contains("example-aimd"));
    EXPECT_EQ(manager.load(good), module);  // loaded once
    module.reset();

    TransportState state;
    auto controller = manager.create_congestion_controller(
        config("example-aimd", good, {{"initial_window_packets", "6"}}), state);
    EXPECT_EQ(controller->name(), "example-aimd");
    EXPECT_EQ(live_instances(good), 1);
    EXPECT_EQ(state.cwnd_bytes, 6u * 1472);
    TimePoint now{};
    std::uint64_t sent = 0;
    while (controller->can_send(1472)) {
      controller->on_packet_sent({.now = now, .bytes = 1472});
      sent += 1472;
    }
    EXPECT_EQ(sent, 6u * 1472);
    controller->on_ack({.now = now + 100us, .bytes_acked = sent, .rtt_sample = 100us, .largest_acked_sent_time = now});
    EXPECT_EQ(state.cwnd_bytes, 7u * 1472);  // additive increase, written through the C ABI
    EXPECT_EQ(state.bytes_in_flight, 0u);
    EXPECT_DOUBLE_EQ(state.pacing_rate_bytes_per_sec, 7.0 * 1472 / 100e-6);
    controller->on_loss({.now = now + 200us, .bytes_lost = 1472, .largest_lost_sent_time = now});
    EXPECT_EQ(state.cwnd_bytes, 7u * 1472 / 2);  // default decrease_factor 0.5
    EXPECT_EQ(state.congestion_events, 1u);
    // The registry route (name only, module already loaded) reaches the same code.
    TransportState other;
    auto by_name = registry.create("example-aimd", other);
    EXPECT_EQ(other.cwnd_bytes, 4u * 1472);  // default initial_window_packets 4
    EXPECT_EQ(live_instances(good), 2);
    by_name.reset();

    // Unloading while a controller lives keeps the code mapped until the controller goes.
    EXPECT_TRUE(manager.unload(good));
    EXPECT_FALSE(registry.contains("example-aimd"));
    EXPECT_TRUE(is_mapped(good));
    controller->on_ack({.now = now + 300us, .bytes_acked = 1472, .rtt_sample = 100us});
    controller.reset();
    EXPECT_FALSE(is_mapped(good)) << "dlclose after the last controller";
    EXPECT_FALSE(manager.unload(good));
  }
  EXPECT_FALSE(registry.contains("example-aimd"));
}

TEST_F(ModuleManagerTest, ParametersAreCheckedAgainstTheModuleDeclaration) {
  CongestionControllerRegistry registry;
  ModuleManager manager(registry);
  TransportState state;
  EXPECT_EQ(message_of([&] {
              manager.create_congestion_controller(
                  config("example-aimd", good, {{"window", "3"}}), state);
            }),
            std::string("congestion_control 'example-aimd' (module ") + good +
                "): unknown parameter 'window' (known: initial_window_packets, decrease_factor)");
  EXPECT_EQ(message_of([&] {
              manager.create_congestion_controller(
                  config("example-aimd", good, {{"decrease_factor", "2"}}), state);
            }),
            std::string("congestion_control 'example-aimd' (module ") + good +
                "): decrease_factor must be in (0, 1), got '2'");
  EXPECT_EQ(message_of([&] {
              manager.create_congestion_controller(config("cubic", good), state);
            }),
            std::string("module ") + good +
                " provides no congestion controller 'cubic' (it provides: example-aimd)");
  EXPECT_EQ(live_instances(good), 0);
}

TEST_F(ModuleManagerTest, WrongAbiVersionIsRefusedAndUnmapped) {
  CongestionControllerRegistry registry;
  ModuleManager manager(registry);
  EXPECT_EQ(message_of([&] { manager.load(wrong_abi); }),
            std::string("module ") + wrong_abi + ": incompatible module ABI version 3 (this libtmc speaks 2 and 1)");
  EXPECT_FALSE(is_mapped(wrong_abi));
  EXPECT_TRUE(registry.names().empty());
  EXPECT_EQ(message_of([&] { manager.load(refuses_host); }),
            std::string("module ") + refuses_host + ": refused this host's module ABI versions 2 and 1");
  EXPECT_FALSE(is_mapped(refuses_host));
  EXPECT_TRUE(manager.loaded().empty());
}

// A module built against ABI version 1 (congestion controllers only; the ordering slots were
// reserved) loads and runs as before, whether it takes any host version or insists on 1.
TEST_F(ModuleManagerTest, VersionOneCongestionModulesStillLoad) {
  for (const char* path : {v1, v1_strict}) {
    CongestionControllerRegistry registry;
    ModuleManager manager(registry);
    auto module = manager.load(path);
    EXPECT_EQ(module->descriptor().abi_version, 1u) << path;
    EXPECT_EQ(module->congestion_controllers(), std::vector<std::string>{"example-aimd"});
    EXPECT_TRUE(module->orderings().empty());
    TransportState state;
    auto controller = manager.create_congestion_controller(config("example-aimd", path), state);
    EXPECT_EQ(state.cwnd_bytes, 4u * 1472);
    controller->on_loss({.now = TimePoint{} + 1ms, .bytes_lost = 1472, .largest_lost_sent_time = TimePoint{}});
    EXPECT_EQ(state.cwnd_bytes, 2u * 1472) << "the version-1 controller ran";
    // It carries no ordering primitives, and says why.
    EXPECT_EQ(message_of([&] { manager.ordering_factory({.module = path, .name = "reorder-window"}); }),
              std::string("module ") + path +
                  " provides no ordering 'reorder-window' (it provides: none); ABI version 1 modules carry no orderings");
    controller.reset();
    module.reset();
    EXPECT_TRUE(manager.unload(path));
    EXPECT_FALSE(is_mapped(path));
  }
}

// The current version: a module may carry orderings and no congestion controllers.
TEST_F(ModuleManagerTest, VersionTwoModuleListsItsOrderings) {
  CongestionControllerRegistry registry;
  ModuleManager manager(registry);
  auto module = manager.load(ordering);
  EXPECT_EQ(module->descriptor().abi_version, 2u);
  EXPECT_EQ(module->name(), "example-ordering");
  EXPECT_EQ(module->orderings(), std::vector<std::string>{"reorder-window"});
  EXPECT_TRUE(module->congestion_controllers().empty());
  EXPECT_NE(module->find_ordering("reorder-window"), nullptr);
  EXPECT_EQ(module->find_ordering("fifo"), nullptr);
  EXPECT_TRUE(registry.names().empty());
  TransportState state;
  EXPECT_EQ(message_of([&] { manager.create_congestion_controller(config("reorder-window", ordering), state); }),
            std::string("module ") + ordering + " provides no congestion controller 'reorder-window' (it provides: none)");
}

TEST_F(ModuleManagerTest, MissingFilesAndNonModulesFailClearly) {
  CongestionControllerRegistry registry;
  ModuleManager manager(registry);
  std::string missing = message_of([&] { manager.load("/nonexistent/libnothing.so"); });
  EXPECT_EQ(missing.rfind("module /nonexistent/libnothing.so: cannot load: ", 0), 0u) << missing;
  EXPECT_EQ(message_of([&] { manager.load("libm.so.6"); }), "module libm.so.6: not a TMC module (no tmc_module_init symbol)");
}

TEST_F(ModuleManagerTest, GlobalEntryPointServesBuiltinsAndModules) {
  TransportState builtin_state, module_state;
  EXPECT_EQ(create_congestion_controller(config("aimd"), builtin_state)->name(), "aimd");
  EXPECT_THROW(create_congestion_controller(config("nope"), builtin_state), CongestionConfigError);
  auto controller = create_congestion_controller(config("example-aimd", good), module_state);
  EXPECT_EQ(controller->name(), "example-aimd");
  controller.reset();
  EXPECT_TRUE(ModuleManager::global().unload(good));
}


}  // namespace
}  // namespace tmc
