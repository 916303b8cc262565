#include "core/channel_core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <stdexcept>
#include <utility>

#include "core/delivery_order.h"
#include "core/logging.h"
#include "flow_control/credit.h"
#include "modules/module_manager.h"
#include "tmc/wire_format.h"

namespace tmc::core {

void ChannelCore::Output::transmit(const SocketAddress& to, std::span<const std::byte> header,
                                   std::span<const std::byte> payload, bool) {
  std::vector<std::byte> packet(header.begin(), header.end());
  packet.insert(packet.end(), payload.begin(), payload.end());
  transmit(to, packet);
}

namespace {

// Runs `step` on an inbound stream's ordering and adds the messages it dropped (stale, or a
// module's verdict) to `stale_dropped`: the ordering counts per stream, Stats per channel.
template <class Step>
void counting_drops(ReceiveOrdering& order, std::uint64_t& stale_dropped, Step&& step) {
  const std::uint64_t before = order.dropped();
  step(order);
  stale_dropped += order.dropped() - before;
}

constexpr std::uint16_t kMemberStream = 0;  // wire stream id of point-to-point streams
constexpr std::uint16_t kGroupStream = 1;   // wire stream id of the IP multicast group stream
constexpr std::size_t kMaxMembers = 64;     // pending-ack masks are 64 bits
// Acknowledge at the end of every receive batch, and within a batch after this many
// ack-requesting packets (cf. RFC 9000 13.2.2, which acks every second packet; batching makes
// a larger step affordable, as the ACK frequency extension, draft-ietf-quic-ack-frequency, lets
// a QUIC sender ask for) or at once when a packet arrives out of order or twice. With UDP GRO a
// receive batch holds up to 64 coalesced datagrams of ~44 packets each; 32 is about one ack per
// coalesced datagram, what Linux TCP sends per GRO super-packet. Every ack crosses the whole
// stack at both ends (on a veth/bridge path it costs about as much as a data packet), so 8
// spent an eighth of a stream's packets on acks. A window smaller than this is still acked
// once per batch.
constexpr std::uint32_t kAckEveryPackets = 32;
// While a gap is open, ack every this many packets that arrive above it: enough for the
// sender's packet threshold (3, RFC 9002 6.1.1) to declare the hole lost within one more ack,
// without acking every packet of the RTT it takes to fill the hole (that had been ~30 acks per
// loss at 1% loss on a veth, each crossing both stacks). Such an ack, and the one RFC 9000
// 13.2.1 wants at once for a packet that opens a gap, leaves at the end of the receive batch,
// once per stream, whatever max_ack_delay says (InboundStream::ack_at_batch_end): a batch is
// handled at one instant (its `now`) and the Output sends what it queued when the batch ends,
// so acks made in the middle of a batch would leave together with the one at its end, each a
// subset of it, and each an RTT sample of a packet sent earlier than the batch's last one (at
// 1% loss on a veth they had been half of all acks, and the loss-tolerant controller read their
// samples as queueing). The acks of retransmissions that fill a gap, and of duplicates, still
// leave as they happen: under heavy loss they are the redundancy that keeps recovery going when
// one ack is lost (with them deferred too, the 30% loss property test stalled).
constexpr std::uint32_t kAckEveryPacketsAboveAGap = 4;

// ordering: total over a real network. The component defaults (docs/transport.md) suit a
// dedicated host; a channel's runtime thread shares cores with the application and may be
// descheduled for milliseconds, so suspicion and gap timeouts are an order of magnitude longer:
// a spurious view change is safe but costs a pause.
constexpr Duration kTotalOrderPoll = std::chrono::microseconds(250);
constexpr Duration kSequencerTimeout = std::chrono::milliseconds(50);
constexpr Duration kViewChangeTimeout = std::chrono::milliseconds(100);
constexpr Duration kGapHoldTimeout = std::chrono::milliseconds(10);

RttEstimator::Bounds bounds_of(const Reliability& r) { return {r.min_rto, r.max_rto, r.initial_rto}; }

// The manifest's reliability, or the defaults; by reference: it is read several times per ack
// and per timer (a copy measured ~1% of the sending runtime thread at 1% loss).
const Reliability& reliability_defaults(const Manifest& m) {
  static const Reliability kDefaults{};
  return m.reliability ? *m.reliability : kDefaults;
}

// A fraction of `count` members as a whole number: the nearest one, at least one
// (0.67 of 3 is 2; 0.5 of 3 is 2, a majority; 1.0 is all).
std::size_t whole_members(double fraction, std::size_t count) {
  if (count == 0) return 0;
  return std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(fraction * double(count))), 1, count);
}

}  // namespace

ChannelCore::ChannelCore(const Config& config, Output& output)
    : output_(output),
      random_(config.random_seed ? config.random_seed : std::random_device{}()),
      self_(config.self),
      defaults_(config.manifest) {
  sequencer_role_ = config.dedicated_sequencer;
  configure_logging();
  channel_id_ = config.channel_id ? config.channel_id : channel_id_for(defaults_.channel.value_or("default"));
  sender_id_ = self_.empty() ? static_cast<std::uint32_t>(random_() | 1) : sender_id_for(self_);
  do epoch_ = static_cast<std::uint32_t>(random_()); while (epoch_ == 0);
  now_ = config.now;
  capabilities_ = config.capabilities;
  if (sequencer_role_ && (self_.empty() || defaults_.ordering != Ordering::total))
    throw std::invalid_argument("a dedicated sequencer needs its address as self and a channel whose ordering is total");
  if (!self_.empty() && defaults_.multicast && !sequencer_role_) {
    const auto& listed = defaults_.multicast->members;
    const bool known = std::any_of(listed.begin(), listed.end(), [&](const Member& m) { return m.name == self_; });
    if (!known) throw std::invalid_argument("self: '" + self_ + "' is not a member of the channel");
  }
  apply_manifest(defaults_);
  if (plan_) defaults_.mtu = plan_->mtu;  // the capabilities' path MTU (the plan took the manifest's into account)
  defaults_pipeline_.reset();
  if (!self_.empty()) {
    const bool known = std::any_of(members_.begin(), members_.end(), [&](const MemberState& m) { return m.name == self_; });
    if (!known) throw std::invalid_argument("self: '" + self_ + "' is not a member of the channel");
  }
  if (sequencer_role_ && (dedicated_ < 0 || members_[dedicated_].name != self_))
    throw std::invalid_argument("'" + self_ + "' is not the dedicated sequencer of the capabilities file (sequencer: '" +
                                (capabilities_ ? capabilities_->sequencer : std::string()) + "')");
}

void ChannelCore::ensure_group_stream(std::optional<SocketAddress> destination, bool user_space_fanout) {
  if (group_stream_ >= 0) {
    const Stream& current = streams_[group_stream_];
    if (current.destination == destination && current.user_space_fanout == user_space_fanout) return;
  }
  std::vector<int> receivers;
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (members_[i].name != self_) receivers.push_back(static_cast<int>(i));
  Stream stream = make_stream(kGroupStream, receivers, destination);
  stream.user_space_fanout = user_space_fanout;
  if (group_stream_ >= 0) streams_[group_stream_] = std::move(stream);
  else {
    streams_.push_back(std::move(stream));
    group_stream_ = static_cast<int>(streams_.size() - 1);
  }
}

void ChannelCore::configure_total_order(const Manifest& manifest) {
  if (manifest.ordering != Ordering::total || self_.empty()) {
    total_.reset();
    return;
  }
  const bool reliable = manifest.reliability && manifest.reliability->kind != Reliability::Kind::none;
  if (total_) return;  // the group and its view outlive updates of other features
  TotalOrderConfig config;
  config.self = self_;
  for (const auto& member : members_) config.participants.push_back(member.name);
  // Participants: the members and the dedicated sequencer (add_dedicated_sequencer), if any.
  config.sequencer_candidates = plan_transport(manifest, capabilities_.value_or(Capabilities{}), self_).sequencer_candidates;
  // A dedicated sequencer delivers nothing: once deposed it follows the stamps without waiting
  // for messages it may have missed (members stop retransmitting to it), so it skips what it
  // lacks like an unreliable member instead of holding a growing log. While it sequences it
  // has every message it stamped, so nothing changes for the group.
  config.reliable = reliable && !sequencer_role_;
  config.sequencer_timeout = kSequencerTimeout;
  config.view_change_timeout = kViewChangeTimeout;
  config.hold_timeout = kGapHoldTimeout;
  total_ = std::make_unique<TotalOrderMember>(config, now_);
  SPDLOG_DEBUG("channel {:08x}: total order, sequencer {}", channel_id_, total_->sequencer());
  arm_timer(now_ + kTotalOrderPoll);
}

std::uint64_t ChannelCore::random_sequence_start() {
  // Random 32-bit base (the seed's per-epoch random sequence base), with 2^63 of headroom.
  return (random_() & 0xFFFFFFFFull) + 1;
}

