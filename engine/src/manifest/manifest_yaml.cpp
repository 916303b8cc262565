// The manifest loader: YAML text -> tmc::Manifest, with every error reported as
// "FILE:LINE:COL: key: message" (tmc::ConfigError). The format is documented in docs/manifest.md.
//
// Parsing runs in two passes over the text: a structural pass over yaml-cpp's event stream rejects
// nesting deeper than kMaxNesting and more than one document before any node tree is built (so no
// input can drive deep recursion), then the tree is walked by the schema below. The walk only
// descends where the schema does, so aliases (even self-referencing ones) cannot make it loop.
#include "tmc/manifest_yaml.h"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "yaml_values.h"

namespace tmc {

namespace {

using namespace yaml_detail;

// Manifests are at most four levels deep (multicast.members[i].name); 64 leaves ample room for
// other loaders that reuse parse_manifest's input checks while bounding yaml-cpp's recursion.
constexpr int kMaxNesting = 64;
// reliability.max_ack_delay: RFC 9000 18.2 treats 2^14 ms or more as invalid.
constexpr Duration kMaxAckDelayLimit = std::chrono::milliseconds(16383);

// "a, b, c"; long lists (member names from big inputs) are cut after `limit` words.
std::string join(const std::vector<std::string>& words, std::size_t limit = 16) {
  std::string joined;
  for (std::size_t i = 0; i < words.size() && i < limit; ++i) {
    if (i > 0) joined += ", ";
    joined += words[i];
  }
  if (words.size() > limit) joined += ", ... (" + std::to_string(words.size() - limit) + " more)";
  return joined;
}

// Pass 1: counts nesting on yaml-cpp's event stream and remembers where each document starts.
class StructureCheck : public YAML::EventHandler {
 public:
  StructureCheck(const std::string& source, int max_nesting) : source_(source), max_nesting_(max_nesting) {}
  YAML::Mark document_start;

  void OnDocumentStart(const YAML::Mark& mark) override { document_start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    enter(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    enter(mark);
  }
  void OnMapEnd() override { --depth_; }

 private:
  void enter(const YAML::Mark& mark) {
    if (++depth_ > max_nesting_) {
      throw ConfigError(source_, mark.line + 1, mark.column + 1,
                        "nesting deeper than " + std::to_string(max_nesting_) + " levels");
    }
  }
  const std::string& source_;
  int max_nesting_;
  int depth_ = 0;
};

[[noreturn]] void throw_yaml_error(const YAML::Exception& error, const std::string& source) {
  const bool known = !error.mark.is_null();
  throw ConfigError(source, known ? error.mark.line + 1 : 0, known ? error.mark.column + 1 : 0,
                    "YAML syntax error: " + error.msg);
}

// One "key: value" entry of a mapping, with the path used in messages ("reliability.min_rto").
struct Field {
  YAML::Node key;
  YAML::Node value;
  std::string name;
  std::string path;
};

// A member name mentioned in targets or reliability, checked against multicast.members once the
// whole document has been read (keys may come in any order).
struct NameReference {
  YAML::Node node;
  std::string name;
  std::string path;
};

constexpr const char* kCongestionControlBuiltins[] = {"none", "fixed-window", "aimd", "loss-tolerant"};

class ManifestLoader {
 public:
  explicit ManifestLoader(const std::string& source) : source_(source) {}

