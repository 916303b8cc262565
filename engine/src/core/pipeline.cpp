#include "core/pipeline.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "modules/module_manager.h"
#include "tmc/congestion.h"
#include "tmc/wire_format.h"
#include "wire/crc32c.h"
#include "wire/packet.h"

namespace tmc::core {
namespace {

constexpr std::uint32_t kDefaultMtu = 1500;  // Ethernet
constexpr std::uint32_t kMinimumMtu = 576;   // RFC 791: every IPv4 host accepts 576-byte datagrams

std::string format_duration(Duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us < 1000) return std::to_string(us) + "us";
  if (us % 1000 == 0 && us < 1000000) return std::to_string(us / 1000) + "ms";
  char text[32];
  std::snprintf(text, sizeof text, "%.3gms", us / 1000.0);
  return text;
}

std::string reliability_text(const Reliability& r) {
  std::string bounds = " (window " + std::to_string(r.window) + " packets, RTO " + format_duration(r.min_rto) +
                       ".." + format_duration(r.max_rto) + ", member timeout " + format_duration(r.member_timeout) + ")";
  switch (r.kind) {
    case Reliability::Kind::none: return "reliability: none (no acknowledgements, no retransmission)";
    case Reliability::Kind::all: return "reliability: acks from all targets" + bounds;
    case Reliability::Kind::subset: {
      std::string names;
      for (const auto& n : r.names) names += (names.empty() ? "" : ",") + n;
      return "reliability: acks from {" + names + "}" + bounds;
    }
    case Reliability::Kind::fraction: {
      char text[64];
      std::snprintf(text, sizeof text, "reliability: acks from %.3g of the targets", r.fraction);
      return text + bounds;
    }
  }
  return "";
}

void ordering_none(CompiledPipeline& p, const Manifest&) {
  p.ordering = Ordering::none;
  p.receive_stages.push_back("ordering: none (deliver on arrival)");
}
void ordering_fifo(CompiledPipeline& p, const Manifest&) {
  p.ordering = Ordering::fifo;
  p.flags |= TMC_FLAG_ORDERED;
  p.receive_stages.push_back(
      "ordering: fifo per sender (reliable: hold back until gaps fill; unreliable: drop what arrives late)");
}
void ordering_drop_stale(CompiledPipeline& p, const Manifest&) {
  p.ordering = Ordering::fifo_drop_stale;
  p.flags |= TMC_FLAG_ORDERED | TMC_FLAG_DROP_STALE;
  p.receive_stages.push_back("ordering: fifo-drop-stale (drop anything older than the latest delivered)");
}
void ordering_total(CompiledPipeline& p, const Manifest&) {
  // Every member must see every total-order message (the sequencer stamps what it sees and the
  // others hold what they see until stamped), and all copies share one sequence space so the
  // message id (sender, epoch, first sequence) is the same everywhere: the group stream.
  if (p.targets.kind != Targets::Kind::all)
    throw std::invalid_argument("ordering: total sends every message to every member; targets must be all");
  p.ordering = Ordering::total;
  p.flags |= TMC_FLAG_TOTAL_ORDER;
  p.send_stages.push_back("ordering: total -- one group sequence space for all members; the sequencer stamps it");
  p.receive_stages.push_back(
      "ordering: total (hold until stamped by the sequencer, deliver in group order; reliable: request missing "
      "stamps; unreliable: report a gap once via on_gap and skip it)");
}

// ordering: {module, name, params}: the module manager loads the module and checks the name
// and parameters now (a probe instance), so a bad module fails the channel's manifest. On the
// wire such messages are fifo's: TMC_FLAG_ORDERED, per-stream sequences (docs/transport.md).
void ordering_module(CompiledPipeline& p, const Manifest& m) {
  if (!m.ordering_module)
    throw std::invalid_argument("ordering: module needs ordering_module {module: FILE, name: NAME}");
  const OrderingModule& config = *m.ordering_module;
  try {
    ModuleManager::global().ordering_factory(config);
  } catch (const std::exception& error) {
    throw std::invalid_argument(std::string("ordering: ") + error.what());
  }
  p.ordering = Ordering::module;
  p.flags |= TMC_FLAG_ORDERED;
  std::string text = "ordering: " + config.name + " (module " + config.module + ")";
  for (const auto& [key, value] : config.params) text += " " + key + "=" + value;
  p.receive_stages.push_back(text + "; the module decides deliver / hold / drop per message of each sender's stream");
}

void reliability_none(CompiledPipeline& p, const Manifest&) {
  p.reliability = Reliability{};
  p.send_stages.push_back(reliability_text(p.reliability));
}
void reliability_acked(CompiledPipeline& p, const Manifest& m) {
  p.reliability = *m.reliability;
  const auto& r = p.reliability;
  if (r.kind == Reliability::Kind::fraction && !(r.fraction > 0 && r.fraction <= 1))
    throw std::invalid_argument("reliability: fraction must be in (0, 1]");
  if (r.kind == Reliability::Kind::subset && r.names.empty())
    throw std::invalid_argument("reliability: the subset of members is empty");
  if (r.window == 0) throw std::invalid_argument("reliability: window must be at least 1");
  if (r.min_rto > r.max_rto) throw std::invalid_argument("reliability: min_rto exceeds max_rto");
  p.flags |= TMC_FLAG_ACK_REQUESTED;
  p.send_stages.push_back(reliability_text(r));
  p.receive_stages.push_back("acknowledgement: cumulative + SACK, one per stream per receive batch");
}

void checking_none(CompiledPipeline& p, const Manifest&) {
  p.checksum = false;
  p.send_stages.push_back("error checking: none (UDP checksum only)");
}
void checking_crc32c(CompiledPipeline& p, const Manifest&) {
  p.checksum = true;
  p.flags |= TMC_FLAG_CHECKSUM;
  p.send_stages.push_back("error checking: crc32c over header and payload (RFC 3720 B.4)");
  p.receive_stages.push_back("error checking: verify crc32c, count and drop mismatches");
}

void checking_nic_offload(CompiledPipeline& p, const Manifest&) {
  p.checksum = false;
  p.send_stages.push_back(
      "error checking: nic-offload (checksum_offload declared for every member host: the NICs compute and verify "
      "UDP checksums; no software CRC32C)");
}

void targets_all(CompiledPipeline& p, const Manifest&) { p.targets = Targets{}; }
void targets_subset(CompiledPipeline& p, const Manifest& m) {
  p.targets = *m.targets;
  if (p.targets.names.empty()) throw std::invalid_argument("targets: the subset of members is empty");
}
void targets_fraction(CompiledPipeline& p, const Manifest& m) {
  p.targets = *m.targets;
  if (!(p.targets.fraction > 0 && p.targets.fraction <= 1))
    throw std::invalid_argument("targets: fraction must be in (0, 1]");
}

// congestion_control names an entry of the congestion controller registry (built-ins plus what
// modules register), itself a name -> factory table; creating one here validates the name, the
// module and the parameters.
void congestion_control(CompiledPipeline& p, const Manifest& m) {
  const CongestionControl& cc = *m.congestion_control;
  try {
    TransportState probe;
    auto controller = create_congestion_controller(cc, probe);
  } catch (const std::exception& error) {
    throw std::invalid_argument(std::string("congestion_control: ") + error.what());
  }
  std::string text = "congestion control: " + cc.algorithm;
  if (!cc.module.empty()) text += " (module " + cc.module + ")";
  for (const auto& [key, value] : cc.params) text += " " + key + "=" + value;
  if (cc.algorithm != "none") text += "; gates reliable packets by cwnd, sets the pacing rate";
  p.send_stages.push_back(text);
}
void pacing_token_bucket(CompiledPipeline& p, const Manifest& m) {
  if (m.pacing->rate_bytes_per_second <= 0) return;
  char text[128];
  std::snprintf(text, sizeof text, "pacing: token bucket %.3g MB/s, burst %llu B (lower of this and the CC rate)",
                m.pacing->rate_bytes_per_second / 1e6, static_cast<unsigned long long>(m.pacing->burst_bytes));
  p.send_stages.push_back(text);
}
void flow_control_credit(CompiledPipeline& p, const Manifest& m) {
  if (m.flow_control->window_bytes == 0) throw std::invalid_argument("flow_control: window must be at least 1 byte");
  const std::uint64_t packets = std::max<std::uint64_t>(1, m.flow_control->window_bytes / p.max_payload);
  p.send_stages.push_back("flow control: receiver-granted credit, " + std::to_string(packets) +
                          " packets per stream (window " + std::to_string(m.flow_control->window_bytes) +
                          " B); sender memory bounded by the window (blocking send waits, asynchronous refuses)");
  p.receive_stages.push_back("flow control: drop packets beyond the granted credit; grant as the application reads");
}

// Never destroyed: channels may still be created by other threads while the process exits and
// runs static destructors (an LD_PRELOADed shim's threads outlive main()).
const std::vector<Primitive>& kPrimitives = *new const std::vector<Primitive>{
    {"ordering", "none", "deliver on arrival", ordering_none},
    {"ordering", "fifo", "point-to-point order per sender", ordering_fifo},
    {"ordering", "fifo-drop-stale", "never deliver older than the latest delivered", ordering_drop_stale},
    {"ordering", "total", "group order through a sequencer", ordering_total},
    {"ordering", "module", "an ordering primitive loaded from a module (module ABI version 2)", ordering_module},
    {"reliability", "none", "no acknowledgements", reliability_none},
    {"reliability", "all", "acks from every target", reliability_acked},
    {"reliability", "subset", "acks from named members", reliability_acked},
    {"reliability", "fraction", "acks from a fraction of the targets", reliability_acked},
    {"error_checking", "none", "UDP checksum only", checking_none},
    {"error_checking", "crc32c", "CRC32C over header and payload", checking_crc32c},
    {"error_checking", "nic-offload", "crc32c asked, NIC checksum offload declared: UDP checksum in the NIC", checking_nic_offload},
    {"targets", "all", "every member", targets_all},
    {"targets", "subset", "named members", targets_subset},
    {"targets", "fraction", "a rotating fraction of the members", targets_fraction},
    {"congestion_control", "registry", "an algorithm of the congestion controller registry", congestion_control},
    {"pacing", "token-bucket", "rate and burst", pacing_token_bucket},
    {"flow_control", "credit", "receiver-granted credit", flow_control_credit},
};

const Primitive& find(const std::string& feature, const std::string& name) {
  for (const auto& p : kPrimitives)
    if (feature == p.feature && name == p.name) return p;
  std::string known;
  for (const auto& p : kPrimitives)
    if (feature == p.feature) known += (known.empty() ? "" : ", ") + std::string(p.name);
  throw std::invalid_argument(feature + ": unknown primitive '" + name + "' (known: " + known + ")");
}

const char* reliability_name(Reliability::Kind kind) {
  switch (kind) {
    case Reliability::Kind::none: return "none";
    case Reliability::Kind::all: return "all";
    case Reliability::Kind::subset: return "subset";
    case Reliability::Kind::fraction: return "fraction";
  }
  return "?";
}
const char* ordering_name(Ordering ordering) {
  switch (ordering) {
    case Ordering::none: return "none";
    case Ordering::fifo: return "fifo";
    case Ordering::fifo_drop_stale: return "fifo-drop-stale";
    case Ordering::total: return "total";
    case Ordering::module: return "module";
  }
  return "?";
}
const char* targets_name(Targets::Kind kind) {
  switch (kind) {
    case Targets::Kind::all: return "all";
    case Targets::Kind::subset: return "subset";
    case Targets::Kind::fraction: return "fraction";
  }
  return "?";
}

}  // namespace