void ChannelCore::add_dedicated_sequencer(const std::vector<std::string>& candidates) {
  if (dedicated_ >= 0) return;
  for (const auto& candidate : candidates) {
    const bool member = std::any_of(members_.begin(), members_.end(), [&](const MemberState& m) { return m.name == candidate; });
    if (member) continue;
    if (!SocketAddress::parse(candidate))
      throw std::invalid_argument("ordering: total: sequencer '" + candidate +
                                  "' is neither a member nor the host:port of a dedicated sequencer process");
    dedicated_ = add_member_state({candidate, candidate});
    members_[dedicated_].dedicated_sequencer = true;
    return;  // the capabilities file names one sequencer
  }
}

bool ChannelCore::dedicated_sequencer_reliable() const {
  return dedicated_ >= 0 && !sequencer_role_ && !members_[dedicated_].down && total_ &&
         total_->sequencer() == members_[dedicated_].name;
}

void ChannelCore::release_dedicated_sequencer() {
  release_dedicated_ = false;
  if (dedicated_ < 0 || group_stream_ < 0 || dedicated_sequencer_reliable()) return;
  Stream& stream = streams_[group_stream_];
  const int position = stream.window.position_of(dedicated_);
  if (position < 0 || stream.window.pending_for(position) == 0) return;
  SPDLOG_DEBUG("channel {:08x}: dedicated sequencer {} no longer sequences: {} packets no longer wait for it", channel_id_,
               members_[dedicated_].name, stream.window.pending_for(position));
  stream.window.abandon_receiver(position, [&](const SentPacket& packet) {
    if (packet.pending == 0) stream.congestion->on_packet_discarded(packet.bytes.size());
  });
}

int ChannelCore::add_member_state(const Member& member) {
  if (members_.size() >= kMaxMembers) throw std::invalid_argument("multicast: at most 64 members");
  MemberState state{member.name, std::nullopt, sender_id_for(member.name),
                    RttEstimator(bounds_of(reliability_defaults(defaults_)))};
  if (!member.address.empty()) {
    state.address = SocketAddress::parse(member.address);
    if (!state.address) throw std::invalid_argument("multicast: member '" + member.name + "' has a bad address '" + member.address + "'");
  }
  members_.push_back(std::move(state));
  const int index = static_cast<int>(members_.size() - 1);
  streams_.push_back(make_stream(kMemberStream, {index}, std::nullopt));
  members_[index].unicast_stream = static_cast<int>(streams_.size() - 1);
  return index;
}

void ChannelCore::apply_manifest(const Manifest& manifest) {
  // The transport plan validates what needs the whole channel (duplexity against reliability,
  // flow control, congestion control); with a capabilities file it also decides checksums,
  // fan-out and MTU. Then the pipeline validates the rest; both throw for what cannot be realised.
  TransportPlan plan = plan_transport(manifest, capabilities_.value_or(Capabilities{}), self_);
  // Flow control is fixed when the channel opens (streams get their credit when created).
  if (!flow_control_ && manifest.flow_control && streams_.empty() && !sequencer_role_) {
    flow_control_ = manifest.flow_control;
    credit_config_.window_bytes = manifest.flow_control->window_bytes;
    credit_config_.max_packet_payload_bytes = compile_pipeline(manifest).max_payload;
  }
  const std::vector<std::string> sequencer_candidates = plan.sequencer_candidates;
  if (capabilities_) plan_ = std::move(plan);
  nic_checksum_ = plan_ && plan_->nic_checksum;
  sequence_flags_ = compile_pipeline(manifest, nic_checksum_).checksum ? TMC_FLAG_CHECKSUM : 0;
  if (manifest.multicast) {
    std::set<std::string> names;
    for (const auto& member : manifest.multicast->members) {
      if (member.name.empty()) throw std::invalid_argument("multicast: a member has no name");
      if (!names.insert(member.name).second) throw std::invalid_argument("multicast: duplicate member '" + member.name + "'");
    }
    for (const auto& member : manifest.multicast->members) add_member(member);
    if (manifest.ordering == Ordering::total) add_dedicated_sequencer(sequencer_candidates);
    std::optional<SocketAddress> group;
    if (!manifest.multicast->group.empty()) {
      group = SocketAddress::parse(manifest.multicast->group);
      if (!group || !group->is_multicast())
        throw std::invalid_argument("multicast: group '" + manifest.multicast->group + "' is not an IP multicast address");
    }
    // Without a capabilities file a named group is used as is; with one, only where the plan
    // found IP multicast on every member host.
    kernel_fanout_wanted_ = plan_ && plan_->fanout == Fanout::ebpf && !sequencer_role_;
    if (group && (!plan_ || plan_->fanout == Fanout::ip_multicast)) {
      ensure_group_stream(group, false);
      group_address_ = group;
    } else if (kernel_fanout_wanted_ || manifest.ordering == Ordering::total) {
      ensure_group_stream(std::nullopt, !kernel_fanout_active_);
    }
  }
  configure_total_order(manifest);
  // Validated by compile_pipeline above (the module loads, names the ordering, takes the params).
  if (manifest.ordering == Ordering::module && manifest.ordering_module)
    ordering_factory_ = ModuleManager::global().ordering_factory(*manifest.ordering_module);
  else
    ordering_factory_ = nullptr;
  const auto bounds = bounds_of(reliability_defaults(manifest));
  for (auto& member : members_) member.rtt.set_bounds(bounds);
  pipeline_cache_.clear();
  defaults_pipeline_.reset();
}

ChannelCore::Stream ChannelCore::make_stream(std::uint16_t id, std::vector<int> receivers,
                                             std::optional<SocketAddress> destination) {
  const std::uint64_t start = random_sequence_start();
  std::unique_ptr<CreditSender> credit;
  if (flow_control_) {
    credit = std::make_unique<CreditSender>(credit_config_, epoch_);
    for (int receiver : receivers)
      if (!members_[receiver].dedicated_sequencer) credit->add_receiver(static_cast<std::uint32_t>(receiver), start);
  }
  Stream stream{SendStream(id, std::move(receivers), start), std::move(destination), {}};
  stream.credit = std::move(credit);
  configure_path_control(stream);
  return stream;
}

void ChannelCore::configure_path_control(Stream& stream) {
  // A new controller starts from the current in-flight count of zero: streams are configured
  // at creation and on update(), and update() keeps existing controllers unless the
  // algorithm changed.
  const CongestionControl cc = defaults_.congestion_control.value_or(CongestionControl{});
  const std::uint32_t mtu = defaults_.mtu.value_or(1500);
  stream.transport->max_datagram_bytes = mtu - 28;
  if (!stream.congestion || stream.congestion->name() != cc.algorithm) {
    const std::uint64_t in_flight = stream.transport->bytes_in_flight;
    stream.congestion = create_congestion_controller(cc, *stream.transport);
    stream.transport->bytes_in_flight = in_flight;
  }
  const Pacing pacing = defaults_.pacing.value_or(Pacing{});
  if (stream.pacer) stream.pacer->set_channel_pacing(pacing, now_);
  else stream.pacer = std::make_unique<Pacer>(pacing, stream.transport.get(), now_);
}

void ChannelCore::add_member(const Member& member) {
  for (auto& existing : members_) {
    if (existing.name != member.name) continue;
    if (!member.address.empty()) {
      auto address = SocketAddress::parse(member.address);
      if (!address) throw std::invalid_argument("member '" + member.name + "': bad address '" + member.address + "'");
      existing.address = address;
    }
    return;
  }
  add_member_state(member);
}

void ChannelCore::update(const Manifest& manifest) {
  Manifest merged = manifest.merged_over(defaults_);
  if (merged.channel != defaults_.channel) throw std::invalid_argument("channel: the name cannot change");
  apply_manifest(merged);
  defaults_ = std::move(merged);
  if (plan_) defaults_.mtu = plan_->mtu;
  defaults_pipeline_.reset();
  for (auto& stream : streams_) configure_path_control(stream);
}

const CompiledPipeline& ChannelCore::compiled(const Manifest& effective) {
  for (const auto& [manifest, pipeline] : pipeline_cache_)
    if (manifest == effective) return pipeline;
  if (pipeline_cache_.size() >= 16) pipeline_cache_.erase(pipeline_cache_.begin());
  pipeline_cache_.emplace_back(effective, compile_pipeline(effective, nic_checksum_));
  return pipeline_cache_.back().second;
}