  Manifest load(const YAML::Node& root) {
    Manifest manifest;
    if (!root.IsDefined() || root.IsNull()) return manifest;  // empty document: nothing set
    static const std::vector<std::string> kKeys = {"channel",      "multicast",          "targets",       "ordering",
                                                   "reliability",  "error_checking",     "mtu",           "pacing",
                                                   "flow_control", "congestion_control", "synchronicity", "duplexity",
                                                   "deadline",     "sequencer"};
    if (!root.IsMap()) {
      fail(root, "a manifest is a mapping of feature: setting (" + join(kKeys) + "), got " + describe(root));
    }
    for_each_field(root, "", kKeys, [&](const Field& field) {
      const std::string& key = field.name;
      if (key == "channel") {
        manifest.channel = name_at(field.value, field.path, "a channel name");
      } else if (key == "multicast") {
        manifest.multicast = multicast(field);
      } else if (key == "targets") {
        manifest.targets = targets(field);
      } else if (key == "ordering") {
        if (field.value.IsMap()) {
          manifest.ordering = Ordering::module;
          manifest.ordering_module = ordering_module(field);
        } else {
          manifest.ordering = builtin_ordering(field);
        }
      } else if (key == "reliability") {
        manifest.reliability = reliability(field);
      } else if (key == "error_checking") {
        manifest.error_checking =
            enumeration<ErrorChecking>(field, {{"none", ErrorChecking::none}, {"crc32c", ErrorChecking::crc32c}});
      } else if (key == "mtu") {
        // 576: the minimum datagram every IPv4 host accepts (RFC 791); 65535: the IP length field.
        manifest.mtu = static_cast<std::uint32_t>(unsigned_at(field.value, source_, field.path, 576, 65535));
      } else if (key == "pacing") {
        manifest.pacing = pacing(field);
      } else if (key == "flow_control") {
        manifest.flow_control = flow_control(field);
      } else if (key == "congestion_control") {
        manifest.congestion_control = congestion_control(field);
      } else if (key == "synchronicity") {
        manifest.synchronicity = enumeration<Synchronicity>(
            field, {{"blocking", Synchronicity::blocking}, {"asynchronous", Synchronicity::asynchronous}});
      } else if (key == "duplexity") {
        manifest.duplexity = enumeration<Duplexity>(field, {{"full", Duplexity::full},
                                                            {"half", Duplexity::half},
                                                            {"send-only", Duplexity::send_only},
                                                            {"receive-only", Duplexity::receive_only}});
      } else if (key == "deadline") {
        manifest.deadline = positive_duration(field.value, field.path);
      } else if (key == "sequencer") {
        manifest.sequencer = name_at(field.value, field.path, "a member name");
        target_references_.push_back({field.value, *manifest.sequencer, field.path});
      }
    });
    check_member_references(manifest);
    check_duplexity(manifest, root);
    return manifest;
  }

 private:
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const { throw_at(node, source_, message); }

  // Walks a mapping's entries in document order: keys must be plain names from `valid_keys`,
  // each at most once, with a value.
  void for_each_field(const YAML::Node& map, const std::string& parent, const std::vector<std::string>& valid_keys,
                      const std::function<void(const Field&)>& visit) const {
    std::vector<Field> seen;
    for (auto entry = map.begin(); entry != map.end(); ++entry) {
      Field field{entry->first, entry->second, "", ""};
      if (!field.key.IsScalar()) {
        fail(field.key, prefix(parent) + "keys must be plain names, got " + describe(field.key));
      }
      field.name = field.key.Scalar();
      field.path = parent.empty() ? field.name : parent + "." + field.name;
      if (std::find(valid_keys.begin(), valid_keys.end(), field.name) == valid_keys.end()) {
        fail(field.key, "unknown key '" + printable(field.name) + "'" + (parent.empty() ? "" : " in " + parent) +
                            "; valid keys: " + join(valid_keys));
      }
      for (const Field& earlier : seen) {
        if (earlier.name == field.name) {
          fail(field.key, "duplicate key '" + field.path + "' (first given at line " +
                              std::to_string(earlier.key.Mark().line + 1) + ")");
        }
      }
      if (!field.value.IsDefined() || field.value.IsNull()) {
        fail(field.key, field.path + ": missing value");
      }
      seen.push_back(field);
    }
    for (const Field& field : seen) visit(field);
  }

  void expect_map(const YAML::Node& node, const std::string& path, const std::string& expected) const {
    if (!node.IsMap()) fail(node, path + ": expected " + expected + ", got " + describe(node));
  }

