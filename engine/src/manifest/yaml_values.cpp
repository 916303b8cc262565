// ConfigError, error positions, and the scalar value parsers (durations, byte sizes, rates,
// fractions, integers). Numbers are decimal only ("1.5", "200"): no signs other than a leading
// '-' (reported as negative), no exponents, no hex, no inf/nan.
#include "yaml_values.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>

namespace tmc {

ConfigError::ConfigError(std::string file, int line, int column, const std::string& message)
    : std::runtime_error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(message) {}

void throw_at(const YAML::Node& node, const std::string& source, const std::string& message) {
  int line = 0;
  int column = 0;
  try {
    if (node.IsDefined()) {
      const YAML::Mark mark = node.Mark();
      if (!mark.is_null()) {  // yaml-cpp counts from 0
        line = mark.line + 1;
        column = mark.column + 1;
      }
    }
  } catch (const YAML::Exception&) {
    // An invalid node (looked up through a missing key) has no position: report 0:0.
  }
  throw ConfigError(source, line, column, message);
}

namespace yaml_detail {

std::string prefix(const std::string& label) { return label.empty() ? std::string() : label + ": "; }

std::string printable(const std::string& text) {
  static constexpr std::size_t kLimit = 60;
  std::string shown;
  for (std::size_t i = 0; i < text.size() && i < kLimit; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      shown += "\\x";
      shown += kHex[byte >> 4];
      shown += kHex[byte & 15];
    } else {
      shown += text[i];
    }
  }
  if (text.size() > kLimit) shown += "...";
  return shown;
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined()) return "nothing";
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return "'" + printable(node.Scalar()) + "'";
    default:
      return "nothing";
  }
}