std::vector<int> ChannelCore::resolve_targets(const CompiledPipeline& pipeline, const Manifest& manifest) {
  std::vector<int> eligible;
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (members_[i].name != self_ && !members_[i].dedicated_sequencer) eligible.push_back(static_cast<int>(i));
  std::vector<int> targets;
  auto index_of = [&](const std::string& name) {
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (members_[i].name == name && !members_[i].dedicated_sequencer) return static_cast<int>(i);
    throw std::invalid_argument("targets: '" + name + "' is not a member");
  };
  switch (pipeline.targets.kind) {
    case Targets::Kind::all: targets = std::move(eligible); break;
    case Targets::Kind::subset:
      for (const auto& name : pipeline.targets.names) targets.push_back(index_of(name));
      break;
    case Targets::Kind::fraction: {
      const std::size_t count = std::min(eligible.size(), whole_members(pipeline.targets.fraction, eligible.size()));
      for (std::size_t i = 0; i < count; ++i) targets.push_back(eligible[(target_rotation_ + i) % eligible.size()]);
      if (!eligible.empty()) target_rotation_ = (target_rotation_ + count) % eligible.size();
      break;
    }
  }
  // Members whose acknowledgement is required are always sent to.
  if (pipeline.reliability.kind == Reliability::Kind::subset)
    for (const auto& name : pipeline.reliability.names) {
      const int member = index_of(name);
      if (std::find(targets.begin(), targets.end(), member) == targets.end()) targets.push_back(member);
    }
  return targets;
}

Completion ChannelCore::send(std::span<const std::byte> payload, const Manifest& per_message, TimePoint now) {
  now_ = now;
  if (closed_) return Completion(Completion::State::decided(SendStatus::closed));
  if (sequencer_role_) throw std::invalid_argument("a dedicated sequencer stamps messages; it sends none");
  if (defaults_.duplexity == Duplexity::receive_only)
    throw std::invalid_argument("duplexity: receive-only (subscribe-only): this endpoint does not send");
  // Most sends carry no per-message fields: then the defaults are the effective manifest, and
  // the merge (a copy of every field, strings and member lists included) is skipped.
  static const Manifest kNoOverrides{};
  const bool overrides = !(per_message == kNoOverrides);
  const Manifest merged = overrides ? per_message.merged_over(defaults_) : Manifest{};
  const Manifest& effective = overrides ? merged : defaults_;
  if (!overrides && !defaults_pipeline_) defaults_pipeline_ = compiled(defaults_);
  const CompiledPipeline& pipeline = overrides ? compiled(effective) : *defaults_pipeline_;
  if (payload.size() > TMC_MAX_MESSAGE_LENGTH)
    throw std::invalid_argument("message of " + std::to_string(payload.size()) + " bytes exceeds the " +
                                std::to_string(TMC_MAX_MESSAGE_LENGTH >> 20) + " MiB limit");
  const std::vector<int> targets = resolve_targets(pipeline, effective);

  // Whose acknowledgements count, and how many complete the send.
  QuorumTracker::Requirement requirement;
  switch (pipeline.reliability.kind) {
    case Reliability::Kind::none: break;
    case Reliability::Kind::all:
      requirement.counted = targets;
      requirement.needed = targets.size();
      break;
    case Reliability::Kind::subset:
      for (const auto& name : pipeline.reliability.names)
        for (std::size_t i = 0; i < members_.size(); ++i)
          if (members_[i].name == name) requirement.counted.push_back(static_cast<int>(i));
      requirement.needed = requirement.counted.size();
      break;
    case Reliability::Kind::fraction:
      requirement.counted = targets;
      requirement.needed = whole_members(pipeline.reliability.fraction, targets.size());
      break;
  }
  std::uint64_t reliable = 0;  // bit per member index (at most kMaxMembers = 64)
  for (int member : requirement.counted)
    if (!members_[member].down) reliable |= 1ull << member;
  auto is_reliable = [&](int member) { return (reliable >> member) & 1; };

  // Nothing to wait for (unreliable): the shared decided state, no allocation per send.
  const bool decided_now = requirement.needed == 0;
  auto state = decided_now ? Completion::State::decided(SendStatus::delivered) : std::make_shared<Completion::State>();
  Completion completion(state);

  const std::uint64_t message_id = next_message_id_++;
  const std::uint32_t fragments =
      payload.empty() ? 1 : static_cast<std::uint32_t>((payload.size() + pipeline.max_payload - 1) / pipeline.max_payload);
  const TimePoint deadline = pipeline.deadline ? now + *pipeline.deadline : kNever;
  if (!decided_now) quorum_.add(message_id, requirement, fragments, std::move(state), deadline, members_.size());
  for (int member : requirement.counted)
    if (members_[member].down) quorum_.on_member_failed(message_id, member);
  if (deadline != kNever) arm_timer(deadline);

  ++stats_.messages_sent;
  stats_.bytes_sent += payload.size();
  // Copied only if a backlog still holds the message when send() returns (see Outgoing).
  std::shared_ptr<const std::vector<std::byte>> shared_payload;

  if (flow_control_) {
    // Sender memory: held until every backlog sent it and its completion resolved.
    buffered_bytes_ += payload.size();
    stats_.send_buffer_peak_bytes = std::max(stats_.send_buffer_peak_bytes, buffered_bytes_);
    held_[message_id] = HeldMessage{payload.size(), 0, false};
  }
  auto enqueue = [&](Stream& stream, std::uint64_t mask) {
    if (flow_control_) ++held_[message_id].backlogs;
    stream.backlog.push_back(Outgoing{message_id, payload, nullptr, {}, pipeline.flags, mask, fragments});
    // Left (wholly or some fragments) for a later pump, after the application's bytes are gone:
    // the message gets its own copy (also when pump throws).
    auto own_what_is_left = [&] {
      if (stream.backlog.empty() || stream.backlog.back().message_id != message_id) return;
      Outgoing& left = stream.backlog.back();
      if (left.fragment_count == 1) {  // nothing of it left yet: staged as its packet
        std::vector<std::byte> staged = stream.window.take_buffer();
        staged.resize(TMC_DATA_HEADER_SIZE);
        staged.insert(staged.end(), payload.begin(), payload.end());
        left.payload = std::span<const std::byte>(staged).subspan(TMC_DATA_HEADER_SIZE);
        left.staged = std::move(staged);  // the heap buffer, and with it `payload`, stays put
        return;
      }
      if (!shared_payload) shared_payload = std::make_shared<const std::vector<std::byte>>(payload.begin(), payload.end());
      left.owner = shared_payload;
      left.payload = *shared_payload;
    };
    try {
      pump(stream, now);
    } catch (...) {
      own_what_is_left();
      throw;
    }
    own_what_is_left();
  };
  // Sorted targets (resolve_targets lists them in member order unless a subset names them
  // otherwise: copied and sorted only then) against the group stream's receivers that are
  // members (a dedicated sequencer is not; without one, the receivers themselves, uncopied).
  std::vector<int> sorted_copy;
  if (!std::is_sorted(targets.begin(), targets.end())) {
    sorted_copy = targets;
    std::sort(sorted_copy.begin(), sorted_copy.end());
  }
  const std::vector<int>& sorted = sorted_copy.empty() ? targets : sorted_copy;
  static const std::vector<int> kNobody;
  std::vector<int> members_only;
  const std::vector<int>* group_members = &kNobody;
  if (group_stream_ >= 0) {
    const std::vector<int>& receivers = streams_[group_stream_].window.receivers();
    group_members = &receivers;
    if (dedicated_ >= 0) {
      for (int receiver : receivers)
        if (!members_[receiver].dedicated_sequencer) members_only.push_back(receiver);
      group_members = &members_only;
    }
  }
  const std::vector<int>& everyone = *group_members;
  if (pipeline.ordering == Ordering::total && (!total_ || group_stream_ < 0 || sorted != everyone))
    throw std::invalid_argument(
        "ordering: total needs the channel's ordering to be total and ChannelOptions::self to be a member");
  if (group_stream_ >= 0 && sorted == everyone && !sorted.empty()) {
    Stream& group = streams_[group_stream_];
    std::uint64_t mask = 0;
    const bool to_sequencer = pipeline.ordering == Ordering::total &&
                              pipeline.reliability.kind != Reliability::Kind::none && dedicated_sequencer_reliable();
    for (std::size_t position = 0; position < group.window.receivers().size(); ++position) {
      const int receiver = group.window.receivers()[position];
      if (is_reliable(receiver) || (to_sequencer && receiver == dedicated_)) mask |= 1ull << position;
    }
    enqueue(group, mask);
  } else {
    for (int member : targets) enqueue(streams_[members_[member].unicast_stream], is_reliable(member) ? 1 : 0);
  }
  // Delayed acknowledgements leave now, in the same transmit batch (one sendmmsg) as this
  // message's packets and after them: a reply carries the ack of its request, and a peer woken
  // by the first datagram finds the data first.
  if (!acks_due_.empty()) send_pending_acks(now, true);
  if (flow_control_) {
    if (held_[message_id].backlogs == 0) release_held(message_id, false, true);
    completion.on_complete([this, message_id](SendStatus) { release_held(message_id, true, false); });
  }
  return completion;
}