const std::vector<Primitive>& primitive_table() { return kPrimitives; }

CompiledPipeline compile_pipeline(const Manifest& m, bool nic_checksum_offload) {
  CompiledPipeline p;
  p.mtu = m.mtu.value_or(kDefaultMtu);
  if (p.mtu < kMinimumMtu || p.mtu > 65535) throw std::invalid_argument("mtu: must be within 576..65535");
  p.max_payload = wire::max_data_payload(p.mtu);
  p.deadline = m.deadline;

  find("targets", targets_name(m.targets ? m.targets->kind : Targets::Kind::all)).configure(p, m);
  p.send_stages.push_back("sequencing: per-destination sequence spaces, random initial sequence per epoch");
  p.send_stages.push_back("fragmentation: up to " + std::to_string(p.max_payload) + " B per packet (mtu " +
                          std::to_string(p.mtu) + "), messages up to " +
                          std::to_string(TMC_MAX_MESSAGE_LENGTH >> 20) + " MiB");
  if (m.ordering_module && m.ordering != Ordering::module)
    throw std::invalid_argument("ordering: ordering_module is only used with ordering = Ordering::module");
  find("ordering", ordering_name(m.ordering.value_or(Ordering::none))).configure(p, m);
  const bool crc32c = m.error_checking.value_or(ErrorChecking::none) == ErrorChecking::crc32c;
  find("error_checking", crc32c ? (nic_checksum_offload ? "nic-offload" : "crc32c") : "none").configure(p, m);
  find("reliability", reliability_name(m.reliability ? m.reliability->kind : Reliability::Kind::none)).configure(p, m);
  if (m.congestion_control) find("congestion_control", "registry").configure(p, m);
  if (m.pacing) find("pacing", "token-bucket").configure(p, m);
  if (m.flow_control) find("flow_control", "credit").configure(p, m);
  p.receive_stages.insert(p.receive_stages.begin(), "duplicate filter + reassembly per (sender, epoch, stream)");
  return p;
}

std::uint32_t channel_id_for(const std::string& name) {
  const std::uint32_t id = wire::crc32c(name.data(), name.size());
  return id == 0 ? 1 : id;
}

std::uint32_t sender_id_for(const std::string& member_name) {
  const std::string key = "member:" + member_name;
  const std::uint32_t id = wire::crc32c(key.data(), key.size());
  return id == 0 ? 1 : id;
}

}  // namespace tmc::core