  std::string name_at(const YAML::Node& node, const std::string& path, const std::string& what) const {
    if (!node.IsScalar()) fail(node, path + ": expected " + what + " (a string), got " + describe(node));
    if (node.Scalar().empty()) fail(node, path + ": " + what + " must not be empty");
    check_printable(node, path);
    return node.Scalar();
  }

  // Names end up in logs, plans and written-back YAML: printable UTF-8 only.
  void check_printable(const YAML::Node& node, const std::string& path) const {
    const std::string& text = node.Scalar();
    for (std::size_t i = 0; i < text.size();) {
      const auto byte = static_cast<unsigned char>(text[i]);
      if (byte < 0x20 || byte == 0x7f) fail(node, path + ": contains a control character");
      std::size_t length = byte < 0x80             ? 1
                           : (byte & 0xe0) == 0xc0 ? 2
                           : (byte & 0xf0) == 0xe0 ? 3
                           : (byte & 0xf8) == 0xf0 ? 4
                                                   : 0;
      bool valid = length != 0 && i + length <= text.size();
      for (std::size_t k = 1; valid && k < length; ++k)
        valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
      if (valid && length > 1) {  // reject overlong forms, surrogates and code points above U+10FFFF
        std::uint32_t code = byte & (0x7f >> length);
        for (std::size_t k = 1; k < length; ++k) code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
        static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
        valid = code >= kSmallest[length] && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
        if (valid && code >= 0x80 && code < 0xa0) fail(node, path + ": contains a control character");
      }
      if (!valid) fail(node, path + ": is not valid UTF-8");
      i += length;
    }
  }

  Duration positive_duration(const YAML::Node& node, const std::string& path) const {
    const Duration duration = duration_at(node, source_, path);
    if (duration <= Duration::zero()) fail(node, path + ": must be greater than zero");
    return duration;
  }

  template <typename Enum>
  Enum enumeration(const Field& field, const std::vector<std::pair<std::string, Enum>>& values) const {
    std::vector<std::string> names;
    for (const auto& [name, value] : values) names.push_back(name);
    if (!field.value.IsScalar()) {
      fail(field.value, field.path + ": expected one of " + join(names) + ", got " + describe(field.value));
    }
    for (const auto& [name, value] : values) {
      if (name == field.value.Scalar()) return value;
    }
    fail(field.value,
         field.path + ": unknown value '" + printable(field.value.Scalar()) + "'; valid values: " + join(names));
  }

  // multicast: {members: [{name, address}, ...], group: "239.1.2.3:7000"}
  Multicast multicast(const Field& field) {
    expect_map(field.value, field.path, "a mapping with members (and optionally group)");
    Multicast multicast;
    bool has_members = false;
    for_each_field(field.value, field.path, {"members", "group"}, [&](const Field& entry) {
      if (entry.name == "group") {
        multicast.group = address_at(entry.value, entry.path, /*multicast=*/true);
        return;
      }
      has_members = true;
      if (!entry.value.IsSequence()) {
        fail(entry.value, entry.path + ": expected a list of {name, address}, got " + describe(entry.value));
      }
      if (entry.value.size() == 0) fail(entry.value, entry.path + ": at least one member is needed");
      std::map<std::string, std::size_t> name_index;     // name -> position, for duplicates
      std::map<std::string, std::size_t> address_index;  // canonical address -> position
      for (std::size_t i = 0; i < entry.value.size(); ++i) {
        const YAML::Node item = entry.value[i];
        const std::string item_path = entry.path + "[" + std::to_string(i) + "]";
        expect_map(item, item_path, "a member {name: NAME, address: HOST:PORT}");
        Member member;
        std::optional<YAML::Node> name_node;  // (a default YAML::Node is a defined null)
        std::optional<YAML::Node> address_node;
        for_each_field(item, item_path, {"name", "address"}, [&](const Field& part) {
          if (part.name == "name") {
            member.name = name_at(part.value, part.path, "a member name");
            name_node.emplace(part.value);
          } else {
            member.address = address_at(part.value, part.path, /*multicast=*/false);
            address_node.emplace(part.value);
          }
        });
        if (!name_node) fail(item, item_path + ": missing key 'name'");
        if (!address_node) fail(item, item_path + ": missing key 'address'");
        if (const auto [earlier, added] = name_index.emplace(member.name, i); !added) {
          fail(*name_node, item_path + ".name: duplicate member name '" + member.name + "' (also " + entry.path + "[" +
                               std::to_string(earlier->second) + "])");
        }
        if (const auto [earlier, added] = address_index.emplace(canonical_address(member.address), i); !added) {
          fail(*address_node, item_path + ".address: duplicate member address '" + member.address + "' (also " +
                                  entry.path + "[" + std::to_string(earlier->second) + "])");
        }
        multicast.members.push_back(std::move(member));
      }
    });
    if (!has_members) fail(field.value, field.path + ": missing key 'members'");
    return multicast;
  }