void ChannelCore::pump(Stream& stream, TimePoint now) {
  const Reliability& reliability = reliability_defaults(defaults_);
  const std::uint64_t window = reliability.window;
  while (!stream.backlog.empty()) {
    Outgoing& message = stream.backlog.front();
    // The receivers this packet waits for. The dedicated sequencer's bit was chosen at send();
    // a packet that leaves after the view moved away from it (or it went down) does not wait
    // for it, or the window would stall on a sequencer that is gone.
    std::uint64_t reliable_mask = message.reliable_mask;
    if (dedicated_ >= 0 && reliable_mask && !dedicated_sequencer_reliable()) {
      const int position = stream.window.position_of(dedicated_);
      if (position >= 0) reliable_mask &= ~(1ull << position);
    }
    if (reliable_mask && stream.window.in_flight() >= window) return;
    const std::optional<SocketAddress>& destination =
        stream.destination ? stream.destination : members_[stream.window.receivers()[0]].address;
    const std::uint64_t sequence = stream.window.next_sequence();
    if (stream.credit && !stream.credit->can_send(sequence)) {
      ++stats_.credit_stalls;
      arm_timer(now + credit_config_.blocked_probe_interval);  // BLOCKED probes from on_timer
      return;
    }
    if (message.next_fragment == 0) {
      message.first_sequence = sequence;
      // Total order: the member's own message waits for its stamp like everyone else's copy.
      if ((message.flags & TMC_FLAG_TOTAL_ORDER) && total_) {
        total_->on_data({sender_id_, epoch_, sequence}, {message.payload.begin(), message.payload.end()}, now);
        drain_total_order(now);
      }
    }
    const std::size_t length = message.payload.size();
    const std::uint32_t size = wire::fragment_size(static_cast<std::uint32_t>(length), message.fragment_count);
    const std::size_t offset = std::size_t(size) * message.next_fragment;
    const std::size_t chunk = message.fragment_count == 1 ? length : std::min<std::size_t>(size, length - offset);
    const std::uint64_t packet_bytes = TMC_DATA_HEADER_SIZE + chunk;
    // Congestion window (reliable packets: only they are acknowledged), then the pacer.
    if (reliable_mask && !stream.congestion->can_send(packet_bytes)) return;
    const auto wait = stream.pacer->time_until_send(packet_bytes, now);
    if (wait > Duration::zero()) {
      arm_timer(now + wait);
      return;
    }

    wire::CommonHeader common = own_header(wire::PacketType::data, message.flags, stream.window.id());
    wire::DataHeader data;
    data.sequence = sequence;
    data.forward_sequence = std::min(stream.window.forward_sequence(), message.first_sequence);
    data.message_length = static_cast<std::uint32_t>(length);
    data.fragment_index = message.next_fragment;
    data.fragment_count = message.fragment_count;

    SentPacket packet;
    packet.message_id = message.message_id;
    packet.first_sent = packet.last_sent = now;
    packet.pending = reliable_mask;
    const std::span<const std::byte> fragment = message.payload.subspan(offset, chunk);
    std::array<std::byte, TMC_DATA_HEADER_SIZE> header;
    wire::encode_data_header(header, common, data, fragment);
    const std::size_t bytes = header.size() + fragment.size();
    // A reliable packet owns its bytes (retransmissions; an ack recycles the buffer): a staged
    // message's buffer already holds the fragment behind room for the header, else header and
    // fragment are appended to a recycled buffer, no zero-fill. An unreliable one is sent as
    // header ++ fragment straight from the message; from the application's own bytes while
    // this is the send() that queued it (Output::transmit borrowed_for_send).
    const bool staged = !message.staged.empty();
    if (reliable_mask && staged) {
      packet.bytes = std::exchange(message.staged, {});  // [room][payload]: `fragment` still points into it
      std::memcpy(packet.bytes.data(), header.data(), header.size());
    } else if (reliable_mask) {
      packet.bytes = stream.window.take_buffer();  // recycled capacity
      packet.bytes.assign(header.begin(), header.end());
      packet.bytes.insert(packet.bytes.end(), fragment.begin(), fragment.end());
    }
    // Staged bytes die with the backlog entry: the Output copies them (not borrowed).
    const bool borrowed = !message.owner && !staged;
    auto transmit = [&](const SocketAddress& to) {
      if (reliable_mask) output_.transmit(to, packet.bytes);
      else output_.transmit(to, header, fragment, borrowed);
    };
    if (stream.user_space_fanout) {
      for (int receiver : stream.window.receivers())
        if (members_[receiver].address) {
          transmit(*members_[receiver].address);
          ++stats_.packets_sent;
        }
    } else {
      if (destination) transmit(*destination);
      ++stats_.packets_sent;
      // IP multicast: the dedicated sequencer listens on its own address, not on the group.
      if (stream.destination && dedicated_ >= 0 && members_[dedicated_].address && (message.flags & TMC_FLAG_TOTAL_ORDER) &&
          stream.window.position_of(dedicated_) >= 0) {
        transmit(*members_[dedicated_].address);
        ++stats_.packets_sent;
      }
    }
    stream.pacer->on_sent(bytes, now);
    if (reliable_mask) stream.congestion->on_packet_sent({now, bytes, sequence, false});

    if (reliable_mask) {
      for (std::size_t position = 0; position < stream.window.receivers().size(); ++position) {
        if (!(reliable_mask & (1ull << position))) continue;
        MemberState& member = members_[stream.window.receivers()[position]];
        // A member's progress clock starts when it first has something outstanding.
        if (stream.window.pending_for(static_cast<int>(position)) == 0) member.last_progress = now;
        arm_timer(now + member.rtt.rto() + reliability.max_ack_delay);
        arm_timer(member.last_progress + reliability.member_timeout);
      }
    }
    stream.window.record(std::move(packet));
    if (++message.next_fragment == message.fragment_count) {
      const std::uint64_t done = message.message_id;
      if (!message.staged.empty()) stream.window.give_buffer(std::move(message.staged));  // sent unreliably
      stream.backlog.pop_front();
      if (flow_control_) release_held(done, false, true);
    }
  }
}

void ChannelCore::on_datagram(std::span<const std::byte> datagram, const SocketAddress& source, TimePoint now) {
  now_ = now;
  ++stats_.packets_received;
  wire::ParsedPacket packet;
  const wire::ParseError error = wire::parse_packet(datagram, packet);
  if (error != wire::ParseError::ok) {
    if (error == wire::ParseError::bad_checksum) ++stats_.checksum_failures;
    else ++stats_.malformed_dropped;
    SPDLOG_DEBUG("dropped packet from {}: {}", source.to_string(), wire::to_string(error));
    return;
  }
  if (packet.common.channel_id != channel_id_) {
    ++stats_.malformed_dropped;
    return;
  }
  if (packet.common.sender_id == sender_id_ && packet.common.epoch == epoch_) return;  // own multicast copy
  switch (packet.common.type) {
    case wire::PacketType::data: handle_data(packet, source, now); break;
    case wire::PacketType::ack: handle_ack(packet, source, now); break;
    case wire::PacketType::control:
      output_.control(packet.control.subtype, packet.control.argument, packet.common.sender_id, source);
      break;
    case wire::PacketType::sequence: handle_sequence(datagram, packet, source, now); break;
    case wire::PacketType::credit: handle_credit(datagram, packet, source, now); break;
    default: ++stats_.malformed_dropped; break;
  }
}