namespace {

// A number with an optional unit: "1.5ms" -> {1.5, "ms"}; "-3" -> negative.
struct NumberText {
  bool negative = false;
  std::string_view integer_digits;   // before the '.', may be empty (".5")
  std::string_view fraction_digits;  // after the '.', empty when there is no '.'
  bool has_point = false;
  std::string_view unit;  // trimmed; empty when absent
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<NumberText> split_number(std::string_view text) {
  NumberText number;
  text = trim(text);
  std::size_t i = 0;
  if (i < text.size() && text[i] == '-') {
    number.negative = true;
    ++i;
  }
  const std::size_t integer_start = i;
  while (i < text.size() && is_digit(text[i])) ++i;
  number.integer_digits = text.substr(integer_start, i - integer_start);
  if (i < text.size() && text[i] == '.') {
    number.has_point = true;
    const std::size_t fraction_start = ++i;
    while (i < text.size() && is_digit(text[i])) ++i;
    number.fraction_digits = text.substr(fraction_start, i - fraction_start);
    if (number.fraction_digits.empty()) return std::nullopt;  // "1."
  }
  if (number.integer_digits.empty() && number.fraction_digits.empty()) return std::nullopt;
  number.unit = trim(text.substr(i));
  return number;
}

// The magnitude as a double (correctly rounded), nullopt when out of range.
std::optional<double> to_double(const NumberText& number) {
  std::string digits(number.integer_digits.empty() ? "0" : number.integer_digits);
  if (number.has_point) {
    digits += '.';
    digits += number.fraction_digits;
  }
  double value = 0;
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value, std::chars_format::fixed);
  if (error != std::errc() || end != digits.data() + digits.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// The magnitude as an exact integer, nullopt when it has a fraction or does not fit.
std::optional<std::uint64_t> to_integer(const NumberText& number) {
  if (number.has_point || number.integer_digits.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const char* begin = number.integer_digits.data();
  const char* end = begin + number.integer_digits.size();
  const auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

const std::string& scalar_or_throw(const YAML::Node& node, const std::string& source, const std::string& label,
                                   const std::string& expected) {
  if (!node.IsDefined() || !node.IsScalar()) {
    throw_at(node, source, prefix(label) + "expected " + expected + ", got " + describe(node));
  }
  return node.Scalar();
}

struct Unit {
  std::string_view name;
  double factor;
};

template <std::size_t N>
const Unit* find_unit(const Unit (&units)[N], std::string_view name) {
  for (const Unit& unit : units) {
    if (unit.name == name) return &unit;
  }
  return nullptr;
}

// Nanoseconds per unit.
constexpr Unit kDurationUnits[] = {
    {"ns", 1},   {"us", 1e3}, {"\xC2\xB5s", 1e3},  // µs
    {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"min", 60e9}, {"h", 3600e9},
};
constexpr const char* kDurationUnitList = "ns, us, ms, s, m (minutes), h";

// Bytes per unit (SI and IEC prefixes).
constexpr Unit kSizeUnits[] = {
    {"B", 1},     {"KB", 1e3},     {"kB", 1e3},        {"MB", 1e6},           {"GB", 1e9},
    {"TB", 1e12}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
};
constexpr const char* kSizeUnitList = "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB";

// Bytes per second per unit: bits (/8) and bytes, each with SI/IEC prefixes.
constexpr Unit kRateUnits[] = {
    {"bit", 1 / 8.0},
    {"bit/s", 1 / 8.0},
    {"bps", 1 / 8.0},
    {"kbit", 1e3 / 8},
    {"Kbit", 1e3 / 8},
    {"kbit/s", 1e3 / 8},
    {"Kbit/s", 1e3 / 8},
    {"kbps", 1e3 / 8},
    {"Kbps", 1e3 / 8},
    {"Mbit", 1e6 / 8},
    {"Mbit/s", 1e6 / 8},
    {"Mbps", 1e6 / 8},
    {"Gbit", 1e9 / 8},
    {"Gbit/s", 1e9 / 8},
    {"Gbps", 1e9 / 8},
    {"Tbit", 1e12 / 8},
    {"Tbit/s", 1e12 / 8},
    {"Tbps", 1e12 / 8},
    {"B/s", 1},
    {"KB/s", 1e3},
    {"kB/s", 1e3},
    {"MB/s", 1e6},
    {"GB/s", 1e9},
    {"TB/s", 1e12},
    {"KiB/s", 1024.0},
    {"MiB/s", 1048576.0},
    {"GiB/s", 1073741824.0},
    {"TiB/s", 1099511627776.0},
};
constexpr const char* kRateUnitList =
    "a number of bytes/s, or Kbit, Mbit, Gbit, Tbit (also Mbit/s, Mbps), or B/s, KB/s, MB/s, GB/s, "
    "KiB/s, MiB/s, GiB/s";

}  // namespace

Duration duration_at(const YAML::Node& node, const std::string& source, const std::string& label) {
  const std::string expected = "a duration such as 200us, 1.5ms or 2s";
  const std::string& raw = scalar_or_throw(node, source, label, expected);
  const std::optional<NumberText> number = split_number(raw);
  const std::string text = printable(raw);
  if (!number) throw_at(node, source, prefix(label) + "expected " + expected + ", got '" + text + "'");
  if (number->negative) throw_at(node, source, prefix(label) + "negative duration '" + text + "'");
  if (number->unit.empty()) {
    throw_at(node, source,
             prefix(label) + "'" + text + "' has no unit, which is ambiguous; write e.g. " + text + "ms, " + text +
                 "us or " + text + "s (units: " + kDurationUnitList + ")");
  }
  const Unit* unit = find_unit(kDurationUnits, number->unit);
  if (!unit) {
    throw_at(node, source,
             prefix(label) + "unknown duration unit '" + printable(std::string(number->unit)) + "' in '" + text +
                 "'; valid units: " + kDurationUnitList);
  }
  constexpr auto kMax = std::numeric_limits<Duration::rep>::max();
  const std::string too_long = prefix(label) + "duration '" + text + "' is too long (at most ~292 years)";
  if (const auto integer = to_integer(*number)) {
    const auto factor = static_cast<std::uint64_t>(unit->factor);
    if (*integer > static_cast<std::uint64_t>(kMax) / factor) throw_at(node, source, too_long);
    return Duration(static_cast<Duration::rep>(*integer * factor));
  }
  const std::optional<double> value = to_double(*number);
  // 9.2e18 is the largest double safely below INT64_MAX.
  if (!value || *value * unit->factor >= 9.2e18) throw_at(node, source, too_long);
  return Duration(static_cast<Duration::rep>(std::llround(*value * unit->factor)));
}

std::uint64_t byte_size_at(const YAML::Node& node, const std::string& source, const std::string& label) {
  const std::string expected = std::string("a byte size such as 1500, 64KiB or 1MiB (units: ") + kSizeUnitList + ")";
  const std::string& raw = scalar_or_throw(node, source, label, expected);
  const std::optional<NumberText> number = split_number(raw);
  const std::string text = printable(raw);
  if (!number) throw_at(node, source, prefix(label) + "expected " + expected + ", got '" + text + "'");
  if (number->negative) throw_at(node, source, prefix(label) + "negative byte size '" + text + "'");
  double factor = 1;
  if (!number->unit.empty()) {
    const Unit* unit = find_unit(kSizeUnits, number->unit);
    if (!unit) {
      throw_at(node, source,
               prefix(label) + "unknown byte size unit '" + printable(std::string(number->unit)) + "' in '" + text +
                   "'; valid units: " + kSizeUnitList);
    }
    factor = unit->factor;
  }
  const std::string too_large = prefix(label) + "byte size '" + text + "' is too large";
  if (const auto integer = to_integer(*number)) {
    const auto whole_factor = static_cast<std::uint64_t>(factor);
    if (*integer > std::numeric_limits<std::uint64_t>::max() / whole_factor) throw_at(node, source, too_large);
    return *integer * whole_factor;
  }
  const std::optional<double> value = to_double(*number);
  if (!value || *value * factor >= 1.8e19) throw_at(node, source, too_large);
  const double bytes = *value * factor;
  if (bytes != std::floor(bytes)) {
    throw_at(node, source, prefix(label) + "'" + text + "' is not a whole number of bytes");
  }
  return static_cast<std::uint64_t>(bytes);
}

double rate_at(const YAML::Node& node, const std::string& source, const std::string& label) {
  const std::string expected = std::string("a rate: ") + kRateUnitList;
  const std::string& raw = scalar_or_throw(node, source, label, expected);
  const std::optional<NumberText> number = split_number(raw);
  const std::string text = printable(raw);
  if (!number) throw_at(node, source, prefix(label) + "expected " + expected + ", got '" + text + "'");
  if (number->negative) throw_at(node, source, prefix(label) + "negative rate '" + text + "'");
  double factor = 1;
  if (!number->unit.empty()) {
    const Unit* unit = find_unit(kRateUnits, number->unit);
    if (!unit) {
      throw_at(node, source,
               prefix(label) + "unknown rate unit '" + printable(std::string(number->unit)) + "' in '" + text +
                   "'; expected " + kRateUnitList);
    }
    factor = unit->factor;
  }
  const std::optional<double> value = to_double(*number);
  if (!value || !std::isfinite(*value * factor) || *value * factor > 1e18) {
    throw_at(node, source, prefix(label) + "rate '" + text + "' is too large");
  }
  return *value * factor;
}

double fraction_at(const YAML::Node& node, const std::string& source, const std::string& label) {
  const std::string expected = "a fraction in (0, 1] such as 0.5";
  const std::string& raw = scalar_or_throw(node, source, label, expected);
  const std::optional<NumberText> number = split_number(raw);
  const std::string text = printable(raw);
  if (!number || !number->unit.empty()) {
    throw_at(node, source, prefix(label) + "expected " + expected + ", got '" + text + "'");
  }
  const std::optional<double> value = to_double(*number);
  if (number->negative || !value || *value <= 0 || *value > 1) {
    throw_at(node, source, prefix(label) + "fraction " + text + " is outside (0, 1]");
  }
  return *value;
}

std::uint64_t unsigned_at(const YAML::Node& node, const std::string& source, const std::string& label,
                          std::uint64_t min, std::uint64_t max) {
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  const std::string expected = "an integer in " + range;
  const std::string& raw = scalar_or_throw(node, source, label, expected);
  const std::optional<NumberText> number = split_number(raw);
  const std::string text = printable(raw);
  if (!number || !number->unit.empty() || number->has_point) {
    throw_at(node, source, prefix(label) + "expected " + expected + ", got '" + text + "'");
  }
  const std::optional<std::uint64_t> value = to_integer(*number);
  if (number->negative || !value || *value < min || *value > max) {
    throw_at(node, source, prefix(label) + text + " is out of range " + range);
  }
  return *value;
}

}  // namespace yaml_detail

Duration parse_duration(const YAML::Node& node, const std::string& source) {
  return yaml_detail::duration_at(node, source, "");
}

std::uint64_t parse_byte_size(const YAML::Node& node, const std::string& source) {
  return yaml_detail::byte_size_at(node, source, "");
}

double parse_rate_bytes(const YAML::Node& node, const std::string& source) {
  return yaml_detail::rate_at(node, source, "");
}

std::string format_duration(Duration duration) {
  const auto count = duration.count();
  if (count == 0) return "0s";
  if (count % 1'000'000'000 == 0) return std::to_string(count / 1'000'000'000) + "s";
  if (count % 1'000'000 == 0) return std::to_string(count / 1'000'000) + "ms";
  if (count % 1'000 == 0) return std::to_string(count / 1'000) + "us";
  return std::to_string(count) + "ns";
}

}  // namespace tmc
