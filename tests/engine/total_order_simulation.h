// Test helper: an in-memory group of TotalOrderMembers on a mock clock, connected by a seeded
// fault injector (drop, duplicate, random delay => reorder). SEQUENCE messages go through the
// real codec and are really lost; DATA loss is repaired the way the channel's reliability layer
// would (the sender retransmits after a timeout) when `reliable_data`, and is final otherwise.
// A crashed participant stops processing and sending; packets to it vanish.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>

#include "ordering/total_order_member.h"

namespace tmc::testing {

struct Faults {
  double drop = 0.05;
  double duplicate = 0.02;
  Duration min_delay = std::chrono::microseconds(5);
  Duration max_delay = std::chrono::microseconds(80);
};

class TotalOrderSimulation {
 public:
  TotalOrderSimulation(TotalOrderConfig base, std::vector<std::string> participants, Faults faults, bool reliable_data,
                       std::uint64_t seed)
      : faults_(faults), reliable_data_(reliable_data), random_(seed), names_(participants) {
    for (const std::string& name : participants) {
      TotalOrderConfig config = base;
      config.self = name;
      config.participants = participants;
      config.reliable = reliable_data;
      members_.emplace(name, std::make_unique<TotalOrderMember>(config, now_));
    }
  }

  TotalOrderMember& member(const std::string& name) { return *members_.at(name); }
  TimePoint now() const { return now_; }
  void crash(const std::string& name) { crashed_.insert(name); }
  bool crashed(const std::string& name) const { return crashed_.count(name) > 0; }

  // `sender` multicasts a total-order message to every participant (itself included, locally).
  void send(const std::string& sender, const MessageId& id) {
    if (crashed(sender)) return;
    member(sender).on_data(id, payload_of(id), now_);
    for (const std::string& to : names_)
      if (to != sender) transmit_data(sender, to, id, 0);
    flush(sender);
  }

  static std::vector<std::byte> payload_of(const MessageId& id) {
    return {std::byte(id.sender_id), std::byte(id.sender_sequence & 0xFF), std::byte((id.sender_sequence >> 8) & 0xFF)};
  }

  // Advances the clock by `tick`: delivers due packets, polls every live member.
  void step(Duration tick) {
    now_ += tick;
    while (!events_.empty() && events_.top().at <= now_) {
      Event event = events_.top();
      events_.pop();
      if (event.retransmit) {
        if (!crashed(event.from)) transmit_data(event.from, event.to, event.id, event.attempt);
        continue;
      }
      if (crashed(event.to)) continue;
      if (event.is_data) {
        member(event.to).on_data(event.id, payload_of(event.id), now_);
      } else {
        member(event.to).on_sequence(event.from, event.sequence, now_);
      }
      flush(event.to);
    }
    for (const std::string& name : names_) {
      if (crashed(name)) continue;
      member(name).poll(now_);
      flush(name);
    }
  }

  std::uint64_t sequence_packets() const { return sequence_packets_; }

 private:
  struct Event {
    TimePoint at{};
    std::uint64_t order = 0;
    std::string from{}, to{};
    bool is_data = false;
    bool retransmit = false;
    int attempt = 0;
    MessageId id{};
    SequenceMessage sequence{};
    bool operator>(const Event& other) const { return at != other.at ? at > other.at : order > other.order; }
  };

  Duration delay() {
    std::uniform_int_distribution<std::int64_t> pick(faults_.min_delay.count(), faults_.max_delay.count());
    return Duration(pick(random_));
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(random_) < p; }

  void push(Event event) {
    event.order = order_++;
    events_.push(std::move(event));
  }

  void transmit_data(const std::string& from, const std::string& to, const MessageId& id, int attempt) {
    if (chance(faults_.drop)) {
      if (reliable_data_ && attempt < 50)  // the reliability layer's retransmission timer
        push({.at = now_ + std::chrono::microseconds(300), .from = from, .to = to, .retransmit = true,
              .attempt = attempt + 1, .id = id});
      return;
    }
    int copies = chance(faults_.duplicate) ? 2 : 1;
    for (int copy = 0; copy < copies; ++copy)
      push({.at = now_ + delay(), .from = from, .to = to, .is_data = true, .id = id});
  }

  void flush(const std::string& from) {
    for (TotalOrderOutgoing& out : member(from).take_outgoing()) {
      // Through the codec, as on the wire (28 bytes stand for the common header).
      std::vector<std::byte> packet(kCommonHeaderBytes + sequence_encoded_size(out.message));
      EXPECT_EQ(encode_sequence(out.message, packet), sequence_encoded_size(out.message));
      auto decoded = decode_sequence(packet);
      EXPECT_TRUE(decoded && *decoded == out.message);
      if (!decoded) continue;
      for (const std::string& to : names_) {
        if (to == from || (!out.destination.empty() && out.destination != to)) continue;
        ++sequence_packets_;
        if (chance(faults_.drop)) continue;
        int copies = chance(faults_.duplicate) ? 2 : 1;
        for (int copy = 0; copy < copies; ++copy)
          push({.at = now_ + delay(), .from = from, .to = to, .sequence = *decoded});
      }
    }
  }

  static constexpr std::size_t kCommonHeaderBytes = 28;
  Faults faults_;
  bool reliable_data_;
  std::mt19937_64 random_;
  std::vector<std::string> names_;
  std::map<std::string, std::unique_ptr<TotalOrderMember>> members_;
  std::set<std::string> crashed_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t order_ = 0;
  std::uint64_t sequence_packets_ = 0;
  TimePoint now_{};
};

}  // namespace tmc::testing