void ChannelCore::handle_data(const wire::ParsedPacket& packet, const SocketAddress& source, TimePoint now) {
  const Duplexity duplexity = defaults_.duplexity.value_or(Duplexity::full);
  if (duplexity == Duplexity::send_only) {  // publish-only: nothing is received
    ++stats_.simplex_dropped;
    return;
  }
  const bool return_path = duplexity != Duplexity::receive_only;  // subscribe-only: never an ack
  const auto& data = packet.data;
  const std::uint16_t flags = packet.common.flags;
  const auto key = std::make_pair(packet.common.sender_id, packet.common.stream);
  auto it = inbound_.find(key);
  if (it == inbound_.end() || it->second.epoch != packet.common.epoch) {
    if (it != inbound_.end()) inbound_.erase(it);  // the sender restarted: a new epoch
    std::unique_ptr<ReceiveOrdering> ordering;
    try {
      ordering = make_ordering(key.first, key.second);
    } catch (const std::exception& error) {  // the module's create() failed for this stream
      SPDLOG_ERROR("channel {:08x}: {}; packet from {} dropped", channel_id_, error.what(), source.to_string());
      ++stats_.malformed_dropped;
      return;
    }
    it = inbound_.emplace(key, InboundStream(packet.common.epoch, data.forward_sequence, std::move(ordering))).first;
  }
  InboundStream& stream = it->second;
  if (flow_control_) {
    if (!stream.credit) {
      stream.credit = std::make_unique<CreditReceiver>(credit_config_, packet.common.epoch, data.forward_sequence);
      stream.credit->set_application_queue_bytes(application_queue_bytes_);
    }
    if (!stream.credit->on_packet(data.sequence)) {  // beyond the credit granted: the sender misbehaves
      ++stats_.credit_violations;
      ++stats_.malformed_dropped;
      return;
    }
  }
  stream.reply_to = source;
  stream.checksummed = flags & TMC_FLAG_CHECKSUM;
  if ((flags & TMC_FLAG_ACK_REQUESTED) && return_path) {
    if (!stream.ack_pending) {
      stream.ack_pending = true;
      stream.oldest_unacked = now;
      acks_due_.push_back(key);
    }
  }
  std::vector<CompleteMessage> ready;
  // The sender's forward point first: it may resolve gaps below this packet.
  const auto gaps = stream.tracker.on_forward(data.forward_sequence);
  for (const auto& gap : gaps) {
    stats_.abandoned += gap.count;
    // Total order reports its gaps in group sequences (TotalOrderMember), not per stream.
    if (!(flags & TMC_FLAG_TOTAL_ORDER)) output_.gap(Gap{packet.common.sender_id, gap.first, gap.count});
  }
  const std::uint64_t next_expected = stream.tracker.next_expected();
  const auto arrival = stream.tracker.on_packet(data.sequence);
  if ((flags & TMC_FLAG_ACK_REQUESTED) && return_path) {
    // RFC 9000 13.2.1: acknowledge at once a packet that arrives below the highest received
    // (fills a gap, or is a duplicate: its ack was lost), and one that opens a gap (above the
    // next expected sequence) at the end of this batch. One that extends the highest point
    // counts toward the ack threshold; above an open gap every few of them are acknowledged at
    // the end of this batch (kAckEveryPacketsAboveAGap).
    const bool extends = arrival == ReceiveTracker::Arrival::fresh && data.sequence == next_expected;
    const bool gap_open = stream.tracker.cumulative() <= data.sequence;
    const bool opens_gap = arrival == ReceiveTracker::Arrival::fresh && data.sequence > next_expected;
    if (!extends && !opens_gap) {
      send_ack(stream, key.first, key.second, now);  // fills a gap, or a duplicate
    } else if (++stream.unacked >= kAckEveryPackets) {
      send_ack(stream, key.first, key.second, now);
    } else if (opens_gap || (gap_open && stream.unacked >= kAckEveryPacketsAboveAGap)) {
      stream.ack_at_batch_end = true;
    }
  }
  switch (arrival) {
    case ReceiveTracker::Arrival::duplicate:
    case ReceiveTracker::Arrival::too_old:
      ++stats_.duplicates_dropped;
      break;
    case ReceiveTracker::Arrival::late:
      // Abandoned by the sender and arrived anyway: an unordered single-packet message is still
      // worth delivering; anything else is stale.
      if (data.fragment_count == 1 && !(flags & TMC_FLAG_ORDERED)) {
        CompleteMessage message{data.sequence, 1, flags, {packet.payload.begin(), packet.payload.end()}};
        ready.push_back(std::move(message));
      } else if (data.fragment_count == 1 && stream.order->accepts_late() && !(flags & TMC_FLAG_TOTAL_ORDER)) {
        CompleteMessage message{data.sequence, 1, flags, {packet.payload.begin(), packet.payload.end()}};
        counting_drops(*stream.order, stats_.stale_dropped, [&](ReceiveOrdering& order) {
          order.on_message(std::move(message), stream.tracker.cumulative(), true, now, ready);
        });
      } else {
        ++stats_.stale_dropped;
      }
      break;
    case ReceiveTracker::Arrival::fresh:
      if (auto message = stream.reassembler.on_fragment(data, flags, packet.payload)) {
        counting_drops(*stream.order, stats_.stale_dropped, [&](ReceiveOrdering& order) {
          order.on_message(std::move(*message), stream.tracker.cumulative(), false, now, ready);
        });
      }
      break;
  }
  stream.reassembler.discard_below(stream.tracker.cumulative());
  counting_drops(*stream.order, stats_.stale_dropped,
                 [&](ReceiveOrdering& order) { order.on_progress(stream.tracker.cumulative(), now, ready); });
  arm_timer(stream.order->next_timer());  // an ordering module's hold timer
  deliver_released(stream, key, source, ready, now);
}

std::unique_ptr<ReceiveOrdering> ChannelCore::make_ordering(std::uint32_t sender_id, std::uint16_t stream) {
  if (!ordering_factory_) return std::make_unique<DeliveryOrder>();
  auto ordering = ordering_factory_(sender_id, stream);
  timed_orderings_ = true;
  return ordering;
}

void ChannelCore::deliver_released(InboundStream& stream, std::pair<std::uint32_t, std::uint16_t> key,
                                   const SocketAddress& source, std::vector<CompleteMessage>& ready, TimePoint now) {
  if (stream.credit) {
    for (const auto& message : ready)
      if (!(message.flags & TMC_FLAG_TOTAL_ORDER)) ++stream.unconsumed[message.first_sequence];
    grant_credit(stream, key.second, now);
  }
  deliver_all(key.first, stream.epoch, source, ready);
}

// Orderings that wait on time (a module's hold timer): release what is due, re-arm the rest.
void ChannelCore::poll_ordering_timers(TimePoint now) {
  if (!timed_orderings_) return;  // DeliveryOrder never waits on time
  std::vector<CompleteMessage> ready;
  for (auto& [key, stream] : inbound_) {
    if (stream.order->next_timer() <= now) {
      counting_drops(*stream.order, stats_.stale_dropped,
                     [&](ReceiveOrdering& order) { order.on_progress(stream.tracker.cumulative(), now, ready); });
      if (!ready.empty()) {
        deliver_released(stream, key, stream.reply_to, ready, now);
        ready.clear();
      }
    }
    arm_timer(stream.order->next_timer());
  }
}

void ChannelCore::deliver_all(std::uint32_t sender_id, std::uint32_t epoch, const SocketAddress& source, std::vector<CompleteMessage>& messages) {
  if (messages.empty()) return;
  std::string name;
  for (const auto& member : members_)
    if (member.sender_id == sender_id) name = member.name;
  bool total_order_input = false;
  for (auto& complete : messages) {
    if ((complete.flags & TMC_FLAG_TOTAL_ORDER) && total_) {
      // Held until the sequencer's stamp places it (TotalOrderMember delivers it then). A
      // dedicated sequencer needs only the message's id.
      total_->on_data({sender_id, epoch, complete.first_sequence},
                      sequencer_role_ ? std::vector<std::byte>{} : std::move(complete.payload), now_);
      total_order_input = true;
      continue;
    }
    if (sequencer_role_) continue;  // it delivers nothing
    Message message;
    message.payload = std::move(complete.payload);
    message.sender = name;
    message.sender_id = sender_id;
    std::memcpy(&message.source, &source.storage, sizeof message.source);
    message.sequence = complete.first_sequence;
    ++stats_.messages_delivered;
    stats_.bytes_delivered += message.payload.size();
    output_.deliver(std::move(message));
  }
  if (total_order_input) drain_total_order(now_);
}

void ChannelCore::handle_sequence(std::span<const std::byte> datagram, const wire::ParsedPacket& packet,
                                  const SocketAddress& source, TimePoint now) {
  const auto message = decode_sequence(datagram);
  const int member = member_by_sender(packet.common.sender_id, source);
  if (!message || member < 0 || !total_) {
    ++stats_.malformed_dropped;
    return;
  }
  const std::string& from = members_[member].name;
  if (!sequencer_incarnation_matches(from, packet.common.epoch, *message)) {
    // A restarted sequencer: its stamps are refused. Within the current view it is given up on
    // at once; a member of a later view tells it the view (the notice carries no stamps).
    ++stats_.stale_sequencer_packets;
    if (message->view == total_->view()) total_->suspect_sequencer(now);
    total_->on_sequence(from, {.kind = SequenceMessage::Kind::heartbeat, .view = message->view}, now);
    drain_total_order(now);
    return;
  }
  total_->on_sequence(from, *message, now);
  drain_total_order(now);
}

bool ChannelCore::sequencer_incarnation_matches(const std::string& from, std::uint32_t epoch, const SequenceMessage& message) {
  using Kind = SequenceMessage::Kind;
  if (message.kind != Kind::stamps && message.kind != Kind::heartbeat && message.kind != Kind::new_view) return true;
  if (from != total_->sequencer_for(message.view)) return true;  // a peer answering a REQUEST
  auto [it, first] = view_epochs_.emplace(message.view, epoch);
  if (view_epochs_.size() > 64) view_epochs_.erase(view_epochs_.begin());  // views long replaced
  return first || it->second == epoch;
}

// The common header of a packet this member sends: its channel, sender id and epoch. The
// encoders fill the type where the frame decides it, the lengths and the checksum.
wire::CommonHeader ChannelCore::own_header(wire::PacketType type, std::uint16_t flags, std::uint16_t stream) const {
  wire::CommonHeader common;
  common.type = type;
  common.flags = flags;
  common.channel_id = channel_id_;
  common.sender_id = sender_id_;
  common.epoch = epoch_;
  common.stream = stream;
  return common;
}

