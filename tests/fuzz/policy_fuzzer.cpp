// libFuzzer target for the shim's policy loader (shim/src/policy/policy_yaml.cpp): any input
// must either load or throw tmc::ConfigError — never crash, hang or throw anything else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "policy/policy.h"
#include "tmc/manifest_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    // Under a directory that does not exist, so relative manifest file references never load.
    auto policy = tmc::shim::parse_policy(text, "/nonexistent-tmc-fuzz/policy.yaml");
    // Exercise matching on every rule.
    tmc::shim::InetEndpoint endpoint{*tmc::shim::parse_ip("10.1.2.3"), 80};
    for (auto role : {tmc::shim::Role::tcp_client, tmc::shim::Role::tcp_server, tmc::shim::Role::udp_sender,
                      tmc::shim::Role::udp_receiver}) {
      (void)policy.match(role, endpoint, "fuzz");
    }
  } catch (const tmc::ConfigError&) {
  }
  return 0;
}
