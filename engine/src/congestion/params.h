// Reads an algorithm's string parameters (manifest `params:` map) with defaults, and rejects
// unknown keys. Values: plain numbers, byte sizes ("64KiB", "1MB", 1500) and durations
// ("50us", "1.5ms", "2s"). Errors are CongestionConfigError naming the algorithm and the key.
#pragma once

#include <set>
#include <string>

#include "tmc/congestion.h"

namespace tmc::congestion {

class ParamReader {
 public:
  ParamReader(std::string algorithm, const CongestionParams& params)
      : algorithm_(std::move(algorithm)), params_(params) {}
  double number(const std::string& key, double fallback);
  std::uint64_t bytes(const std::string& key, std::uint64_t fallback);
  Duration duration(const std::string& key, Duration fallback);
  // Throws if a parameter was given that no number()/bytes()/duration() call asked for.
  void reject_unknown() const;

 private:
  const std::string* find(const std::string& key);
  [[noreturn]] void fail(const std::string& key, const std::string& why) const;
  std::string algorithm_;
  const CongestionParams& params_;
  std::set<std::string> known_;
};

// Shared unit parsers (throw std::invalid_argument with a short reason).
double parse_plain_number(const std::string& text);
std::uint64_t parse_bytes_value(const std::string& text);
Duration parse_duration_value(const std::string& text);

}  // namespace tmc::congestion