void ChannelCore::transmit_sequence(const std::string& destination, const SequenceMessage& message) {
  std::byte type_part[TMC_SEQ_HEADER_SIZE + TMC_SEQ_STAMP_SIZE * TMC_SEQ_MAX_STAMPS];
  const std::size_t size = encode_sequence(message, type_part);
  if (size == 0) return;
  // Stream kMemberStream: sent to each member itself, the kernel fan-out leaves stream 0 alone.
  wire::CommonHeader common = own_header(wire::PacketType::sequence, sequence_flags_, kMemberStream);
  std::byte packet[sizeof type_part];
  const std::size_t bytes = wire::encode_raw(packet, common, std::span(type_part).subspan(TMC_COMMON_HEADER_SIZE, size - TMC_COMMON_HEADER_SIZE), {});
  for (const auto& member : members_) {
    if (member.name == self_ || !member.address) continue;
    if (!destination.empty() && member.name != destination) continue;
    output_.transmit(*member.address, std::span(packet, bytes));
    ++stats_.packets_sent;
  }
}

void ChannelCore::drain_total_order(TimePoint now) {
  for (const auto& outgoing : total_->take_outgoing()) transmit_sequence(outgoing.destination, outgoing.message);
  if (sequencer_role_) {
    // The dedicated sequencer follows the group's order (to take part in view changes) but has
    // no application: its deliveries and gaps end here.
    total_->take_deliveries();
    for (const auto& gap : total_->take_gaps()) {
      ++stats_.total_order_gaps;
      stats_.total_order_gap_messages += gap.count;
    }
  }
  for (auto& delivery : total_->take_deliveries()) {
    Message message;
    message.payload = std::move(delivery.payload);
    message.sender_id = delivery.id.sender_id;
    for (const auto& member : members_)
      if (member.sender_id == delivery.id.sender_id) {
        message.sender = member.name;
        if (member.address) std::memcpy(&message.source, &member.address->storage, sizeof message.source);
      }
    message.sequence = delivery.id.sender_sequence;
    message.group_sequence = delivery.group_sequence;
    ++stats_.messages_delivered;
    stats_.bytes_delivered += message.payload.size();
    output_.deliver(std::move(message));
  }
  for (const auto& gap : total_->take_gaps()) {
    ++stats_.total_order_gaps;
    stats_.total_order_gap_messages += gap.count;
    stats_.abandoned += gap.count;
    output_.gap(Gap{0, gap.first_group_sequence, gap.count});
  }
  for (const auto& change : total_->take_sequencer_changes()) {
    ++stats_.sequencer_changes;
    SPDLOG_WARN("channel {:08x}: total order: sequencer {} suspected (no stamp or heartbeat for {} ms); view {} -> {}, "
                "sequencer {}", channel_id_, change.suspected,
                std::chrono::duration_cast<std::chrono::milliseconds>(kSequencerTimeout).count(), change.old_view,
                change.new_view, change.sequencer);
    if (dedicated_ >= 0) release_dedicated_ = true;  // on_timer: what it still owes, if it no longer sequences
  }
  (void)now;
}

void ChannelCore::end_of_batch(TimePoint now) {
  now_ = now;
  send_pending_acks(now, reliability_defaults(defaults_).max_ack_delay == Duration::zero());
}

void ChannelCore::send_pending_acks(TimePoint now, bool all) {
  const Duration delay = reliability_defaults(defaults_).max_ack_delay;
  ack_deadline_ = kNever;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < acks_due_.size(); ++i) {
    const auto key = acks_due_[i];
    auto it = inbound_.find(key);
    if (it == inbound_.end() || !it->second.ack_pending) continue;
    const TimePoint due = it->second.oldest_unacked + delay;
    if (all || due <= now || it->second.ack_at_batch_end) {
      send_ack(it->second, key.first, key.second, now);
      continue;
    }
    if (std::find(acks_due_.begin(), acks_due_.begin() + static_cast<std::ptrdiff_t>(kept), key) !=
        acks_due_.begin() + static_cast<std::ptrdiff_t>(kept)) {
      continue;  // listed twice (pending again after an immediate ack)
    }
    acks_due_[kept++] = key;
    ack_deadline_ = std::min(ack_deadline_, due);
  }
  acks_due_.resize(kept);
}

void ChannelCore::disarm_if_idle() {
  if (total_ || quorum_.size() != 0) return;
  for (const auto& stream : streams_)
    if (stream.window.in_flight() != 0 || !stream.backlog.empty()) return;
  timer_deadline_ = kNever;
  if (timed_orderings_)
    for (const auto& [key, stream] : inbound_) arm_timer(stream.order->next_timer());
}

void ChannelCore::send_ack(InboundStream& stream, std::uint32_t sender_id, std::uint16_t stream_id, TimePoint now) {
  wire::CommonHeader common =
      own_header(wire::PacketType::data, stream.checksummed ? TMC_FLAG_CHECKSUM : 0, stream_id);
  wire::AckFrame ack;
  ack.acked_epoch = stream.epoch;
  ack.ack_delay_us = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - stream.oldest_unacked).count());
  stream.tracker.fill_ack(ack);
  std::byte buffer[TMC_MAX_HEADER_SIZE];
  const std::size_t size = wire::encode_ack(buffer, common, ack);
  output_.transmit(stream.reply_to, std::span(buffer, size));
  stream.ack_pending = false;
  stream.ack_at_batch_end = false;
  stream.unacked = 0;
  ++stats_.acks_sent;
}

int ChannelCore::member_by_sender(std::uint32_t sender_id, const SocketAddress& source) {
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (members_[i].sender_id == sender_id) return static_cast<int>(i);
  // A peer that named itself differently (or not at all): recognise it by address and learn its id.
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (members_[i].address && *members_[i].address == source) {
      members_[i].sender_id = sender_id;
      return static_cast<int>(i);
    }
  return -1;
}

void ChannelCore::handle_ack(const wire::ParsedPacket& packet, const SocketAddress& source, TimePoint now) {
  ++stats_.acks_received;
  if (packet.ack.acked_epoch != epoch_) return;  // for an earlier incarnation of this sender
  const int member = member_by_sender(packet.common.sender_id, source);
  if (member < 0) return;
  Stream* stream = nullptr;
  if (packet.common.stream == kMemberStream) stream = &streams_[members_[member].unicast_stream];
  else if (packet.common.stream == kGroupStream && group_stream_ >= 0) stream = &streams_[group_stream_];
  if (!stream) return;
  const int position = stream->window.position_of(member);
  if (position < 0) return;
  MemberState& state = members_[member];
  if (state.down) {
    SPDLOG_INFO("channel {:08x}: member {} is back", channel_id_, state.name);
    state.down = false;
  }
  const std::uint64_t pending_before = stream->window.pending_for(position);
  active_stream_ = stream;
  stream->window.on_ack(position, packet.ack, now, *this);
  if (stream->window.pending_for(position) < pending_before) {
    state.last_progress = now;
    state.rtt.reset_backoff();  // RFC 9002 6.2.1
  }
  const SendStream::Timing timing = loss_timing(state);
  stream->window.detect_losses(position, now, timing.time_threshold, *this, timing.persistent_congestion);
  // The loss time, or the probe timeout with the backoff this ack may have reset (RFC 9002 6.2.1).
  auto timings = [&](int p) { return loss_timing(members_[stream->window.receivers()[p]]); };
  arm_timer(stream->window.next_timeout(timings));
  active_stream_ = nullptr;
  pump(*stream, now);
  disarm_if_idle();
}

Duration ChannelCore::loss_delay(const MemberState& member) const {
  // RFC 9002 6.1.2: 9/8 of max(smoothed RTT, latest RTT); min_rto stands in for kGranularity
  // (the smallest delay this channel's timers are trusted with on a busy host).
  const Duration rtt = std::max(member.rtt.smoothed(), member.rtt.latest());
  return std::max<Duration>(rtt * 9 / 8, reliability_defaults(defaults_).min_rto);
}

SendStream::Timing ChannelCore::loss_timing(const MemberState& member) const {
  SendStream::Timing timing;
  timing.time_threshold = loss_delay(member);
  // RFC 6298 RTO with the manifest's bounds, backoff included, plus the peer's max_ack_delay
  // (RFC 9002 6.2.1: the peer may hold its acknowledgement that long).
  timing.pto = member.rtt.rto() + reliability_defaults(defaults_).max_ack_delay;
  // RFC 9002 7.6.1: (smoothed + max(4 rttvar, granularity)) x kPersistentCongestionThreshold,
  // only once the estimator has a sample.
  if (member.rtt.has_sample()) {
    const Duration period = member.rtt.smoothed() + std::max<Duration>(4 * member.rtt.variation(), std::chrono::microseconds(1));
    timing.persistent_congestion = period * SendStream::kPersistentCongestionThreshold;
  }
  return timing;
}

void ChannelCore::on_acked(const SentPacket& packet, int member, const Duration* rtt) {
  if (rtt) {
    members_[member].rtt.on_sample(*rtt);
    rtt_samples_.add(*rtt);
  }
  quorum_.on_fragment_acked(packet.message_id, member);
}

