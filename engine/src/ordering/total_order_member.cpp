#include "ordering/total_order_member.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace tmc {
namespace {

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

}  // namespace

TotalOrderMember::TotalOrderMember(TotalOrderConfig config, TimePoint now)
    : config_(std::move(config)), log_(config_.log_capacity), last_heard_(now) {
  candidates_ = config_.sequencer_candidates;
  if (candidates_.empty()) {
    candidates_ = config_.participants;
    std::sort(candidates_.begin(), candidates_.end());
  }
  if (candidates_.empty()) throw std::invalid_argument("ordering: total needs at least one sequencer candidate");
  if (std::find(config_.participants.begin(), config_.participants.end(), config_.self) == config_.participants.end())
    throw std::invalid_argument("ordering: total: '" + config_.self + "' is not a participant");
  sequencer_name_ = sequencer_for(0);
  view_starts_[0] = 0;
  if (sequencer_name_ == config_.self) sequencer_.emplace(config_.sequencer, 0, 0, now);
}

void TotalOrderMember::send(const std::string& destination, SequenceMessage message) {
  outgoing_.push_back({destination, std::move(message)});
}

std::uint64_t TotalOrderMember::delivery_limit() const { return normal_ ? kNoLimit : frozen_end_; }

void TotalOrderMember::on_data(const MessageId& id, std::vector<std::byte> payload, TimePoint now) {
  if (auto placed = log_.find(id); placed && *placed < next_deliver_) {
    ++stats_.duplicate_data;  // delivered or given up already
    return;
  }
  if (!data_.emplace(id, HeldData{std::move(payload), now}).second) {
    ++stats_.duplicate_data;
    return;
  }
  if (is_sequencer()) sequencer_->on_message(id);
  pump(now);
}

void TotalOrderMember::pump(TimePoint now) {
  if (is_sequencer()) {
    for (SequenceMessage& message : sequencer_->poll(now)) {
      if (message.kind == SequenceMessage::Kind::stamps) {
        stats_.stamps_issued += message.stamps.size();
        apply_stamps(message, now);
      }
      note_known_end(sequencer_->next_group_sequence(), now);
      send("", std::move(message));
    }
  }
  deliver_ready();
}

bool TotalOrderMember::stamp_valid(std::uint32_t view, std::uint64_t group_sequence) const {
  if (view > view_) return false;
  if (view == view_ && !normal_) return false;  // the new view's start is not known yet
  for (auto it = view_starts_.upper_bound(view); it != view_starts_.end(); ++it)
    if (group_sequence >= it->second) return false;  // superseded by a later view
  return true;
}

void TotalOrderMember::apply_stamps(const SequenceMessage& message, TimePoint now) {
  for (std::size_t i = 0; i < message.stamps.size(); ++i) {
    const std::uint64_t group_sequence = message.group_sequence + i;
    if (group_sequence < next_deliver_) continue;
    if (!stamp_valid(message.view, group_sequence)) {
      ++stats_.stale_stamps;
      continue;
    }
    if (!log_.insert(group_sequence, {message.stamps[i], message.view})) {
      ++stats_.duplicate_stamps;
      continue;
    }
    note_known_end(group_sequence + 1, now);
  }
}

void TotalOrderMember::on_sequence(const std::string& from, const SequenceMessage& message, TimePoint now) {
  switch (message.kind) {
    case SequenceMessage::Kind::stamps:
    case SequenceMessage::Kind::heartbeat:
      if (message.view > view_) {
        // A later view is running without us: its sequencer will re-send NEW_VIEW.
        start_view_change(message.view, now);
        break;
      }
      if (message.view == view_ && normal_ && from == sequencer_name_) {
        last_heard_ = now;
        if (message.kind == SequenceMessage::Kind::heartbeat)
          note_known_end(message.group_sequence, now);
      }
      if (message.kind == SequenceMessage::Kind::stamps) apply_stamps(message, now);
      if (message.view < view_ && from == sequencer_for(message.view) && from != config_.self) {
        // A replaced sequencer still talks: tell it about the current view.
        send(from, {.kind = SequenceMessage::Kind::view_change, .view = view_,
                    .group_sequence = normal_ ? log_.contiguous_end(next_deliver_) : frozen_end_});
      }
      break;
    case SequenceMessage::Kind::request: {
      auto replies = log_.answer(message.group_sequence, message.request_count);
      if (!replies.empty()) ++stats_.requests_answered;
      for (auto& reply : replies) send(from, std::move(reply));
      break;
    }
    case SequenceMessage::Kind::view_change:
      handle_view_change(from, message, now);
      break;
    case SequenceMessage::Kind::new_view:
      handle_new_view(from, message, now);
      break;
  }
  pump(now);
}

