// What each interposed socket call does. shim/src/interpose/NAME.cpp are one-line forwarders
// to these; unit tests call them directly (no LD_PRELOAD), with an in-process ChannelFactory.
//
// Contract for every function: a call on an fd the shim does not manage, or from a thread
// inside the shim/engine, behaves exactly like the C library's function; errno is preserved
// except where the call itself sets it.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <functional>
#include <memory>
#include <string>

#include "core/bridge.h"
#include "core/fd_table.h"
#include "core/real.h"
#include "policy/policy.h"

namespace tmc::shim {

struct ShimConfig {
  const Policy* policy = nullptr;  // nullptr: pass everything through
  std::string program;             // for rules with `program:`
  // Creates the channel factory for this process (called lazily, again in a fork child).
  std::function<std::shared_ptr<ChannelFactory>()> make_factory;
  Bridge::Options bridge_options;
};

void configure(ShimConfig config);
const ShimConfig& config();
// getpid(), cached (no system call on the hot path; reset in a fork child).
int current_pid();
// The channel factory of this process, shared by its bridges (re-created in a fork child).
std::shared_ptr<ChannelFactory> process_factory();
// The bridge of this process, created on first use (nullptr when no policy).
Bridge* bridge();
// fork(): prepare/parent/child hooks (registered with pthread_atfork by the shim library).
void before_fork();
void after_fork_parent();
void after_fork_child();

// Address helpers shared with datagram_ops.
// Writes `endpoint` as the application's family would see it (IPv4-mapped for AF_INET6).
socklen_t to_sockaddr(const InetEndpoint& endpoint, int family, sockaddr_storage* out);
// Copies a sockaddr out with getsockname() truncation semantics.
void copy_out(const sockaddr_storage& address, socklen_t actual, sockaddr* out, socklen_t* length);
// The local address the kernel would pick to reach `destination`; the wildcard when none.
IpAddress route_source(const InetEndpoint& destination);

// Extra fd-table flag bits (fd_table.h reserves 1 and 2).
constexpr std::uint8_t kSendCallFlag = 4;   // writes record message boundaries
constexpr std::uint8_t kAttentionFlag = 8;  // a pending fix-up (restore SO_SNDBUF after a nonblocking connect)
constexpr std::uint8_t kDirectSendFlag = 16;  // a bridged connection: writes may skip the socketpair
constexpr std::uint8_t kDatagramFlag = 32;  // a bridged UDP socket: every send/recv adds/strips the record header

namespace ops {
int socket(int domain, int type, int protocol);
int connect(int fd, const sockaddr* address, socklen_t length);
int listen(int fd, int backlog);
int accept4(int fd, sockaddr* address, socklen_t* length, int flags);
int close(int fd);
int close_range(unsigned first, unsigned last, int flags);
int dup(int fd);
int dup3(int from, int to, int flags, bool is_dup2);
int fcntl(int fd, int command, long argument, bool is64);
int getsockname(int fd, sockaddr* address, socklen_t* length);
int getpeername(int fd, sockaddr* address, socklen_t* length);
int getsockopt(int fd, int level, int name, void* value, socklen_t* length);
int setsockopt(int fd, int level, int name, const void* value, socklen_t length);

// A write-like call on a managed fd: records the message boundary for send-call framing.
// `total` is the byte count the call asks to write.
ssize_t framed_write(int fd, std::size_t total, const std::function<ssize_t()>& call);
// A write-like call's bytes handed straight to the channel on the calling thread (see
// Bridge::send_direct for when that keeps the socketpair's semantics). True: all `data` was
// taken and the call returns its byte count; false: do the kernel write (errno unchanged).
// `flags` are the call's MSG_* flags; any but MSG_NOSIGNAL and MSG_DONTWAIT refuse.
bool direct_send(int fd, const iovec* data, int count, int flags);
ssize_t sendto(int fd, const void* buffer, std::size_t length, int flags, const sockaddr* address, socklen_t address_length);
ssize_t sendmsg(int fd, const msghdr* message, int flags);
int sendmmsg(int fd, mmsghdr* messages, unsigned count, int flags);
ssize_t recvfrom(int fd, void* buffer, std::size_t length, int flags, sockaddr* address, socklen_t* address_length);
ssize_t recvmsg(int fd, msghdr* message, int flags);
int recvmmsg(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout);

// Environment for execve: adds LD_PRELOAD (and the TMC_* variables this process started
// with) when the application's envp dropped them. Returns storage the caller keeps alive.
std::vector<char*> exec_environment(char* const envp[], std::vector<std::string>* storage);
// Captures LD_PRELOAD and TMC_* at startup (before the application can change environ).
void remember_environment();
}  // namespace ops

// Hot-path test used by every interposed I/O call.
inline bool needs_shim(int fd, std::uint8_t mask) { return FdTable::flags(fd) & mask; }

}  // namespace tmc::shim
