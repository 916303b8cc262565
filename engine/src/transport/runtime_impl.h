// Runtime::Impl — the engine's event loop: one thread, one epoll set, engine-owned fds only
// (all high-numbered and close-on-exec; see fd_util.h — the reason the loop is ours and not
// Asio's, whose reactor fds cannot be placed).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tmc/channel.h"
#include "core/clock.h"
#include "transport/fd_util.h"

namespace tmc {

struct Runtime::Impl {
  using Handler = std::function<void(std::uint32_t epoll_events)>;

  Impl();
  ~Impl();

  // Watches `fd` for `events` (EPOLLIN...). The handler runs on the runtime thread.
  void add(int fd, std::uint32_t events, Handler handler);
  // Stops watching `fd`. When it returns, the fd's handler is not running and will not run
  // again (unless called from the runtime thread itself, where that holds trivially).
  void remove(int fd);
  bool on_runtime_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // Bit passed to a handler that runs because of post(), never set by epoll.
  static constexpr std::uint32_t kPosted = 1u << 31;  // EPOLLET: an input flag, not in revents
  // Runs `fd`'s handler with kPosted on the runtime thread before the loop next sleeps; posts
  // of one fd not yet run are merged. Wakes the loop (eventfd) only when it is asleep, so a
  // post from a handler, or while the loop is busy, costs no system call. Thread-safe.
  void post(int fd);

  // TMC_BUSY_POLL_US (unset, empty or 0: off; garbage: off with a warning; at most
  // kMaxBusyPollMicroseconds): how long the loop keeps polling epoll without sleeping after a
  // wake-up that found work, before it blocks. Each runtime reads it when it starts.
  static core::Duration configured_busy_poll();
  static constexpr long kMaxBusyPollMicroseconds = 1000;

 private:
  void run();
  void run_posted();
  transport::UniqueFd epoll_;
  transport::UniqueFd wake_;
  std::mutex handlers_mutex_;   // guards handlers_
  std::mutex dispatch_mutex_;   // held while handlers run
  std::unordered_map<int, std::shared_ptr<Handler>> handlers_;
  std::mutex posted_mutex_;     // guards posted_ and awake_
  std::vector<int> posted_;
  bool awake_ = true;           // false only while the loop is (about to be) in epoll_wait
  std::atomic<bool> stopping_{false};
  core::Duration busy_poll_{0};  // configured_busy_poll() at construction
  std::thread thread_;
};

}  // namespace tmc
