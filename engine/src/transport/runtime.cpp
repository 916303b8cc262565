#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <vector>

#include "transport/runtime_impl.h"

namespace tmc {

core::Duration Runtime::Impl::configured_busy_poll() {
  const char* text = std::getenv("TMC_BUSY_POLL_US");
  if (!text || !*text) return core::Duration::zero();
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0) {
    SPDLOG_WARN("TMC_BUSY_POLL_US='{}' is not a number of microseconds; busy polling stays off", text);
    return core::Duration::zero();
  }
  return std::chrono::microseconds(std::min(value, kMaxBusyPollMicroseconds));
}

Runtime::Impl::Impl() {
  epoll_ = transport::UniqueFd(transport::make_engine_fd(::epoll_create1(EPOLL_CLOEXEC)));
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  wake_ = transport::UniqueFd(transport::make_engine_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
  if (!wake_) throw std::system_error(errno, std::generic_category(), "eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &event);
  busy_poll_ = configured_busy_poll();
  thread_ = std::thread([this] { run(); });
}

Runtime::Impl::~Impl() {
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) {
    if (on_runtime_thread()) thread_.detach();
    else thread_.join();
  }
}

void Runtime::Impl::add(int fd, std::uint32_t events, Handler handler) {
  {
    std::lock_guard lock(handlers_mutex_);
    handlers_[fd] = std::make_shared<Handler>(std::move(handler));
  }
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
}

void Runtime::Impl::remove(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (on_runtime_thread()) {
    std::lock_guard lock(handlers_mutex_);
    handlers_.erase(fd);
    return;
  }
  std::lock_guard dispatch(dispatch_mutex_);  // wait for a running handler to finish
  std::lock_guard lock(handlers_mutex_);
  handlers_.erase(fd);
}

void Runtime::Impl::post(int fd) {
  bool wake = false;
  {
    std::lock_guard lock(posted_mutex_);
    if (std::find(posted_.begin(), posted_.end(), fd) == posted_.end()) posted_.push_back(fd);
    if (!awake_) wake = awake_ = true;  // the loop will look at posted_ before sleeping again
  }
  if (wake) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof one);
  }
}

// Runs posted handlers until none is left; then marks the loop asleep (under the same lock, so
// a post() after this point writes the eventfd).
void Runtime::Impl::run_posted() {
  std::vector<int> batch;
  while (true) {
    {
      std::lock_guard lock(posted_mutex_);
      if (posted_.empty()) {
        awake_ = false;
        return;
      }
      batch.swap(posted_);
    }
    std::lock_guard dispatch(dispatch_mutex_);
    for (int fd : batch) {
      std::shared_ptr<Handler> handler;
      {
        std::lock_guard lock(handlers_mutex_);
        auto it = handlers_.find(fd);
        if (it == handlers_.end()) continue;  // removed since the post
        handler = it->second;
      }
      (*handler)(kPosted);
    }
    batch.clear();
  }
}

void Runtime::Impl::run() {
  constexpr int kEvents = 64;
  epoll_event events[kEvents];
  bool found_work = false;
  while (!stopping_) {
    run_posted();
    if (stopping_) break;
    // Busy poll (opt-in, TMC_BUSY_POLL_US): after a wake-up that found work, look again
    // without sleeping for a bounded time before blocking. A datagram that arrives while this
    // thread sleeps costs its sender a wake-up of this thread (on a VM an inter-processor
    // interrupt, measured at tens of microseconds of CPU), and this thread a context switch.
    int ready = 0;
    if (busy_poll_ > core::Duration::zero() && found_work) {
      const core::TimePoint until = core::Clock::now() + busy_poll_;
      do {
        ready = ::epoll_wait(epoll_.get(), events, kEvents, 0);
      } while (ready == 0 && !stopping_ && core::Clock::now() < until);
    }
    if (ready == 0) ready = ::epoll_wait(epoll_.get(), events, kEvents, -1);
    found_work = ready > 0;
    {
      std::lock_guard lock(posted_mutex_);
      awake_ = true;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::lock_guard dispatch(dispatch_mutex_);
    for (int i = 0; i < ready && !stopping_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) {
        std::uint64_t count;
        [[maybe_unused]] auto got = ::read(wake_.get(), &count, sizeof count);
        continue;
      }
      std::shared_ptr<Handler> handler;
      {
        std::lock_guard lock(handlers_mutex_);
        auto it = handlers_.find(fd);
        if (it == handlers_.end()) continue;
        handler = it->second;
      }
      (*handler)(events[i].events);
    }
  }
}

Runtime::Runtime() : impl_(std::make_unique<Impl>()) {}
Runtime::~Runtime() = default;

std::shared_ptr<Runtime> Runtime::default_instance() {
  static std::shared_ptr<Runtime> instance = std::make_shared<Runtime>();
  return instance;
}

}  // namespace tmc
