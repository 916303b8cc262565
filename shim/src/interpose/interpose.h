// Shared by the one-file-per-symbol interposers: each is a thin forwarder to the core
// (core/socket_ops.h). Hot path for an fd the shim does not manage: one byte load from the
// fd table, one branch, one indirect call.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cstdarg>
#include <string>
#include <vector>

#include "core/datagram_ops.h"
#include "core/fd_table.h"
#include "core/guard.h"
#include "core/real.h"
#include "core/socket_ops.h"

#define TMC_EXPORT __attribute__((visibility("default")))

extern char** environ;

namespace tmc::shim {

// Flags that make a write-like call leave the hot path.
constexpr std::uint8_t kWriteFlags = kSendCallFlag | kAttentionFlag | kDirectSendFlag | kDatagramFlag;
// ... and of those, the ones whose kernel write must go through ops::framed_write.
constexpr std::uint8_t kFramedWriteFlags = kSendCallFlag | kAttentionFlag;
// A send-like call on an fd the shim does not manage: classified first when UDP senders exist.
inline bool plain_send(int fd) {
  return !needs_shim(fd, FdTable::kManaged) && !classify_sends.load(std::memory_order_relaxed);
}

[[noreturn]] inline void fortify_fail() {
  static const char message[] = "*** buffer overflow detected ***: terminated\n";
  TMC_REAL(write)(2, message, sizeof message - 1);
  __builtin_trap();
}

}  // namespace tmc::shim
