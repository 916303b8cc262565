#include "core/stats_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "core/bridge.h"
#include "core/datagram_ops.h"
#include "core/fd_table.h"
#include "core/datagram_ops.h"
#include "core/guard.h"
#include "core/real.h"
#include "core/socket_ops.h"
#include "core/stats_protocol.h"

namespace tmc::shim {

namespace {

int server_pid = 0;
std::mutex server_mutex;

void serve(int listener) {
  engine_thread = true;
  for (;;) {
    int client = TMC_REAL(accept4)(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    char request[32] = {};
    ssize_t count = TMC_REAL(read)(client, request, sizeof request - 1);
    bool prometheus = count > 0 && std::strncmp(request, "prometheus", 10) == 0;
    Bridge* shim_bridge = bridge();
    std::string text = shim_bridge ? shim_bridge->stats(prometheus) : std::string("no bridge\n");
    if (DatagramBridge* datagrams = datagram_bridge()) text += datagrams->stats(prometheus);
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t written = TMC_REAL(write)(client, text.data() + done, text.size() - done);
      if (written <= 0) break;
      done += static_cast<std::size_t>(written);
    }
    TMC_REAL(close)(client);
  }
}

}  // namespace

void start_stats_server() {
  std::lock_guard lock(server_mutex);
  if (server_pid == ::getpid()) return;
  ShimScope scope;
  int listener = TMC_REAL(socket)(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return;
  listener = move_high_cloexec(listener);
  sockaddr_un address;
  socklen_t length = stats_socket_address(::getpid(), &address);
  if (TMC_REAL(bind)(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 || TMC_REAL(listen)(listener, 8) != 0) {
    FdTable::clear(listener);
    TMC_REAL(close)(listener);
    return;
  }
  server_pid = ::getpid();
  std::thread(serve, listener).detach();
}

}  // namespace tmc::shim