  // Parses "a.b.c.d:port" or "[v6]:port"; returns the error, or empty on success. `canonical`
  // receives the address in inet_ntop form.
  static std::string check_address(const std::string& text, bool want_multicast, std::string* canonical) {
    // Literal addresses only (inet_pton would also stop at an embedded NUL).
    const bool plausible = std::all_of(text.begin(), text.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':' ||
             c == '[' || c == ']';
    });
    if (!plausible) return "expected IPv4:PORT or [IPv6]:PORT with a literal address (host names are not resolved)";
    std::string host;
    std::string port;
    bool v6 = false;
    if (!text.empty() && text.front() == '[') {
      const std::size_t close = text.find(']');
      if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
        return "expected [IPv6]:PORT";
      }
      host = text.substr(1, close - 1);
      port = text.substr(close + 2);
      v6 = true;
    } else {
      const std::size_t colon = text.rfind(':');
      if (colon == std::string::npos) return "missing ':PORT'";
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string::npos) return "an IPv6 address needs brackets, e.g. [::1]:7000";
    }
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return "port '" + port + "' is not a number in 1..65535";
    }
    const int port_number = std::stoi(port);
    if (port_number < 1 || port_number > 65535) return "port " + port + " is not in 1..65535";
    unsigned char bytes[16];
    char printable[INET6_ADDRSTRLEN];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), bytes) != 1) {
      return "'" + host + "' is not an " + (v6 ? "IPv6" : "IPv4") + " address (host names are not resolved)";
    }
    // Multicast ranges: 224.0.0.0/4 (RFC 5771), ff00::/8 (RFC 4291 section 2.7).
    const bool is_multicast = v6 ? bytes[0] == 0xff : (bytes[0] & 0xf0) == 0xe0;
    if (want_multicast && !is_multicast) {
      return "'" + host + "' is not a multicast address (224.0.0.0/4 or ff00::/8)";
    }
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, printable, sizeof printable);
    if (canonical) *canonical = std::string(printable) + "/" + std::to_string(port_number);
    return "";
  }

  static std::string canonical_address(const std::string& text) {
    std::string canonical;
    check_address(text, false, &canonical);
    return canonical;
  }

  std::string address_at(const YAML::Node& node, const std::string& path, bool want_multicast) const {
    const std::string form = want_multicast ? "a multicast group GROUP:PORT" : "an address HOST:PORT";
    if (!node.IsScalar()) fail(node, path + ": expected " + form + ", got " + describe(node));
    const std::string error = check_address(node.Scalar(), want_multicast, nullptr);
    if (!error.empty()) fail(node, path + ": bad address '" + printable(node.Scalar()) + "': " + error);
    return node.Scalar();
  }

  // A non-empty list of distinct member names; each is checked against multicast.members later.
  std::vector<std::string> name_list(const YAML::Node& list, const std::string& path,
                                     std::vector<NameReference>& references) {
    if (list.size() == 0) fail(list, path + ": at least one member name is needed");
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const YAML::Node item = list[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      std::string name = name_at(item, item_path, "a member name");
      if (!seen.insert(name).second) fail(item, item_path + ": member '" + name + "' is listed twice");
      references.push_back({item, name, item_path});
      names.push_back(std::move(name));
    }
    return names;
  }

  double fraction_mapping(const Field& field) const {
    double fraction = 0;
    bool has_fraction = false;
    for_each_field(field.value, field.path, {"fraction"}, [&](const Field& entry) {
      fraction = fraction_at(entry.value, source_, entry.path);
      has_fraction = true;
    });
    if (!has_fraction) fail(field.value, field.path + ": missing key 'fraction'");
    return fraction;
  }

  // targets: all | [names] | {fraction: F}
  Targets targets(const Field& field) {
    Targets targets;
    const YAML::Node& value = field.value;
    if (value.IsScalar()) {
      if (value.Scalar() != "all") {
        fail(value, field.path + ": expected all, a list of member names or {fraction: F}, got " + describe(value));
      }
      targets.kind = Targets::Kind::all;
    } else if (value.IsSequence()) {
      targets.kind = Targets::Kind::subset;
      targets.names = name_list(value, field.path, target_references_);
    } else {
      targets.kind = Targets::Kind::fraction;
      targets.fraction = fraction_mapping(field);
    }
    return targets;
  }

  // Who acknowledges: none | all | [names] | {fraction: F}.
  void acknowledgers(const Field& field, Reliability& reliability) {
    const YAML::Node& value = field.value;
    if (value.IsScalar()) {
      if (value.Scalar() == "none") {
        reliability.kind = Reliability::Kind::none;
      } else if (value.Scalar() == "all") {
        reliability.kind = Reliability::Kind::all;
      } else {
        fail(value, field.path +
                        ": expected none, all, a list of member names, {fraction: F} or a mapping "
                        "with acks and timers, got " +
                        describe(value));
      }
    } else if (value.IsSequence()) {
      reliability.kind = Reliability::Kind::subset;
      reliability.names = name_list(value, field.path, ack_references_);
    } else {
      reliability.kind = Reliability::Kind::fraction;
      reliability.fraction = fraction_mapping(field);
    }
  }

  // reliability: none | all | [names] | {fraction: F} |
  //   {acks: ..., min_rto, max_rto, initial_rto, window, member_timeout, max_ack_delay}
  Reliability reliability(const Field& field) {
    Reliability reliability;
    if (!field.value.IsMap()) {
      acknowledgers(field, reliability);
      return reliability;
    }
    const YAML::Node& map = field.value;
    reliability.kind = Reliability::Kind::all;  // timers without acks: reliable to every target
    std::optional<YAML::Node> min_rto_node, max_rto_node, initial_rto_node;
    bool has_acks = false;
    for_each_field(map, field.path,
                   {"acks", "fraction", "min_rto", "max_rto", "initial_rto", "window", "member_timeout",
                    "max_ack_delay"},
                   [&](const Field& entry) {
                     const std::string& key = entry.name;
                     if (key == "acks" || key == "fraction") {
                       if (has_acks) fail(entry.key, field.path + ": give either acks or fraction, not both");
                       has_acks = true;
                       if (key == "acks") {
                         acknowledgers(entry, reliability);
                       } else {
                         reliability.kind = Reliability::Kind::fraction;
                         reliability.fraction = fraction_at(entry.value, source_, entry.path);
                       }
                     } else if (key == "min_rto") {
                       reliability.min_rto = positive_duration(entry.value, entry.path);
                       min_rto_node.emplace(entry.value);
                     } else if (key == "max_rto") {
                       reliability.max_rto = positive_duration(entry.value, entry.path);
                       max_rto_node.emplace(entry.value);
                     } else if (key == "initial_rto") {
                       reliability.initial_rto = positive_duration(entry.value, entry.path);
                       initial_rto_node.emplace(entry.value);
                     } else if (key == "window") {
                       reliability.window =
                           static_cast<std::uint32_t>(unsigned_at(entry.value, source_, entry.path, 1, 0xffffffffu));
                     } else if (key == "member_timeout") {
                       reliability.member_timeout = positive_duration(entry.value, entry.path);
                     } else if (key == "max_ack_delay") {
                       reliability.max_ack_delay = duration_at(entry.value, source_, entry.path);
                       if (reliability.max_ack_delay < Duration::zero() ||
                           reliability.max_ack_delay > kMaxAckDelayLimit) {
                         fail(entry.value, entry.path + ": must be between 0 and " + format_duration(kMaxAckDelayLimit));
                       }
                     }
                   });
    if (reliability.min_rto > reliability.max_rto) {
      const YAML::Node& at = min_rto_node ? *min_rto_node : *max_rto_node;
      fail(at, field.path + ": min_rto (" + format_duration(reliability.min_rto) +
                   (min_rto_node ? "" : ", the default") + ") is greater than max_rto (" +
                   format_duration(reliability.max_rto) + (max_rto_node ? "" : ", the default") + ")");
    }
    if (initial_rto_node &&
        (reliability.initial_rto < reliability.min_rto || reliability.initial_rto > reliability.max_rto)) {
      fail(*initial_rto_node, field.path + ".initial_rto: " + format_duration(reliability.initial_rto) +
                                  " is outside [min_rto, max_rto] = [" + format_duration(reliability.min_rto) + ", " +
                                  format_duration(reliability.max_rto) + "]");
    }
    return reliability;
  }

  // pacing: none | {rate: RATE, burst: SIZE}
  Pacing pacing(const Field& field) const {
    Pacing pacing;
    if (field.value.IsScalar() && field.value.Scalar() == "none") return pacing;  // rate 0: unpaced
    expect_map(field.value, field.path, "none or {rate: RATE, burst: SIZE}");
    bool has_rate = false;
    for_each_field(field.value, field.path, {"rate", "burst"}, [&](const Field& entry) {
      if (entry.name == "rate") {
        pacing.rate_bytes_per_second = rate_at(entry.value, source_, entry.path);
        has_rate = true;
      } else {
        pacing.burst_bytes = byte_size_at(entry.value, source_, entry.path);
        if (pacing.burst_bytes == 0) fail(entry.value, entry.path + ": must be greater than zero");
      }
    });
    if (!has_rate) fail(field.value, field.path + ": missing key 'rate'");
    return pacing;
  }

  // flow_control: {window: SIZE}
  FlowControl flow_control(const Field& field) const {
    FlowControl flow_control;
    expect_map(field.value, field.path, "{window: SIZE}");
    for_each_field(field.value, field.path, {"window"}, [&](const Field& entry) {
      flow_control.window_bytes = byte_size_at(entry.value, source_, entry.path);
      if (flow_control.window_bytes == 0) fail(entry.value, entry.path + ": must be greater than zero");
    });
    return flow_control;
  }

  std::string builtin_algorithm(const YAML::Node& node, const std::string& path) const {
    std::vector<std::string> builtins(std::begin(kCongestionControlBuiltins), std::end(kCongestionControlBuiltins));
    if (!node.IsScalar()) {
      fail(node,
           path + ": expected one of " + join(builtins) + " (or {module: FILE, name: NAME}), got " + describe(node));
    }
    if (!is_builtin_congestion_control(node.Scalar())) {
      fail(node, path + ": unknown congestion control algorithm '" + printable(node.Scalar()) +
                     "'; built-in: " + join(builtins) + " (others need {module: FILE, name: NAME})");
    }
    return node.Scalar();
  }

  // congestion_control: NAME | {algorithm: NAME, params: {...}} | {module: FILE, name: NAME, params: {...}}
  CongestionControl congestion_control(const Field& field) const {
    CongestionControl control;
    if (field.value.IsScalar()) {
      control.algorithm = builtin_algorithm(field.value, field.path);
      return control;
    }
    expect_map(field.value, field.path,
               "an algorithm name, {algorithm: NAME, params: {...}} or {module: FILE, name: NAME}");
    std::optional<YAML::Node> algorithm_key, module_key, name_key;
    for_each_field(field.value, field.path, {"algorithm", "module", "name", "params"}, [&](const Field& entry) {
      if (entry.name == "algorithm") {
        algorithm_key.emplace(entry.key);
        control.algorithm = builtin_algorithm(entry.value, entry.path);
      } else if (entry.name == "module") {
        module_key.emplace(entry.key);
        control.module = name_at(entry.value, entry.path, "a shared object path");
      } else if (entry.name == "name") {
        name_key.emplace(entry.key);
        control.algorithm = name_at(entry.value, entry.path, "an algorithm name");
      } else {
        control.params = params(entry);
      }
    });
    if (module_key) {
      if (algorithm_key) fail(*algorithm_key, field.path + ": with module, give the algorithm as name");
      if (!name_key) fail(*module_key, field.path + ": module needs a name (the algorithm in it)");
    } else {
      if (name_key) fail(*name_key, field.path + ": name is only used with module; use algorithm");
      if (!algorithm_key) fail(field.value, field.path + ": missing key 'algorithm' (or 'module')");
    }
    return control;
  }

  // ordering: none | fifo | fifo-drop-stale | total (the built-ins; `module` is not a value)
  Ordering builtin_ordering(const Field& field) const {
    static const std::vector<std::pair<std::string, Ordering>> kBuiltins = {
        {"none", Ordering::none}, {"fifo", Ordering::fifo}, {"fifo-drop-stale", Ordering::fifo_drop_stale},
        {"total", Ordering::total}};
    std::vector<std::string> names;
    for (const auto& [name, value] : kBuiltins) names.push_back(name);
    if (!field.value.IsScalar()) {
      fail(field.value, field.path + ": expected one of " + join(names) + " or {module: FILE, name: NAME}, got " +
                            describe(field.value));
    }
    for (const auto& [name, value] : kBuiltins)
      if (name == field.value.Scalar()) return value;
    fail(field.value, field.path + ": unknown value '" + printable(field.value.Scalar()) +
                          "'; valid values: " + join(names) + " (others need {module: FILE, name: NAME})");
  }

  // ordering: {module: FILE, name: NAME, params: {...}} -- both module and name are required;
  // whether the module loads, provides NAME and accepts the params is checked when a channel
  // compiles the manifest (the module manager), with the module's path in the message.
  OrderingModule ordering_module(const Field& field) const {
    OrderingModule ordering;
    std::optional<YAML::Node> module_key, name_key;
    for_each_field(field.value, field.path, {"module", "name", "params"}, [&](const Field& entry) {
      if (entry.name == "module") {
        module_key.emplace(entry.key);
        ordering.module = name_at(entry.value, entry.path, "a shared object path");
      } else if (entry.name == "name") {
        name_key.emplace(entry.key);
        ordering.name = name_at(entry.value, entry.path, "an ordering name");
      } else {
        ordering.params = params(entry);
      }
    });
    if (!module_key)
      fail(name_key ? *name_key : field.value,
           field.path + ": missing key 'module' (the shared object; built-in orderings are plain values: none, fifo, "
                        "fifo-drop-stale, total)");
    if (!name_key) fail(*module_key, field.path + ": module needs a name (the ordering in it)");
    return ordering;
  }

  std::map<std::string, std::string> params(const Field& field) const {
    expect_map(field.value, field.path, "a mapping of parameter: value");
    std::map<std::string, std::string> result;
    for (auto entry = field.value.begin(); entry != field.value.end(); ++entry) {
      const YAML::Node key = entry->first;
      const YAML::Node value = entry->second;
      if (!key.IsScalar() || key.Scalar().empty()) {
        fail(key, field.path + ": parameter names must be plain names, got " + describe(key));
      }
      const std::string path = field.path + "." + printable(key.Scalar());
      if (!value.IsScalar())
        fail(value.IsNull() ? key : value, path + ": expected a scalar value, got " + describe(value));
      check_printable(key, path);
      check_printable(value, path);
      if (!result.emplace(key.Scalar(), value.Scalar()).second) fail(key, "duplicate key '" + path + "'");
    }
    return result;
  }

  // Targets and acknowledgers named in this document must be members of its multicast group (when
  // it has one; a per-message manifest is checked by the engine against the channel's), and a
  // member that is not a target cannot acknowledge.
  // A simplex channel (send-only: publish-only, receive-only: subscribe-only) has no return
  // path: nothing that needs one can be asked for. The error points at the feature's key.
  void check_duplexity(const Manifest& manifest, const YAML::Node& root) const {
    const Duplexity duplexity = manifest.duplexity.value_or(Duplexity::full);
    if (duplexity != Duplexity::send_only && duplexity != Duplexity::receive_only) return;
    auto refuse = [&](const std::string& key, const std::string& needs) {
      for (auto entry = root.begin(); entry != root.end(); ++entry) {
        if (entry->first.Scalar() != key) continue;
        fail(entry->first, key + ": impossible with duplexity: " + to_string(duplexity) + ", which has no return path (" +
                               needs + "); use duplexity: full or half, or drop " + key);
      }
    };
    if (manifest.reliability && manifest.reliability->kind != Reliability::Kind::none)
      refuse("reliability", "acknowledgements travel back to the sender");
    if (manifest.flow_control) refuse("flow_control", "receivers grant credit back to the sender");
    if (manifest.congestion_control && manifest.congestion_control->algorithm != "none")
      refuse("congestion_control", "it learns from acknowledgements");
    if (manifest.ordering == Ordering::total) refuse("ordering", "members send messages to the sequencer and request stamps");
  }

  void check_member_references(const Manifest& manifest) const {
    if (manifest.multicast) {
      std::vector<std::string> members;
      for (const Member& member : manifest.multicast->members) members.push_back(member.name);
      const std::set<std::string> member_set(members.begin(), members.end());
      for (const auto* references : {&target_references_, &ack_references_}) {
        for (const NameReference& reference : *references) {
          if (member_set.count(reference.name) == 0) {
            fail(reference.node,
                 reference.path + ": unknown member '" + reference.name + "'; members: " + join(members));
          }
        }
      }
    }
    if (manifest.targets && manifest.targets->kind == Targets::Kind::subset) {
      const std::vector<std::string>& targets = manifest.targets->names;
      const std::set<std::string> target_set(targets.begin(), targets.end());
      for (const NameReference& reference : ack_references_) {
        if (target_set.count(reference.name) == 0) {
          fail(reference.node, reference.path + ": member '" + reference.name +
                                   "' cannot acknowledge: it is not a target (targets: " + join(targets) + ")");
        }
      }
    }
  }

  const std::string& source_;
  std::vector<NameReference> target_references_;
  std::vector<NameReference> ack_references_;
};

}  // namespace

