// What the interposed socket calls do for UDP sockets (udp-sender / udp-receiver rules).
// socket_ops.cpp and the interposers call these; unit tests call them directly.
//
// Classification (decided per socket, never at socket()):
//   bind(addr)                    matching udp-receiver -> bridged; the channel takes addr's port
//   IP_ADD_MEMBERSHIP(group)      on a bound socket, group:port matching udp-receiver -> bridged
//   connect(dest) / sendto(dest)  matching udp-sender -> bridged (a bound socket keeps its port)
// A bridged socket is an AF_UNIX SOCK_SEQPACKET end on the application's fd number
// (datagram_bridge.h) carrying O_NONBLOCK, FD_CLOEXEC and the options already set; every call
// below adds or strips the record header, reports the peer's INET source address and answers
// getsockname/getpeername with INET addresses. Unmatched UDP sockets are never touched.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>

#include "core/datagram_bridge.h"
#include "core/fd_table.h"
#include "core/socket_ops.h"

namespace tmc::shim {

// This process's datagram bridge, created on first use (nullptr without a policy).
DatagramBridge* datagram_bridge();
void datagram_after_fork_child();

// True when the policy has udp-sender rules: sendto/sendmsg on unmanaged fds then look at the
// destination (the hot path for every other process stays one load and a branch).
inline std::atomic<bool> classify_sends{false};

namespace datagram {

// Called by configure(): derives classify_sends from the policy.
void configure(const Policy* policy);

// Each returns nullopt when the call is not the datagram path's (the caller goes on as before).
std::optional<int> bind(int fd, const sockaddr* address, socklen_t length);
std::optional<int> connect(int fd, const sockaddr* address, socklen_t length);
std::optional<int> setsockopt(int fd, int level, int name, const void* value, socklen_t length);
// An unmanaged fd about to send to `destination`: bridges it when a udp-sender rule matches.
// True when the fd is now a bridged datagram socket.
bool classify_for_send(int fd, const sockaddr* destination, socklen_t length);

// I/O on a bridged datagram fd (FdTable flag kDatagramFlag).
ssize_t send_message(int fd, const msghdr* message, int flags);
ssize_t receive_message(int fd, msghdr* message, int flags);
int receive_messages(int fd, mmsghdr* messages, unsigned count, int flags, timespec* timeout);
ssize_t send_buffer(int fd, const void* buffer, std::size_t length, int flags, const sockaddr* destination,
                    socklen_t destination_length);
ssize_t receive_buffer(int fd, void* buffer, std::size_t length, int flags, sockaddr* source, socklen_t* source_length);
// shutdown(): EINVAL for a bad `how`, ENOTCONN unless connected, else 0 (no effect on the channel).
std::optional<int> shutdown(int fd, int how);
// FIONREAD/SIOCINQ: the size of the next datagram, as for UDP. nullopt when not ours.
std::optional<int> ioctl(int fd, unsigned long request, void* argument);

}  // namespace datagram

inline bool is_bridged_datagram(int fd) { return FdTable::flags(fd) & kDatagramFlag; }

}  // namespace tmc::shim