void ChannelCore::on_retransmit(SentPacket& packet, int member) { send_again(packet, member, true); }

// RFC 9002 6.2.4: a probe is new data in flight, not a declared loss.
void ChannelCore::on_probe(SentPacket& packet, int member) { send_again(packet, member, false); }

void ChannelCore::on_persistent_congestion(int member) {
  if (!active_stream_) return;
  LossEvent event;
  event.now = now_;
  event.bytes_lost = 0;
  event.packets_lost = 0;
  event.largest_lost_sent_time = now_;
  event.persistent_congestion = true;
  active_stream_->congestion->on_loss(event);
  SPDLOG_DEBUG("channel {:08x}: persistent congestion towards {}", channel_id_, members_[member].name);
}

void ChannelCore::send_again(SentPacket& packet, int member, bool lost) {
  const MemberState& state = members_[member];
  if (!state.address || packet.bytes.empty()) return;
  const std::uint16_t flags = wire::get_u16(packet.bytes.data() + TMC_OFF_FLAGS) | TMC_FLAG_RETRANSMIT;
  const std::uint64_t sequence = wire::get_u64(packet.bytes.data() + TMC_OFF_SEQUENCE);
  const std::uint64_t forward = active_stream_ ? std::min(active_stream_->window.forward_sequence(), sequence)
                                               : wire::get_u64(packet.bytes.data() + TMC_OFF_FORWARD_SEQUENCE);
  wire::patch_data_packet(packet.bytes, flags, forward);
  if (active_stream_) {
    // A lost copy leaves the flight and its retransmission enters it. A probe's original is
    // still counted in flight, and one acknowledgement clears both copies: the probe adds
    // nothing (counting it would leak its bytes into bytes_in_flight for good).
    if (lost) {
      active_stream_->congestion->on_loss({now_, packet.bytes.size(), 1, packet.last_sent, false});
      active_stream_->congestion->on_packet_sent({now_, packet.bytes.size(), sequence, true});
    }
    active_stream_->pacer->on_sent(packet.bytes.size(), now_);
  }
  output_.transmit(*state.address, packet.bytes);
  ++stats_.retransmissions;
  if (!lost) ++stats_.probes;
  ++stats_.packets_sent;
  // A retransmission restarts the probe timeout; after probes on_timer re-arms with the
  // backed-off value (arming the un-backed-off one here would only cause an idle wake-up).
  if (lost) arm_timer(now_ + state.rtt.rto() + reliability_defaults(defaults_).max_ack_delay);
}

void ChannelCore::on_packet_done(const SentPacket& packet, const Duration* rtt) {
  if (!active_stream_) return;
  AckEvent event;
  event.now = now_;
  event.bytes_acked = packet.bytes.size();
  if (rtt) event.rtt_sample = *rtt;
  event.largest_acked_sent_time = packet.last_sent;
  active_stream_->congestion->on_ack(event);
}

void ChannelCore::declare_down(int member, TimePoint now) {
  MemberState& state = members_[member];
  state.down = true;
  SPDLOG_WARN("channel {:08x}: member {} acknowledged nothing for {} us: declared down", channel_id_, state.name,
              std::chrono::duration_cast<std::chrono::microseconds>(now - state.last_progress).count());
  for (auto& stream : streams_) {
    const int position = stream.window.position_of(member);
    if (position < 0) continue;
    stream.window.abandon_receiver(position, [&](const SentPacket& packet) {
      ++stats_.abandoned;
      quorum_.on_member_failed(packet.message_id, member);
      if (packet.pending == 0) stream.congestion->on_packet_discarded(packet.bytes.size());
    });
    pump(stream, now);
  }
}

void ChannelCore::on_timer(TimePoint now) {
  now_ = now;
  timer_deadline_ = kNever;
  if (ack_deadline_ <= now) send_pending_acks(now, false);
  if (release_dedicated_) release_dedicated_sequencer();
  const Duration member_timeout = reliability_defaults(defaults_).member_timeout;
  // Deadlines of unacknowledged messages.
  for (std::uint64_t message_id : quorum_.expire(now)) {
    for (auto& stream : streams_) {
      stream.window.abandon_message(message_id, [&](const SentPacket& packet) {
        ++stats_.abandoned;
        stream.congestion->on_packet_discarded(packet.bytes.size());
      });
      pump(stream, now);
    }
  }
  // Loss timers and probe timeouts, with backoff (RFC 9002 6.2.1) per member whose PTO fired.
  for (auto& stream : streams_) {
    active_stream_ = &stream;

    auto timing = [&](int position) { return loss_timing(members_[stream.window.receivers()[position]]); };
    for (int position : stream.window.on_timer(now, timing, *this)) {
      members_[stream.window.receivers()[position]].rtt.on_timeout();
      ++stats_.timeouts;
    }
    active_stream_ = nullptr;
  }
  // Members that acknowledge nothing while data is outstanding.
  for (std::size_t member = 0; member < members_.size(); ++member) {
    if (members_[member].down) continue;
    bool outstanding = false;
    for (const auto& stream : streams_) {
      const int position = stream.window.position_of(static_cast<int>(member));
      if (position >= 0 && stream.window.pending_for(position)) outstanding = true;
    }
    if (!outstanding) continue;
    if (now - members_[member].last_progress >= member_timeout) declare_down(static_cast<int>(member), now);
    else arm_timer(members_[member].last_progress + member_timeout);
  }
  for (auto& stream : streams_) {
    // Out of credit for a while: BLOCKED probes, so a lost grant cannot deadlock.
    if (stream.credit && !stream.backlog.empty() && !stream.credit->can_send(stream.window.next_sequence())) {
      for (const auto& [receiver, probe] : stream.credit->poll(stream.window.next_sequence(), now))
        if (members_[receiver].address) transmit_credit(*members_[receiver].address, stream.window.id(), probe);
      arm_timer(now + credit_config_.blocked_probe_interval);
    }
  }
  for (auto& stream : streams_) {
    if (!stream.backlog.empty()) pump(stream, now);  // pacing delay over, or window reopened
    auto timing = [&](int position) { return loss_timing(members_[stream.window.receivers()[position]]); };
    arm_timer(stream.window.next_timeout(timing));
  }
  arm_timer(quorum_.next_deadline());
  poll_ordering_timers(now);
  if (total_ && !closed_) {
    // A poll that comes much later than asked means this thread was not running: excuse it.
    if (last_total_poll_ != TimePoint{} && now - last_total_poll_ > kSequencerTimeout / 5)
      total_->excuse_pause(now - last_total_poll_ - kTotalOrderPoll);
    last_total_poll_ = now;
    total_->poll(now);
    drain_total_order(now);
    arm_timer(now + kTotalOrderPoll);
  }
}

void ChannelCore::send_control(std::uint8_t subtype, std::uint32_t argument, const std::string& member_or_address) {
  std::optional<SocketAddress> destination;
  for (const auto& member : members_)
    if (member.name == member_or_address) destination = member.address;
  if (!destination) destination = SocketAddress::parse(member_or_address);
  if (!destination) throw std::invalid_argument("send_control: no member or address '" + member_or_address + "'");
  wire::CommonHeader common = own_header(wire::PacketType::data, 0, 0);
  std::byte buffer[TMC_CONTROL_HEADER_SIZE];
  const std::size_t size = wire::encode_control(buffer, common, wire::ControlFrame{subtype, argument});
  output_.transmit(*destination, std::span(buffer, size));
}

void ChannelCore::close() {
  send_pending_acks(now_, true);  // what arrived is acknowledged before the channel goes quiet
  closed_ = true;
  quorum_.resolve_all(SendStatus::closed);
  for (auto& stream : streams_) stream.backlog.clear();
  held_.clear();
  buffered_bytes_ = 0;
}

std::size_t ChannelCore::backlog_messages() const {
  std::size_t total = 0;
  for (const auto& stream : streams_) total += stream.backlog.size();
  return total;
}

Stats ChannelCore::stats() const {
  Stats stats = stats_;
  const std::uint64_t data_packets = stats.packets_sent - stats.acks_sent;
  stats.loss_ratio = data_packets ? double(stats.retransmissions) / double(data_packets) : 0.0;
  Duration smoothed{0};
  int samples = 0;
  for (const auto& member : members_)
    if (member.rtt.has_sample()) {
      smoothed += member.rtt.smoothed();
      ++samples;
    }
  stats.smoothed_rtt = samples ? smoothed / samples : Duration::zero();
  stats.rtt_p50 = rtt_samples_.percentile(0.5);
  stats.rtt_p99 = rtt_samples_.percentile(0.99);
  stats.rtt_p999 = rtt_samples_.percentile(0.999);
  stats.send_buffer_bytes = buffered_bytes_;
  if (total_) {
    stats.sequencer = total_->sequencer();
    stats.sequencer_view = total_->view();
    stats.messages_stamped = total_->stats().stamps_issued;
    stats.stamp_requests_answered = total_->stats().requests_answered;
  }
  for (const auto& stream : streams_) {
    if (stream.transport->cwnd_bytes != kUnlimitedWindow) stats.congestion_window_bytes += stream.transport->cwnd_bytes;
    stats.congestion_events += stream.transport->congestion_events;
  }
  return stats;
}

