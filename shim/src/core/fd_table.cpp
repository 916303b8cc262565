#include "core/fd_table.h"

#include <unordered_map>

namespace tmc::shim {

std::atomic<std::uint8_t> FdTable::flags_[FdTable::kCapacity];

namespace {
std::mutex& table_mutex() {
  static auto* mutex = new std::mutex;  // never destroyed: interposed calls may run during exit
  return *mutex;
}
std::unordered_map<int, std::shared_ptr<SocketState>>& states() {
  static auto* map = new std::unordered_map<int, std::shared_ptr<SocketState>>;
  return *map;
}
}  // namespace

std::shared_ptr<SocketState> FdTable::get(int fd) {
  if (!managed(fd)) return nullptr;
  std::lock_guard lock(table_mutex());
  auto found = states().find(fd);
  return found == states().end() ? nullptr : found->second;
}

void FdTable::set(int fd, std::shared_ptr<SocketState> state, std::uint8_t extra_flags) {
  if (static_cast<unsigned>(fd) >= kCapacity) return;
  std::shared_ptr<SocketState> released;
  std::lock_guard lock(table_mutex());
  auto& slot = states()[fd];
  released = std::move(slot);
  slot = std::move(state);
  flags_[fd].store(static_cast<std::uint8_t>(kManaged | extra_flags), std::memory_order_release);
}

void FdTable::add_flags(int fd, std::uint8_t bits) {
  if (static_cast<unsigned>(fd) < kCapacity) flags_[fd].fetch_or(bits);
}

void FdTable::remove_flags(int fd, std::uint8_t bits) {
  if (static_cast<unsigned>(fd) < kCapacity) flags_[fd].fetch_and(static_cast<std::uint8_t>(~bits));
}

std::mutex& fd_table_mutex() { return table_mutex(); }

void FdTable::clear(int fd) {
  if (static_cast<unsigned>(fd) >= kCapacity || flags_[fd].load(std::memory_order_relaxed) == 0) return;
  std::shared_ptr<SocketState> released;  // destroyed outside the lock
  std::lock_guard lock(table_mutex());
  if (auto found = states().find(fd); found != states().end()) {
    released = std::move(found->second);
    states().erase(found);
  }
  flags_[fd].store(0, std::memory_order_release);
}

void FdTable::mark_internal(int fd) {
  if (static_cast<unsigned>(fd) >= kCapacity) return;
  flags_[fd].store(kInternal, std::memory_order_release);
}

void FdTable::copy(int from, int to) {
  if (static_cast<unsigned>(to) >= kCapacity) return;
  auto state = get(from);
  if (state) {
    set(to, std::move(state), static_cast<std::uint8_t>(flags(from) & ~(kManaged | kInternal)));
  } else {
    clear(to);
  }
}

std::vector<int> FdTable::internal_fds() {
  std::vector<int> fds;
  for (int fd = 0; fd < kCapacity; ++fd) {
    if (flags_[fd].load(std::memory_order_relaxed) & kInternal) fds.push_back(fd);
  }
  return fds;
}

std::vector<int> FdTable::managed_fds() {
  std::lock_guard lock(table_mutex());
  std::vector<int> fds;
  for (const auto& [fd, state] : states()) fds.push_back(fd);
  return fds;
}

void FdTable::forget_internal() {
  for (int fd = 0; fd < kCapacity; ++fd) {
    if (flags_[fd].load(std::memory_order_relaxed) & kInternal) flags_[fd].store(0, std::memory_order_relaxed);
  }
}

}  // namespace tmc::shim