void TotalOrderMember::deliver_ready() {
  const std::uint64_t limit = delivery_limit();
  while (next_deliver_ < limit) {
    const LoggedStamp* stamp = log_.find(next_deliver_);
    if (!stamp) break;
    if (auto first = log_.find(stamp->id); first && *first < next_deliver_) {
      ++stats_.duplicate_placements;  // placed earlier too (re-stamped after a view change): skip
      ++next_deliver_;
      continue;
    }
    auto data = data_.find(stamp->id);
    if (data == data_.end()) break;
    deliveries_.push_back({next_deliver_, stamp->id, std::move(data->second.payload)});
    data_.erase(data);
    ++stats_.delivered;
    ++next_deliver_;
  }
  log_.prune_below(next_deliver_);
}

void TotalOrderMember::request_missing(const std::string& destination, std::uint64_t from, std::uint64_t end) {
  // Up to kMaxRequestsPerRound REQUESTs, one per run of missing stamps (at most 64 each).
  constexpr int kMaxRequestsPerRound = 16;
  std::uint64_t group_sequence = from;
  for (int sent = 0; sent < kMaxRequestsPerRound && group_sequence < end;) {
    if (log_.find(group_sequence)) {
      ++group_sequence;
      continue;
    }
    std::uint64_t count = 0;
    while (group_sequence + count < end && count < TMC_SEQ_MAX_STAMPS && !log_.find(group_sequence + count)) ++count;
    send(destination, {.kind = SequenceMessage::Kind::request, .view = view_, .group_sequence = group_sequence,
                       .request_count = static_cast<std::uint16_t>(count)});
    ++stats_.requests_sent;
    ++sent;
    group_sequence += count;
  }
}

void TotalOrderMember::note_known_end(std::uint64_t end, TimePoint now) {
  if (end <= known_end_) return;
  known_end_ = end;
  known_marks_.push_back({end, now});
}

TimePoint TotalOrderMember::noticed_missing(std::uint64_t group_sequence) const {
  // The first time the member learnt of a group sequence at or above this one.
  auto it = std::upper_bound(known_marks_.begin(), known_marks_.end(), group_sequence,
                             [](std::uint64_t value, const auto& mark) { return value < mark.first; });
  return it == known_marks_.end() ? TimePoint::max() : it->second;
}

void TotalOrderMember::check_stall(TimePoint now) {
  while (!known_marks_.empty() && known_marks_.front().first <= next_deliver_) known_marks_.pop_front();
  std::uint64_t end = std::min(known_end_, delivery_limit());
  if (next_deliver_ >= end) return;
  if (config_.reliable) {
    if (log_.find(next_deliver_)) return;  // the message itself is the reliability layer's to recover
    if (now - noticed_missing(next_deliver_) < config_.request_delay) return;
    if (last_request_ && last_request_point_ == next_deliver_ && now - *last_request_ < config_.request_interval) return;
    // In a view change (or as the sequencer itself) nobody sequences: any peer holding the stamps answers.
    request_missing(normal_ && !is_sequencer() ? sequencer_name_ : "", next_deliver_, end);
    last_request_ = now;
    last_request_point_ = next_deliver_;
    return;
  }
  // Unreliable: skip each run of group sequences that stayed undeliverable for hold_timeout
  // since the member first knew of them, reporting it once.
  while (next_deliver_ < end) {
    TotalOrderGap gap{.first_group_sequence = next_deliver_};
    while (next_deliver_ < end) {
      const LoggedStamp* missing = log_.find(next_deliver_);
      if (missing && data_.count(missing->id)) break;  // deliverable: the gap ends here
      if (now - noticed_missing(next_deliver_) < config_.hold_timeout) break;
      if (missing) gap.lost.push_back(missing->id);
      ++gap.count;
      ++next_deliver_;
    }
    if (gap.count == 0) break;
    stats_.gaps_reported += 1;
    stats_.gap_messages += gap.count;
    gaps_.push_back(std::move(gap));
    deliver_ready();
    end = std::min(known_end_, delivery_limit());
  }
}

void TotalOrderMember::start_view_change(std::uint32_t view, TimePoint now) {
  if (view <= view_) return;
  if (normal_) {
    frozen_end_ = log_.contiguous_end(next_deliver_);
    suspects_.clear();
  }
  suspects_.insert(sequencer_name_);
  if (view > reported_view_) {
    changes_.push_back({view_, view, sequencer_name_, sequencer_for(view)});
    reported_view_ = view;
  }
  view_ = view;
  normal_ = false;
  sequencer_name_ = sequencer_for(view);
  sequencer_.reset();
  view_change_started_ = now;
  view_change_last_sent_ = now;
  reports_.clear();
  fetching_ = false;
  last_fetch_request_.reset();
  if (sequencer_name_ == config_.self) {
    reports_[config_.self] = frozen_end_;
  } else {
    send(sequencer_name_, {.kind = SequenceMessage::Kind::view_change, .view = view_, .group_sequence = frozen_end_});
  }
}

void TotalOrderMember::handle_view_change(const std::string& from, const SequenceMessage& message, TimePoint now) {
  if (message.view > view_) start_view_change(message.view, now);
  if (message.view < view_) {
    if (normal_ && is_sequencer()) {
      send(from, {.kind = SequenceMessage::Kind::new_view, .view = view_, .group_sequence = view_starts_[view_]});
    } else {
      send(from, {.kind = SequenceMessage::Kind::view_change, .view = view_,
                  .group_sequence = normal_ ? log_.contiguous_end(next_deliver_) : frozen_end_});
    }
    return;
  }
  if (sequencer_for(view_) != config_.self) return;
  if (!normal_) {
    reports_[from] = message.group_sequence;
  } else {
    send(from, {.kind = SequenceMessage::Kind::new_view, .view = view_, .group_sequence = view_starts_[view_]});
  }
}

