#include "congestion/params.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace tmc::congestion {
namespace {

// Splits "1.5ms" into 1.5 and "ms"; throws on an empty or non-numeric prefix.
std::pair<double, std::string> split_number(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  double value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value)) throw std::invalid_argument("not a number: '" + text + "'");
  std::string unit(end);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
  return {value, unit};
}

}  // namespace

double parse_plain_number(const std::string& text) {
  auto [value, unit] = split_number(text);
  if (!unit.empty()) throw std::invalid_argument("unexpected unit '" + unit + "' in '" + text + "'");
  return value;
}

std::uint64_t parse_bytes_value(const std::string& text) {
  auto [value, unit] = split_number(text);
  static const std::pair<const char*, double> units[] = {
      {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
      {"KiB", 1024.0}, {"MiB", 1024.0 * 1024}, {"GiB", 1024.0 * 1024 * 1024}};
  for (const auto& [name, scale] : units) {
    if (unit == name) {
      if (value < 0) throw std::invalid_argument("negative size '" + text + "'");
      return static_cast<std::uint64_t>(std::llround(value * scale));
    }
  }
  throw std::invalid_argument("unknown size unit '" + unit + "' (B, KB, MB, GB, KiB, MiB, GiB)");
}

Duration parse_duration_value(const std::string& text) {
  auto [value, unit] = split_number(text);
  static const std::pair<const char*, double> units[] = {
      {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
  if (value < 0) throw std::invalid_argument("negative duration '" + text + "'");
  for (const auto& [name, scale] : units) {
    if (unit == name) return Duration(static_cast<std::int64_t>(std::llround(value * scale)));
  }
  throw std::invalid_argument("duration '" + text + "' needs a unit (ns, us, ms, s)");
}

const std::string* ParamReader::find(const std::string& key) {
  known_.insert(key);
  auto it = params_.find(key);
  return it == params_.end() ? nullptr : &it->second;
}

void ParamReader::fail(const std::string& key, const std::string& why) const {
  throw CongestionConfigError("congestion_control '" + algorithm_ + "': parameter '" + key + "': " + why);
}

double ParamReader::number(const std::string& key, double fallback) {
  const std::string* text = find(key);
  if (!text) return fallback;
  try {
    return parse_plain_number(*text);
  } catch (const std::invalid_argument& error) {
    fail(key, error.what());
  }
}

std::uint64_t ParamReader::bytes(const std::string& key, std::uint64_t fallback) {
  const std::string* text = find(key);
  if (!text) return fallback;
  try {
    return parse_bytes_value(*text);
  } catch (const std::invalid_argument& error) {
    fail(key, error.what());
  }
}

Duration ParamReader::duration(const std::string& key, Duration fallback) {
  const std::string* text = find(key);
  if (!text) return fallback;
  try {
    return parse_duration_value(*text);
  } catch (const std::invalid_argument& error) {
    fail(key, error.what());
  }
}

void ParamReader::reject_unknown() const {
  for (const auto& [key, value] : params_) {
    if (known_.count(key)) continue;
    std::string list;
    for (const auto& name : known_) list += (list.empty() ? "" : ", ") + name;
    throw CongestionConfigError("congestion_control '" + algorithm_ + "': unknown parameter '" + key +
                                "' (known: " + (list.empty() ? "none" : list) + ")");
  }
}

}  // namespace tmc::congestion