bool ChannelCore::can_admit(std::size_t bytes) const {
  if (!flow_control_) return true;
  const std::uint64_t limit = credit_config_.send_buffer_bytes ? credit_config_.send_buffer_bytes : credit_config_.window_bytes;
  return buffered_bytes_ == 0 || buffered_bytes_ + bytes <= limit;  // a larger message travels alone
}

void ChannelCore::release_held(std::uint64_t message_id, bool resolved, bool backlog_done) {
  auto it = held_.find(message_id);
  if (it == held_.end()) return;
  if (resolved) it->second.resolved = true;
  if (backlog_done && it->second.backlogs > 0) --it->second.backlogs;
  if (!it->second.resolved || it->second.backlogs > 0) return;
  buffered_bytes_ -= std::min(buffered_bytes_, it->second.bytes);
  held_.erase(it);
}

void ChannelCore::grant_credit(InboundStream& stream, std::uint16_t stream_id, TimePoint now) {
  // The floor: the lowest sequence still held — delivered but unread, or not yet complete.
  std::uint64_t floor = stream.tracker.cumulative();
  if (!stream.unconsumed.empty()) floor = std::min(floor, stream.unconsumed.begin()->first);
  stream.credit->on_released(floor);
  if (auto grant = stream.credit->poll(now)) transmit_credit(stream.reply_to, stream_id, *grant);
}

void ChannelCore::on_consumed(std::uint32_t sender_id, std::uint64_t sequence, TimePoint now) {
  now_ = now;
  for (std::uint16_t stream_id : {kMemberStream, kGroupStream}) {
    auto it = inbound_.find({sender_id, stream_id});
    if (it == inbound_.end() || !it->second.credit) continue;
    auto held = it->second.unconsumed.find(sequence);
    if (held == it->second.unconsumed.end()) continue;
    if (--held->second == 0) it->second.unconsumed.erase(held);
    grant_credit(it->second, stream_id, now);
    return;
  }
}

void ChannelCore::set_application_queue_bytes(std::uint64_t bytes, TimePoint now) {
  now_ = now;
  application_queue_bytes_ = bytes;
  for (auto& [key, stream] : inbound_) {
    if (!stream.credit) continue;
    stream.credit->set_application_queue_bytes(bytes);
    grant_credit(stream, key.second, now);
  }
}

void ChannelCore::transmit_credit(const SocketAddress& to, std::uint16_t stream, const CreditMessage& message) {
  std::byte packet[TMC_CREDIT_HEADER_SIZE];
  if (encode_credit(message, packet) == 0) return;
  wire::CommonHeader common = own_header(wire::PacketType::credit, sequence_flags_, stream);
  std::byte out[TMC_CREDIT_HEADER_SIZE];
  const std::size_t bytes = wire::encode_raw(
      out, common, std::span(packet).subspan(TMC_COMMON_HEADER_SIZE, TMC_CREDIT_HEADER_SIZE - TMC_COMMON_HEADER_SIZE), {});
  output_.transmit(to, std::span(out, bytes));
  ++stats_.packets_sent;
}

void ChannelCore::handle_credit(std::span<const std::byte> datagram, const wire::ParsedPacket& packet,
                                const SocketAddress& source, TimePoint now) {
  const auto message = decode_credit(datagram);
  if (!message || !flow_control_) {
    ++stats_.malformed_dropped;
    return;
  }
  if (message->kind == CreditMessage::Kind::blocked) {  // we receive this sender's data
    auto it = inbound_.find({packet.common.sender_id, packet.common.stream});
    if (it == inbound_.end() || !it->second.credit) return;
    it->second.credit->on_blocked(*message);
    grant_credit(it->second, packet.common.stream, now);
    return;
  }
  if (message->epoch != epoch_) return;  // a grant for an earlier incarnation of this sender
  const int member = member_by_sender(packet.common.sender_id, source);
  if (member < 0) return;
  Stream* stream = nullptr;
  if (packet.common.stream == kMemberStream) stream = &streams_[members_[member].unicast_stream];
  else if (packet.common.stream == kGroupStream && group_stream_ >= 0) stream = &streams_[group_stream_];
  if (!stream || !stream->credit) return;
  stream->credit->on_grant(static_cast<std::uint32_t>(member), *message);
  pump(*stream, now);
}

std::vector<SocketAddress> ChannelCore::group_member_addresses() const {
  std::vector<SocketAddress> addresses;
  if (group_stream_ < 0) return addresses;
  for (int receiver : streams_[group_stream_].window.receivers()) {
    if (!members_[receiver].address) return {};
    addresses.push_back(*members_[receiver].address);
  }
  return addresses;
}

void ChannelCore::set_kernel_fanout(bool active, const std::string& note) {
  kernel_fanout_active_ = active;
  kernel_fanout_note_ = note;
  if (group_stream_ >= 0 && !streams_[group_stream_].destination)
    streams_[group_stream_].user_space_fanout = !active;  // active: one send to members[0], cloned in the kernel
}

std::string ChannelCore::plan() const {
  Manifest effective = defaults_;
  if (plan_) effective.mtu = std::min(effective.mtu.value_or(plan_->mtu), plan_->mtu);
  const CompiledPipeline pipeline = compile_pipeline(effective, nic_checksum_);
  std::string text;
  // The transport plan: what each feature was compiled to on this host, and why.
  const Capabilities none{.source = "the capabilities (none given)"};
  TransportPlan transport = plan_ ? *plan_ : plan_transport(defaults_, none, self_);
  if (!plan_) {
    // Without a capabilities file the engine uses the manifest as written and probes the path MTU.
    for (auto& choice : transport.choices) {
      if (choice.feature == "mtu") {
        choice.implementation = std::to_string(defaults_.mtu.value_or(1500));
        choice.reason = "no capabilities file: the manifest's mtu, else the probed path MTU";
      }
      if (choice.feature == "error_checking" && pipeline.checksum) choice.reason = "no capabilities file: nothing offloads";
      if (choice.feature == "multicast" && group_address_) {
        choice.implementation = "ip-multicast " + group_address_->to_string();
        choice.reason = "no capabilities file: the manifest's group is used as is";
      }
    }
  }
  if (kernel_fanout_wanted_)
    for (auto& choice : transport.choices)
      if (choice.feature == "multicast")
        choice.reason += kernel_fanout_active_ ? "; attached: " + kernel_fanout_note_
                                               : "; not attached, user-space fan-out meanwhile: " + kernel_fanout_note_;
  text += "transport plan (" + (capabilities_ ? capabilities_->source : std::string("no capabilities file")) + "):\n";
  for (const auto& choice : transport.choices)
    text += "  " + choice.feature + ": " + choice.implementation + " -- " + choice.reason + "\n";
  char header[160];
  std::snprintf(header, sizeof header, "channel %s (id %08x), %zu member(s)%s%s\n",
                defaults_.channel.value_or("default").c_str(), channel_id_, members_.size() - (dedicated_ >= 0 ? 1 : 0),
                self_.empty() ? "" : ", self ", self_.c_str());
  text += header;
  text += "send pipeline:\n";
  std::string targets = "targets: all members";
  if (pipeline.targets.kind == Targets::Kind::subset) targets = "targets: named subset";
  if (pipeline.targets.kind == Targets::Kind::fraction) targets = "targets: rotating fraction of the members";
  text += "  1. " + targets + "\n";
  int step = 2;
  for (const auto& stage : pipeline.send_stages) text += "  " + std::to_string(step++) + ". " + stage + "\n";
  if (group_stream_ >= 0 && !group_address_)
    text += "  " + std::to_string(step++) + ". transport: group stream (one sequence space), " +
            (kernel_fanout_active_ ? std::string("one UDP send to the first member, cloned per member by the eBPF fan-out")
                                   : std::string("one UDP send per member (user-space fan-out)")) +
            "; retransmissions unicast\n";
  else if (group_address_)
    text += "  " + std::to_string(step++) + ". transport: UDP to IP multicast group " + group_address_->to_string() +
            " when a message targets every member (one send), else unicast fan-out; retransmissions unicast\n";
  else
    text += "  " + std::to_string(step++) + ". transport: UDP unicast fan-out, one sequence space per member\n";
  text += "receive pipeline:\n  1. transport: UDP (batched receive)\n  2. parse + validate header (malformed: counted, dropped)\n";
  step = 3;
  for (const auto& stage : pipeline.receive_stages) text += "  " + std::to_string(step++) + ". " + stage + "\n";
  text += "  " + std::to_string(step) + ". deliver (recv queue or handler)\n";
  return text;
}

}  // namespace tmc::core