void TotalOrderMember::handle_new_view(const std::string& from, const SequenceMessage& message, TimePoint now) {
  if (message.view < view_ || from != sequencer_for(message.view)) return;
  if (message.view == view_ && normal_) {
    last_heard_ = now;
    return;
  }
  if (message.view > reported_view_) {
    changes_.push_back({view_, message.view, sequencer_name_, from});
    reported_view_ = message.view;
  }
  enter_view(message.view, message.group_sequence, now);
  sequencer_.reset();
}

void TotalOrderMember::enter_view(std::uint32_t view, std::uint64_t start, TimePoint now) {
  view_ = view;
  normal_ = true;
  sequencer_name_ = sequencer_for(view);
  view_starts_[view] = start;
  stats_.superseded_stamps += log_.erase_superseded(start, view);
  if (next_deliver_ > start) ++stats_.view_divergence;
  // Group sequences learnt from the replaced view above its end do not exist any more.
  known_end_ = std::max({start, next_deliver_, log_.end()});
  while (!known_marks_.empty() && known_marks_.back().first > known_end_) known_marks_.pop_back();
  if (known_marks_.empty() || known_marks_.back().first < known_end_) known_marks_.push_back({known_end_, now});
  last_heard_ = now;
  suspects_.clear();
  reports_.clear();
  fetching_ = false;
}

void TotalOrderMember::progress_new_view(TimePoint now) {
  if (!fetching_) {
    bool everyone = true;
    for (const std::string& participant : config_.participants)
      if (!suspects_.count(participant) && !reports_.count(participant)) everyone = false;
    if (!everyone && now - view_change_started_ < config_.view_change_timeout / 2) return;
    fetch_target_ = 0;
    for (const auto& [member, end] : reports_) {
      if (end > fetch_target_) {
        fetch_target_ = end;
        fetch_from_ = member;
      }
    }
    fetching_ = true;
    fetch_started_ = now;
  }
  const std::uint64_t have = log_.contiguous_end(frozen_end_);
  if (have >= fetch_target_ || now - fetch_started_ >= config_.view_change_timeout / 2) {
    install_view(fetch_target_, now);
    return;
  }
  if (!last_fetch_request_ || now - *last_fetch_request_ >= config_.request_interval) {
    request_missing(fetch_from_, have, fetch_target_);
    last_fetch_request_ = now;
  }
}

void TotalOrderMember::install_view(std::uint64_t start, TimePoint now) {
  enter_view(view_, start, now);
  sequencer_.emplace(config_.sequencer, view_, start, now);
  log_.for_each([&](std::uint64_t group_sequence, const LoggedStamp& stamp) {
    sequencer_->mark_already_stamped(stamp.id, group_sequence);
  });
  send("", {.kind = SequenceMessage::Kind::new_view, .view = view_, .group_sequence = start});
  for (const auto& [id, held] : data_)
    if (!sequencer_->already_stamped(id)) sequencer_->on_message(id);
  pump(now);
}

void TotalOrderMember::suspect_sequencer(TimePoint now) {
  if (sequencer_name_ == config_.self) return;
  start_view_change(view_ + 1, now);
  pump(now);
}

void TotalOrderMember::excuse_pause(Duration paused) {
  if (paused <= Duration::zero()) return;
  last_heard_ += paused;
  view_change_started_ += paused;
  view_change_last_sent_ += paused;
  fetch_started_ += paused;
}

void TotalOrderMember::poll(TimePoint now) {
  if (normal_ && !is_sequencer() && now - last_heard_ > config_.sequencer_timeout) start_view_change(view_ + 1, now);
  if (!normal_) {
    if (sequencer_name_ == config_.self) {
      progress_new_view(now);
    } else if (now - view_change_started_ > 2 * config_.view_change_timeout) {
      start_view_change(view_ + 1, now);  // the designated sequencer is silent too
    } else if (now - view_change_last_sent_ >= config_.request_interval) {
      send(sequencer_name_, {.kind = SequenceMessage::Kind::view_change, .view = view_, .group_sequence = frozen_end_});
      view_change_last_sent_ = now;
    }
  }
  if (!config_.reliable && now - last_expiry_scan_ >= config_.hold_timeout) {
    last_expiry_scan_ = now;
    // A message whose stamp never came (lost, and its slot already reported as a gap).
    for (auto it = data_.begin(); it != data_.end();) {
      if (!log_.find(it->first) && now - it->second.arrived > 4 * config_.hold_timeout && !is_sequencer()) {
        it = data_.erase(it);
        ++stats_.unsequenced_dropped;
      } else {
        ++it;
      }
    }
  }
  pump(now);
  check_stall(now);
}

}  // namespace tmc