bool is_builtin_congestion_control(const std::string& name) {
  return std::find(std::begin(kCongestionControlBuiltins), std::end(kCongestionControlBuiltins), name) !=
         std::end(kCongestionControlBuiltins);
}

Manifest manifest_from_yaml(const YAML::Node& node, const std::string& source) {
  try {
    return ManifestLoader(source).load(node);
  } catch (const YAML::Exception& error) {
    throw_yaml_error(error, source);  // defensive: the loader checks types before reading
  }
}

Manifest parse_manifest(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml_document(yaml_text, source, "manifest", kMaxNesting);
  return manifest_from_yaml(root, source);
}

YAML::Node load_yaml_document(const std::string& text, const std::string& source, const std::string& what,
                              int max_nesting) {
  try {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    StructureCheck check(source, max_nesting);
    if (parser.HandleNextDocument(check) && parser.HandleNextDocument(check)) {
      throw ConfigError(source, check.document_start.line + 1, check.document_start.column + 1,
                        "a " + what + " is one YAML document; found a second one here");
    }
    return YAML::Load(text);
  } catch (const YAML::Exception& error) {
    throw_yaml_error(error, source);
  }
}

Manifest load_manifest_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError(path, 0, 0, std::string("cannot open manifest: ") + std::strerror(errno));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw ConfigError(path, 0, 0, std::string("cannot read manifest: ") + std::strerror(errno));
  return parse_manifest(text.str(), path);
}

}  // namespace tmc
