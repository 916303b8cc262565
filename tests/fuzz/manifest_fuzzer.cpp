// libFuzzer target for the manifest loader. Contract under test: parse_manifest either returns a
// Manifest or throws tmc::ConfigError — any other exception, crash, leak or sanitizer report is a
// bug. A manifest that loads must also survive a round trip through manifest_to_yaml unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tmc/manifest_yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  tmc::Manifest manifest;
  try {
    manifest = tmc::parse_manifest(text, "fuzz.yaml");
  } catch (const tmc::ConfigError&) {
    return 0;  // rejected with a positioned message: fine
  }
  const std::string written = tmc::manifest_to_yaml(manifest);
  try {
    if (tmc::parse_manifest(written, "written.yaml") == manifest) return 0;
    std::fprintf(stderr, "round trip changed the manifest:\n%s\n", written.c_str());
  } catch (const tmc::ConfigError& error) {
    std::fprintf(stderr, "written manifest does not load: %s\n%s\n", error.what(), written.c_str());
  }
  std::abort();
}
