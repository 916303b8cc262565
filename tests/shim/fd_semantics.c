/* fd_semantics PORT [CLOSED_PORT]: socket semantics an application observes, printed one line per check.
 * Run without and with libtmc_shim.so (a policy matching PORT on 127.0.0.1): the outputs must
 * be identical (fd_semantics.sh diffs them). Every check also verifies itself and prints FAIL.
 * Covers: nonblocking connect (EINPROGRESS, POLLOUT, SO_ERROR), accept addresses, getsockname/
 * getpeername, SO_TYPE/SO_DOMAIN/SO_PROTOCOL, TCP_NODELAY, dup/dup2/dup3/F_DUPFD_CLOEXEC, last
 * close -> EOF, half-close, bulk data with poll(), fork child writing, recvfrom source length,
 * connection refused on an unmatched port, and (CLOSED_PORT, which the policy matches but nobody
 * listens on) blocking and nonblocking connect refused. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(condition, label)                                   \
  do {                                                            \
    if (condition) {                                              \
      printf("ok %s\n", label);                                   \
    } else {                                                      \
      printf("FAIL %s (errno %s)\n", label, strerrorname_np(errno)); \
      failures++;                                                 \
    }                                                             \
    fflush(stdout);                                               \
  } while (0)

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

static int port_of(int fd, int peer) {
  struct sockaddr_in address;
  socklen_t length = sizeof address;
  int result = peer ? getpeername(fd, (struct sockaddr*)&address, &length)
                    : getsockname(fd, (struct sockaddr*)&address, &length);
  if (result != 0 || address.sin_family != AF_INET || length != sizeof address) return -1;
  return ntohs(address.sin_port);
}

static int int_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  if (getsockopt(fd, level, name, &value, &length) != 0) return -100 - errno;
  return value;
}

static int read_exact(int fd, char* buffer, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t count = read(fd, buffer + done, size - done);
    if (count <= 0) return -1;
    done += (size_t)count;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fd_semantics PORT [CLOSED_PORT]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  struct sockaddr_in server_address = loopback(port);

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  CHECK(bind(listener, (struct sockaddr*)&server_address, sizeof server_address) == 0, "bind");
  CHECK(listen(listener, 16) == 0, "listen");
  CHECK(port_of(listener, 0) == port, "listener getsockname port");
  CHECK(int_option(listener, SOL_SOCKET, SO_ACCEPTCONN) == 1, "listener SO_ACCEPTCONN");
  errno = 0;
  CHECK(port_of(listener, 1) == -1 && errno == ENOTCONN, "listener getpeername ENOTCONN");

  /* Nonblocking connect. */
  int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int result = connect(client, (struct sockaddr*)&server_address, sizeof server_address);
  CHECK(result == 0 || errno == EINPROGRESS, "nonblocking connect EINPROGRESS");
  struct pollfd poll_fd = {client, POLLOUT, 0};
  CHECK(poll(&poll_fd, 1, 5000) == 1 && (poll_fd.revents & POLLOUT), "connect completes with POLLOUT");
  CHECK(int_option(client, SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR 0");
  CHECK(fcntl(client, F_GETFL) & O_NONBLOCK, "O_NONBLOCK kept");
  /* Linux: the first connect() after completion returns 0, later ones EISCONN. */
  result = connect(client, (struct sockaddr*)&server_address, sizeof server_address);
  CHECK(result == 0, "connect again after completion returns 0");
  errno = 0;
  result = connect(client, (struct sockaddr*)&server_address, sizeof server_address);
  CHECK(result == -1 && errno == EISCONN, "third connect EISCONN");

  struct sockaddr_in peer;
  socklen_t peer_length = sizeof peer;
  int server = accept4(listener, (struct sockaddr*)&peer, &peer_length, SOCK_CLOEXEC);
  CHECK(server >= 0, "accept4");
  CHECK(peer_length == sizeof peer && peer.sin_family == AF_INET && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
        "accept reports an AF_INET loopback peer");
  CHECK(ntohs(peer.sin_port) == port_of(client, 0), "accepted peer port = client local port");
  CHECK(port_of(server, 1) == port_of(client, 0), "server getpeername = client getsockname");
  CHECK(port_of(server, 0) == port, "server getsockname port");
  CHECK(port_of(client, 1) == port, "client getpeername port");
  CHECK(fcntl(server, F_GETFD) & FD_CLOEXEC, "accept4 SOCK_CLOEXEC");
  CHECK(int_option(client, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE stream");
  CHECK(int_option(client, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN inet");
  CHECK(int_option(client, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL tcp");
  CHECK(setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "set TCP_NODELAY");
  CHECK(int_option(client, IPPROTO_TCP, TCP_NODELAY) == 1, "get TCP_NODELAY");

  /* Data both ways, nonblocking read when empty. */
  char buffer[64];
  errno = 0;
  CHECK(read(client, buffer, sizeof buffer) == -1 && errno == EAGAIN, "empty nonblocking read EAGAIN");
  CHECK(write(client, "hello", 5) == 5, "client write");
  CHECK(read_exact(server, buffer, 5) == 0 && memcmp(buffer, "hello", 5) == 0, "server reads hello");
  CHECK(send(server, "world!", 6, 0) == 6, "server send");
  poll_fd.events = POLLIN;
  CHECK(poll(&poll_fd, 1, 5000) == 1 && (poll_fd.revents & POLLIN), "client POLLIN");
  struct sockaddr_storage source;
  socklen_t source_length = sizeof source;
  CHECK(recvfrom(client, buffer, 6, MSG_WAITALL, (struct sockaddr*)&source, &source_length) == 6 && source_length == 0,
        "recvfrom on a stream reports no source");

  /* dup family. */
  int copy = dup(client);
  CHECK(copy >= 0 && port_of(copy, 1) == port, "dup keeps peer");
  CHECK(dup2(client, 100) == 100 && port_of(100, 1) == port, "dup2 keeps peer");
  CHECK(dup3(client, 101, O_CLOEXEC) == 101 && (fcntl(101, F_GETFD) & FD_CLOEXEC), "dup3 O_CLOEXEC");
  int high = fcntl(client, F_DUPFD_CLOEXEC, 200);
  CHECK(high >= 200 && (fcntl(high, F_GETFD) & FD_CLOEXEC) && port_of(high, 1) == port, "F_DUPFD_CLOEXEC");
  CHECK(close(client) == 0, "close original");
  CHECK(write(copy, "dup!", 4) == 4 && read_exact(server, buffer, 4) == 0, "write through dup after close");
  close(copy);
  close(100);
  close(101);
  CHECK(write(high, "x", 1) == 1 && read_exact(server, buffer, 1) == 0, "last copy still open");
  close(high);
  poll_fd.fd = server;
  poll_fd.events = POLLIN;
  CHECK(poll(&poll_fd, 1, 5000) == 1 && read(server, buffer, sizeof buffer) == 0, "EOF after the last close");
  close(server);

  /* Blocking connect, bulk data, half-close. */
  client = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(connect(client, (struct sockaddr*)&server_address, sizeof server_address) == 0, "blocking connect");
  server = accept(listener, NULL, NULL);
  CHECK(server >= 0, "accept");
  enum { kBulk = 1 << 20 };
  char* bulk = malloc(kBulk);
  char* back = malloc(kBulk);
  for (int i = 0; i < kBulk; i++) bulk[i] = (char)(i * 7 + (i >> 9));
  pid_t writer = fork();
  if (writer == 0) {
    /* The fork child writes on the inherited connection and exits. */
    size_t done = 0;
    while (done < kBulk) {
      ssize_t count = write(client, bulk + done, kBulk - done);
      if (count <= 0) _exit(1);
      done += (size_t)count;
    }
    shutdown(client, SHUT_WR);
    _exit(0);
  }
  CHECK(read_exact(server, back, kBulk) == 0 && memcmp(bulk, back, kBulk) == 0, "1 MiB from a fork child intact");
  int status = 0;
  waitpid(writer, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child exited 0");
  CHECK(read(server, buffer, sizeof buffer) == 0, "half-close: server sees EOF");
  CHECK(write(server, "bye", 3) == 3, "half-close: server still writes");
  CHECK(read_exact(client, buffer, 3) == 0 && memcmp(buffer, "bye", 3) == 0, "half-close: client still reads");
  close(server);
  CHECK(read(client, buffer, sizeof buffer) == 0, "client EOF after server close");
  close(client);
  free(bulk);
  free(back);

  /* Socket buffer sizes set before connect() hold after it (iperf3 -w checks this), and an
   * accepted socket has its listener's. */
  client = socket(AF_INET, SOCK_STREAM, 0);
  int requested = 1 << 20;
  setsockopt(listener, SOL_SOCKET, SO_SNDBUF, &requested, sizeof requested);
  int listener_send = int_option(listener, SOL_SOCKET, SO_SNDBUF);
  setsockopt(client, SOL_SOCKET, SO_SNDBUF, &requested, sizeof requested);
  setsockopt(client, SOL_SOCKET, SO_RCVBUF, &requested, sizeof requested);
  int send_before = int_option(client, SOL_SOCKET, SO_SNDBUF);
  int receive_before = int_option(client, SOL_SOCKET, SO_RCVBUF);
  CHECK(connect(client, (struct sockaddr*)&server_address, sizeof server_address) == 0, "buffers: blocking connect");
  server = accept(listener, NULL, NULL);
  CHECK(server >= 0, "buffers: accept");
  CHECK(int_option(client, SOL_SOCKET, SO_SNDBUF) >= send_before, "SO_SNDBUF set before connect kept");
  CHECK(int_option(client, SOL_SOCKET, SO_RCVBUF) >= receive_before, "SO_RCVBUF set before connect kept");
  CHECK(int_option(server, SOL_SOCKET, SO_SNDBUF) >= listener_send, "accepted socket has the listener's SO_SNDBUF");
  close(server);
  close(client);

  /* A port no rule matches and nobody listens on: refused by the kernel. */
  struct sockaddr_in closed = loopback(port + 1);
  client = socket(AF_INET, SOCK_STREAM, 0);
  errno = 0;
  CHECK(connect(client, (struct sockaddr*)&closed, sizeof closed) == -1 && errno == ECONNREFUSED,
        "unmatched port: ECONNREFUSED");
  close(client);

  if (argc > 2) {
    /* A port the policy matches but nobody listens on: ECONNREFUSED, not a timeout. */
    struct sockaddr_in nobody = loopback(atoi(argv[2]));
    client = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    CHECK(connect(client, (struct sockaddr*)&nobody, sizeof nobody) == -1 && errno == ECONNREFUSED,
          "closed port: blocking connect ECONNREFUSED");
    close(client);
    client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    result = connect(client, (struct sockaddr*)&nobody, sizeof nobody);
    CHECK(result == 0 || errno == EINPROGRESS, "closed port: nonblocking connect EINPROGRESS");
    struct pollfd refused_poll = {client, POLLOUT, 0};
    CHECK(poll(&refused_poll, 1, 5000) == 1 && (refused_poll.revents & POLLOUT), "closed port: POLLOUT");
    CHECK(int_option(client, SOL_SOCKET, SO_ERROR) == ECONNREFUSED, "closed port: SO_ERROR ECONNREFUSED");
    CHECK(int_option(client, SOL_SOCKET, SO_ERROR) == 0, "closed port: SO_ERROR read clears it");
    close(client);
  }
  close(listener);
  printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
