// transport::UdpSocket on real loopback sockets.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <cerrno>

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "core/socket_address.h"
#include "ebpf/netns_testbed.h"
#include "transport/udp_socket.h"

namespace tmc::transport {
namespace {

using Datagram = std::vector<std::byte>;

// A datagram of `length` bytes whose every byte names its index (so a segment cut at the wrong
// place or delivered twice shows).
Datagram tagged(std::size_t index, std::size_t length) {
  Datagram datagram(length);
  for (std::size_t i = 0; i < length; ++i) datagram[i] = static_cast<std::byte>((index * 31 + i) & 0xff);
  return datagram;
}

// Everything `socket` receives until `expected` datagrams arrived or 2 s passed.
std::vector<Datagram> receive(UdpSocket& socket, std::size_t expected) {
  std::vector<Datagram> received;
  for (int waits = 0; received.size() < expected && waits < 200; ++waits) {
    pollfd poll_fd{socket.fd(), POLLIN, 0};
    if (poll(&poll_fd, 1, 10) <= 0) continue;
    socket.receive_batch([&](std::span<const std::byte> datagram, const core::SocketAddress&) {
      received.emplace_back(datagram.begin(), datagram.end());
    });
  }
  return received;
}

const core::SocketAddress kLoopback = *core::SocketAddress::parse("127.0.0.1:0");

// Ten fragment-sized datagrams and a shorter last one, as one message's fragments are.
std::vector<Datagram> fragments_of_a_message() {
  std::vector<Datagram> datagrams;
  for (std::size_t i = 0; i < 10; ++i) datagrams.push_back(tagged(i, 1000));
  datagrams.push_back(tagged(10, 500));
  return datagrams;
}

TEST(UdpSocket, EqualSizeRunLeavesAsOneGsoSendAndArrivesAsTheDatagramsSent) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  const auto datagrams = fragments_of_a_message();
  for (const auto& datagram : datagrams) sender.queue(receiver.local_address(), datagram);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 1u);
  EXPECT_EQ(sender.offload_counters().gso_segments, 11u);
  EXPECT_EQ(receive(receiver, datagrams.size()), datagrams);
  if (receiver.gro_enabled()) {
    // Loopback hands the super-packet to a UDP_GRO socket whole; receive_batch split it.
    EXPECT_EQ(receiver.offload_counters().gro_receives, 1u);
    EXPECT_EQ(receiver.offload_counters().gro_segments, 11u);
  }
}

TEST(UdpSocket, ReceiverWithoutGroGetsTheSegmentsFromTheKernel) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback, UdpSocket::Offload{.gso = true, .gro = false});
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  EXPECT_FALSE(receiver.gro_enabled());
  const auto datagrams = fragments_of_a_message();
  for (const auto& datagram : datagrams) sender.queue(receiver.local_address(), datagram);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(receive(receiver, datagrams.size()), datagrams);
  EXPECT_EQ(receiver.offload_counters().gro_receives, 0u);
}

TEST(UdpSocket, WithoutGsoEveryDatagramLeavesAlone) {
  UdpSocket sender(kLoopback, UdpSocket::Offload{.gso = false, .gro = false});
  UdpSocket receiver(kLoopback);
  EXPECT_FALSE(sender.gso_enabled());
  const auto datagrams = fragments_of_a_message();
  for (const auto& datagram : datagrams) sender.queue(receiver.local_address(), datagram);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 0u);
  EXPECT_EQ(receive(receiver, datagrams.size()), datagrams);
  EXPECT_EQ(receiver.offload_counters().gro_receives, 0u) << "loopback does not coalesce on its own";
}

TEST(UdpSocket, TmcUdpGsoZeroTurnsBothOffloadsOff) {
  ::setenv("TMC_UDP_GSO", "0", 1);
  const UdpSocket::Offload off = UdpSocket::Offload::from_environment();
  ::setenv("TMC_UDP_GSO", "1", 1);
  const UdpSocket::Offload on = UdpSocket::Offload::from_environment();
  ::unsetenv("TMC_UDP_GSO");
  EXPECT_FALSE(off.gso);
  EXPECT_FALSE(off.gro);
  EXPECT_TRUE(on.gso);
  EXPECT_TRUE(on.gro);
  EXPECT_TRUE(UdpSocket::Offload::from_environment().gso);
}

TEST(UdpSocket, InterleavedDestinationsAreRunsPerDestinationInOrder) {
  UdpSocket sender(kLoopback);
  UdpSocket first(kLoopback), second(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> to_first, to_second;
  for (std::size_t i = 0; i < 20; ++i) {  // one fragment to each member in turn (user-space fan-out)
    to_first.push_back(tagged(i, i == 19 ? 80 : 1200));
    to_second.push_back(tagged(100 + i, i == 19 ? 80 : 1200));
    sender.queue(first.local_address(), to_first.back());
    sender.queue(second.local_address(), to_second.back());
  }
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 2u);
  EXPECT_EQ(sender.offload_counters().gso_segments, 40u);
  EXPECT_EQ(receive(first, to_first.size()), to_first);
  EXPECT_EQ(receive(second, to_second.size()), to_second);
}

// A GSO class (set_gso_class, the eBPF fan-out's rule) splits runs: 4 of class 1, 3 of class
// 0, 5 of class 1 to one receiver leave as 2 super-packets and one of 3, in queue order;
// datagrams queued before the class was set are classed too.
TEST(UdpSocket, GsoClassChangesSplitSuperPacketsAndKeepOrder) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> datagrams;
  for (std::size_t i = 0; i < 12; ++i) {
    datagrams.push_back(tagged(i, 300));
    datagrams.back()[0] = std::byte(i >= 4 && i < 7 ? 0 : 1);  // the class, as the classifier reads it
  }
  for (std::size_t i = 0; i < 2; ++i) sender.queue(receiver.local_address(), datagrams[i]);
  sender.set_gso_class([](const core::SocketAddress&, std::span<const std::byte> packet) {
    return std::to_integer<std::uint8_t>(packet[0]);
  });
  for (std::size_t i = 2; i < datagrams.size(); ++i) sender.queue(receiver.local_address(), datagrams[i]);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 3u);
  EXPECT_EQ(sender.offload_counters().gso_segments, 12u);
  EXPECT_EQ(receive(receiver, datagrams.size()), datagrams);
}

// A datagram queued as a header and a lent payload (queue_borrowed: the zero-copy unreliable
// send) leaves as header ++ payload, read from the caller's memory at flush().
TEST(UdpSocket, BorrowedPayloadLeavesFromTheCallersBytesAfterItsHeader) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  const Datagram header = tagged(1, 56);
  const Datagram payload = tagged(2, 16384);
  sender.queue_borrowed(receiver.local_address(), header, payload);
  EXPECT_EQ(sender.borrowed(), 1u);
  EXPECT_EQ(sender.queued(), 1u);
  EXPECT_EQ(sender.queued_bytes(), header.size() + payload.size());
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.borrowed(), 0u);
  Datagram expected = header;
  expected.insert(expected.end(), payload.begin(), payload.end());
  EXPECT_EQ(receive(receiver, 1), std::vector<Datagram>{expected});
}

// A payload below kMinBorrowed is not lent: it is copied next to its header at once, so the
// caller's buffer is free right away and the datagram is one iovec.
TEST(UdpSocket, SmallPayloadOfferedForLendingIsCopiedWithItsHeader) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  const Datagram header = tagged(3, 56);
  Datagram payload = tagged(4, UdpSocket::kMinBorrowed - 1);
  const Datagram original = payload;
  sender.queue_borrowed(receiver.local_address(), header, payload);
  EXPECT_EQ(sender.borrowed(), 0u);
  std::fill(payload.begin(), payload.end(), std::byte{0xEE});
  EXPECT_EQ(sender.flush(), 0u);
  Datagram expected = header;
  expected.insert(expected.end(), original.begin(), original.end());
  EXPECT_EQ(receive(receiver, 1), std::vector<Datagram>{expected});
}

// own_borrowed() copies lent payloads into the queue: the caller reuses one buffer for three
// datagrams, rewriting it after each own_borrowed(), and each datagram carries what the buffer
// held when it was queued.
TEST(UdpSocket, OwnBorrowedLetsTheCallerReuseItsBufferBeforeTheFlush) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  const Datagram header = tagged(9, 56);
  Datagram buffer(2000);
  std::vector<Datagram> expected;
  for (std::size_t i = 0; i < 3; ++i) {
    const Datagram contents = tagged(10 + i, buffer.size());
    std::copy(contents.begin(), contents.end(), buffer.begin());
    sender.queue_borrowed(receiver.local_address(), header, buffer);
    sender.own_borrowed();
    EXPECT_EQ(sender.borrowed(), 0u);
    expected.push_back(header);
    expected.back().insert(expected.back().end(), contents.begin(), contents.end());
  }
  std::fill(buffer.begin(), buffer.end(), std::byte{0xEE});
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(receive(receiver, expected.size()), expected);
}

// Two-piece datagrams (header + lent payload) of one length still form one GSO super-packet:
// the kernel cuts the gathered iovecs every gso_size bytes, each segment one datagram as queued.
TEST(UdpSocket, EqualSizeTwoPieceDatagramsShareOneGsoSuperPacket) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> headers, payloads, expected;
  for (std::size_t i = 0; i < 11; ++i) {
    headers.push_back(tagged(i, 56));
    payloads.push_back(tagged(100 + i, i == 10 ? 1100 : 1400));
  }
  for (std::size_t i = 0; i < 11; ++i) {
    sender.queue_borrowed(receiver.local_address(), headers[i], payloads[i]);
    expected.push_back(headers[i]);
    expected.back().insert(expected.back().end(), payloads[i].begin(), payloads[i].end());
  }
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 1u);
  EXPECT_EQ(sender.offload_counters().gso_segments, 11u);
  EXPECT_EQ(receive(receiver, expected.size()), expected);
}

// The GSO class of a two-piece datagram is computed from its header (the piece the eBPF
// fan-out rule reads), never from the lent payload.
TEST(UdpSocket, GsoClassOfATwoPieceDatagramSeesItsHeader) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  std::vector<std::size_t> seen;
  sender.set_gso_class([&](const core::SocketAddress&, std::span<const std::byte> packet) {
    seen.push_back(packet.size());
    return std::uint8_t{0};
  });
  const Datagram header = tagged(1, 56), payload = tagged(2, 2000);
  sender.queue_borrowed(receiver.local_address(), header, payload);
  sender.queue(receiver.local_address(), header, payload);
  EXPECT_EQ(seen, (std::vector<std::size_t>{56, 2056}));  // copied pieces are one contiguous packet
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(receive(receiver, 2).size(), 2u);
}

// Property over real loopback sockets: random queues (sizes, three destinations, up to a full
// batch) leave in one flush each, GSO where the plan says so, and every receiver gets exactly
// its datagrams, byte for byte, in the order they were queued.
TEST(UdpSocket, RandomQueuesArriveExactlyOnceInOrderPerDestination) {
  UdpSocket sender(kLoopback);
  std::vector<std::unique_ptr<UdpSocket>> receivers;
  for (int i = 0; i < 3; ++i) receivers.push_back(std::make_unique<UdpSocket>(kLoopback));
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  const std::size_t sizes[] = {64, 120, 1000, 1472};
  std::size_t index = 0;
  for (int round = 0; round < 100; ++round) {
    std::vector<std::vector<Datagram>> expected(3);
    // Each datagram is queued whole (copied), as header ++ payload (both copied), or with its
    // payload lent (queue_borrowed) from `lent`; some rounds take the lent bytes over
    // (own_borrowed) and scribble over the caller's copies before the flush.
    std::vector<Datagram> lent;
    const bool own_before_flush = next() % 2 == 0;
    const std::size_t count = 1 + next() % UdpSocket::kBatch;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t to = next() % 3;
      const std::size_t length = next() % 5 == 0 ? 1 + next() % 3000 : sizes[next() % 4];
      expected[to].push_back(tagged(index++, length));
      const Datagram& datagram = expected[to].back();
      const std::span<const std::byte> bytes(datagram);
      const std::size_t split = next() % (length + 1);
      switch (next() % 3) {
        case 0: sender.queue(receivers[to]->local_address(), bytes); break;
        case 1: sender.queue(receivers[to]->local_address(), bytes.first(split), bytes.subspan(split)); break;
        default:
          lent.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(split), bytes.end());
          sender.queue_borrowed(receivers[to]->local_address(), bytes.first(split), lent.back());
          break;
      }
    }
    EXPECT_EQ(sender.queued(), count);
    if (own_before_flush) {
      sender.own_borrowed();
      EXPECT_EQ(sender.borrowed(), 0u);
      for (auto& bytes : lent) std::fill(bytes.begin(), bytes.end(), std::byte{0xEE});
    }
    ASSERT_EQ(sender.flush(), 0u) << "round " << round;
    EXPECT_EQ(sender.queued_bytes(), 0u);
    for (std::size_t to = 0; to < 3; ++to)
      ASSERT_EQ(receive(*receivers[to], expected[to].size()), expected[to]) << "round " << round << " receiver " << to;
  }
  if (sender.gso_enabled()) {
    EXPECT_GT(sender.offload_counters().gso_sends, 0u);
  }
}

// In a private netns whose loopback has MTU 1500, a gso_size above the MTU is refused
// (EMSGSIZE; EINVAL on older kernels): the datagrams still leave (one by one, IP-fragmented), smaller runs keep using GSO.
TEST(UdpSocket, GsoSizeAboveThePathMtuFallsBackAndSmallerRunsStillUseGso) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  using tmc::bpf::test::run_command;
  const std::string netns = "tmcgso" + std::to_string(getpid());
  if (run_command("ip netns add " + netns) != 0) GTEST_SKIP() << "cannot create a network namespace";
  struct Cleanup {
    std::string name;
    ~Cleanup() { run_command("ip netns del " + name); }
  } cleanup{netns};
  ASSERT_EQ(run_command("ip -n " + netns + " link set lo mtu 1500 up"), 0);
  tmc::bpf::test::InNetns inside(netns);
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> large{tagged(0, 2000), tagged(1, 2000), tagged(2, 2000)};
  for (const auto& datagram : large) sender.queue(receiver.local_address(), datagram);
  EXPECT_EQ(sender.flush(), 0u) << "refused super-packet sent again datagram by datagram";
  EXPECT_EQ(sender.offload_counters().gso_sends, 0u);
  EXPECT_EQ(receive(receiver, large.size()), large);
  EXPECT_TRUE(sender.gso_enabled()) << "EMSGSIZE lowers the segment size, it does not turn GSO off";
  std::vector<Datagram> small{tagged(3, 1000), tagged(4, 1000), tagged(5, 1000)};
  for (const auto& datagram : small) sender.queue(receiver.local_address(), datagram);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 1u);
  EXPECT_EQ(receive(receiver, small.size()), small);
  // The refused size is not tried again (no second failed system call per flush).
  for (const auto& datagram : large) sender.queue(receiver.local_address(), datagram);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_EQ(sender.offload_counters().gso_sends, 1u);
  EXPECT_EQ(receive(receiver, large.size()), large);
}

// Ephemeral binds must each get a port of their own. With SO_REUSEADDR set before an ephemeral
// bind, Linux may hand out a port another SO_REUSEADDR socket holds (about a dozen duplicates
// in 900 binds), and that port's datagrams then reach only one of the two sockets: connections
// through the shim stalled that way above ~150 concurrent connections.
// --- Kernel corking (cork_queued) --------------------------------------------------------

// Whether `socket` has a datagram waiting right now (no wait).
bool readable(const UdpSocket& socket) {
  pollfd poll_fd{socket.fd(), POLLIN, 0};
  return poll(&poll_fd, 1, 0) > 0;
}

// Datagrams of a 16 KiB message's size (header + payload), lent from `payload` as the
// zero-copy unreliable send lends them: three fill a cork (a fourth would pass 65507 bytes).
constexpr std::size_t kHeaderSize = 40;
constexpr std::size_t kLargePayload = 16384;

TEST(UdpSocket, CorkedDatagramsWaitInTheKernelUntilTheCorkFillsThenArriveAsSent) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> expected;
  for (std::size_t i = 0; i < 3; ++i) {
    const Datagram header = tagged(20 + i, kHeaderSize);
    const Datagram payload = tagged(30 + i, kLargePayload);
    sender.queue_borrowed(receiver.local_address(), header, payload);
    const auto lost = sender.cork_queued();
    ASSERT_TRUE(lost.has_value()) << "one datagram to one destination is one run";
    EXPECT_EQ(*lost, 0u);
    EXPECT_EQ(sender.queued(), 0u) << "the kernel holds it now";
    EXPECT_EQ(sender.borrowed(), 0u) << "the kernel copied the lent payload";
    expected.push_back(header);
    expected.back().insert(expected.back().end(), payload.begin(), payload.end());
    if (i < 2) {
      EXPECT_TRUE(sender.corked()) << "datagram " << i;
      EXPECT_FALSE(readable(receiver)) << "datagram " << i << " left before the cork was pushed";
    }
  }
  EXPECT_FALSE(sender.corked()) << "a fourth would not fit: the third push";
  EXPECT_EQ(sender.offload_counters().gso_sends, 1u);
  EXPECT_EQ(sender.offload_counters().gso_segments, 3u);
  EXPECT_EQ(sender.offload_counters().corked_datagrams, 3u);
  EXPECT_EQ(receive(receiver, expected.size()), expected);
  if (receiver.gro_enabled()) {
    EXPECT_EQ(receiver.offload_counters().gro_receives, 1u) << "one super-packet";
    EXPECT_EQ(receiver.offload_counters().gro_segments, 3u);
  }
}

TEST(UdpSocket, CorkingWorksOverIpv6Too) {
  const auto loopback6 = *core::SocketAddress::parse("[::1]:0");
  std::unique_ptr<UdpSocket> sender, receiver;
  try {
    sender = std::make_unique<UdpSocket>(loopback6);
    receiver = std::make_unique<UdpSocket>(loopback6);
  } catch (const std::exception& error) {
    GTEST_SKIP() << "no IPv6 loopback: " << error.what();
  }
  if (!sender->gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> expected;
  for (std::size_t i = 0; i < 4; ++i) {
    expected.push_back(tagged(50 + i, 8000));
    sender->queue(receiver->local_address(), expected.back());
    ASSERT_TRUE(sender->cork_queued().has_value());
  }
  EXPECT_TRUE(sender->corked()) << "4 x 8000 bytes leave room for more";
  EXPECT_FALSE(readable(*receiver));
  EXPECT_EQ(sender->flush(), 0u);
  EXPECT_EQ(sender->offload_counters().gso_segments, 4u);
  EXPECT_EQ(receive(*receiver, expected.size()), expected);
}

TEST(UdpSocket, ALentPayloadMayChangeOnceCorked) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  const Datagram header = tagged(40, kHeaderSize);
  Datagram buffer = tagged(41, kLargePayload);
  Datagram expected = header;
  expected.insert(expected.end(), buffer.begin(), buffer.end());
  sender.queue_borrowed(receiver.local_address(), header, buffer);
  ASSERT_TRUE(sender.cork_queued().has_value());
  ASSERT_TRUE(sender.corked());
  std::fill(buffer.begin(), buffer.end(), std::byte{0xEE});
  EXPECT_EQ(sender.push_cork(), 0u);
  EXPECT_FALSE(sender.corked());
  EXPECT_EQ(receive(receiver, 1), std::vector<Datagram>{expected});
}

// flush() sends an open cork before what is queued, so one destination's datagrams keep
// their order; a run ending with a shorter datagram pushes the cork itself.
TEST(UdpSocket, FlushPushesAnOpenCorkFirstAndAShortLastDatagramPushesItsCork) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  const auto to = receiver.local_address();
  const std::vector<Datagram> datagrams{tagged(0, 1000), tagged(1, 1000), tagged(2, 700), tagged(3, 1000)};
  sender.queue(to, datagrams[0]);
  ASSERT_TRUE(sender.cork_queued().has_value());
  sender.queue(to, datagrams[1]);
  ASSERT_TRUE(sender.cork_queued().has_value());
  EXPECT_TRUE(sender.corked());
  sender.queue(to, datagrams[2]);  // shorter: ends the super-packet
  ASSERT_TRUE(sender.cork_queued().has_value());
  EXPECT_FALSE(sender.corked());
  EXPECT_EQ(sender.offload_counters().gso_segments, 3u);
  sender.queue(to, datagrams[3]);
  ASSERT_TRUE(sender.cork_queued().has_value());
  EXPECT_TRUE(sender.corked());
  const Datagram after = tagged(4, 300);
  sender.queue(to, after);
  EXPECT_EQ(sender.flush(), 0u);
  EXPECT_FALSE(sender.corked());
  std::vector<Datagram> expected = datagrams;
  expected.push_back(after);
  EXPECT_EQ(receive(receiver, expected.size()), expected);
}

// An open cork takes only its own kind: a datagram to another destination (or of another
// size) pushes it and opens a cork of its own.
TEST(UdpSocket, AnotherDestinationOrSizePushesTheOpenCorkFirst) {
  UdpSocket sender(kLoopback);
  UdpSocket first(kLoopback), second(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  const Datagram to_first = tagged(5, 1200), to_second = tagged(6, 1200), larger = tagged(7, 1300);
  sender.queue(first.local_address(), to_first);
  ASSERT_TRUE(sender.cork_queued().has_value());
  sender.queue(second.local_address(), to_second);
  ASSERT_TRUE(sender.cork_queued().has_value());
  EXPECT_TRUE(sender.corked()) << "the second destination's cork";
  EXPECT_EQ(receive(first, 1), std::vector<Datagram>{to_first});
  EXPECT_FALSE(readable(second));
  sender.queue(second.local_address(), larger);
  ASSERT_TRUE(sender.cork_queued().has_value());
  EXPECT_EQ(receive(second, 1), std::vector<Datagram>{to_second}) << "pushed by the larger one";
  EXPECT_EQ(sender.push_cork(), 0u);
  EXPECT_EQ(receive(second, 1), std::vector<Datagram>{larger});
  EXPECT_EQ(sender.offload_counters().gso_sends, 0u) << "every super-packet held one datagram";
}

// What is not one run is refused untouched (the caller flushes it); so is everything when GSO
// is off (a cork without a gso_size would make one long datagram).
TEST(UdpSocket, CorkQueuedRefusesWhatIsNotOneRunAndEverythingWithoutGso) {
  UdpSocket receiver(kLoopback), other(kLoopback);
  {
    UdpSocket sender(kLoopback);
    sender.queue(receiver.local_address(), tagged(0, 800));
    sender.queue(other.local_address(), tagged(1, 800));
    EXPECT_FALSE(sender.cork_queued().has_value()) << "two destinations";
    EXPECT_EQ(sender.queued(), 2u);
    EXPECT_EQ(sender.flush(), 0u);
    sender.queue(receiver.local_address(), tagged(2, 500));
    sender.queue(receiver.local_address(), tagged(3, 800));
    EXPECT_FALSE(sender.cork_queued().has_value()) << "a longer datagram after a shorter one";
    EXPECT_EQ(sender.queued(), 2u);
    EXPECT_FALSE(sender.corked());
  }
  UdpSocket no_gso(kLoopback, UdpSocket::Offload{false, false});
  no_gso.queue(receiver.local_address(), tagged(4, 800));
  EXPECT_FALSE(no_gso.cork_queued().has_value());
  EXPECT_EQ(no_gso.queued(), 1u);
}

// Many small datagrams: the cork is pushed when it holds max_segments (64) of them.
TEST(UdpSocket, ACorkOfSmallDatagramsIsPushedAtTheSegmentLimit) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled()) GTEST_SKIP() << "kernel without UDP GSO";
  std::vector<Datagram> expected;
  for (std::size_t i = 0; i < 64; ++i) {
    expected.push_back(tagged(i, 100));
    sender.queue(receiver.local_address(), expected.back());
    ASSERT_TRUE(sender.cork_queued().has_value());
    EXPECT_EQ(sender.corked(), i < 63) << "datagram " << i;
  }
  EXPECT_EQ(sender.offload_counters().gso_sends, 1u);
  EXPECT_EQ(sender.offload_counters().gso_segments, 64u);
  EXPECT_EQ(receive(receiver, expected.size()), expected);
}

// A receive call asks for fewer datagrams once they are large (GRO super-packets of 3 x 16 KiB
// here), about kReceiveBatchBytes per call, and for kBatch again once they are small;
// last_batch_full() says whether more may be waiting.
TEST(UdpSocket, ReceiveCallsAreSizedByTheBytesOfTheDatagramsLastReceived) {
  UdpSocket sender(kLoopback);
  UdpSocket receiver(kLoopback);
  if (!sender.gso_enabled() || !receiver.gro_enabled()) GTEST_SKIP() << "kernel without UDP GSO/GRO";
  EXPECT_EQ(receiver.receive_limit(), UdpSocket::kBatch);
  auto send_super_packets = [&](int count) {
    for (int i = 0; i < count; ++i) {
      for (std::size_t k = 0; k < 3; ++k) sender.queue(receiver.local_address(), tagged(k, 16424));
      ASSERT_EQ(sender.flush(), 0u);
    }
  };
  auto wait_readable = [&] {
    pollfd poll_fd{receiver.fd(), POLLIN, 0};
    return poll(&poll_fd, 1, 2000) > 0;
  };
  std::size_t segments = 0;
  auto count = [&](std::span<const std::byte>, const core::SocketAddress&) { ++segments; };
  send_super_packets(2);
  ASSERT_TRUE(wait_readable());
  while (segments < 6) receiver.receive_batch(count);
  const std::size_t large_limit = UdpSocket::kReceiveBatchBytes / (3 * 16424);
  EXPECT_EQ(receiver.receive_limit(), large_limit);
  send_super_packets(static_cast<int>(2 * large_limit + 1));
  ASSERT_TRUE(wait_readable());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // all of them queued
  EXPECT_EQ(receiver.receive_batch(count), large_limit);
  EXPECT_TRUE(receiver.last_batch_full());
  EXPECT_EQ(receiver.receive_batch(count), large_limit);
  EXPECT_TRUE(receiver.last_batch_full());
  EXPECT_EQ(receiver.receive_batch(count), 1u);
  EXPECT_FALSE(receiver.last_batch_full()) << "drained";
  EXPECT_EQ(segments, 3 * (2 + 2 * large_limit + 1));
  sender.queue(receiver.local_address(), tagged(9, 100));
  ASSERT_EQ(sender.flush(), 0u);
  ASSERT_TRUE(wait_readable());
  EXPECT_EQ(receiver.receive_batch(count), 1u);
  EXPECT_EQ(receiver.receive_limit(), UdpSocket::kBatch) << "small datagrams: a full batch again";
}

TEST(UdpSocket, EphemeralPortsAreNeverShared) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  constexpr rlim_t kSockets = 900;
  if (limit.rlim_cur < kSockets + 64) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, kSockets + 256);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < kSockets + 64) GTEST_SKIP() << "RLIMIT_NOFILE too low: " << limit.rlim_cur;
  const auto local = core::SocketAddress::parse("127.0.0.1:0");
  ASSERT_TRUE(local);
  std::vector<std::unique_ptr<UdpSocket>> sockets;
  std::map<std::uint16_t, int> holders;
  for (rlim_t i = 0; i < kSockets; ++i) {
    sockets.push_back(std::make_unique<UdpSocket>(*local));
    ++holders[sockets.back()->local_address().port()];
  }
  int shared = 0;
  for (const auto& [port, count] : holders) shared += count - 1;
  EXPECT_EQ(shared, 0) << "ephemeral ports handed out more than once";
}

// A chosen port can still be bound twice (multicast members on one host share the group port),
// but not a port an ephemeral bind holds.
TEST(UdpSocket, ChosenPortIsSharedEphemeralPortIsNot) {
  UdpSocket ephemeral(*core::SocketAddress::parse("127.0.0.1:0"));
  const auto taken = core::SocketAddress::parse("127.0.0.1:" + std::to_string(ephemeral.local_address().port()));
  EXPECT_THROW(UdpSocket again(*taken), std::system_error);
  const auto chosen = core::SocketAddress::parse("127.0.0.2:" + std::to_string(ephemeral.local_address().port()));
  UdpSocket first(*chosen);
  UdpSocket second(*chosen);
  EXPECT_EQ(first.local_address(), second.local_address());
}

// A datagram to a port nobody listens on: the kernel's ICMP port unreachable comes back as
// EPOLLERR, and receive_errors() names the destination with ECONNREFUSED.
TEST(UdpSocket, PortUnreachableIsReportedWithItsDestination) {
  const auto closed = [] {
    UdpSocket taken(*core::SocketAddress::parse("127.0.0.1:0"));
    return taken.local_address();  // released again when `taken` closes
  }();
  UdpSocket sender(*core::SocketAddress::parse("127.0.0.1:0"));
  const std::byte datagram[8]{};
  sender.queue(closed, datagram);
  EXPECT_EQ(sender.flush(), 0u);
  pollfd poll_fd{sender.fd(), 0, 0};
  ASSERT_EQ(poll(&poll_fd, 1, 2000), 1);
  EXPECT_TRUE(poll_fd.revents & POLLERR);
  std::vector<std::pair<std::string, int>> errors;
  EXPECT_EQ(sender.receive_errors([&](const core::SocketAddress& destination, int error) {
    errors.emplace_back(destination.to_string(), error);
  }), 1u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].first, closed.to_string());
  EXPECT_EQ(errors[0].second, ECONNREFUSED);
  poll_fd.revents = 0;
  EXPECT_EQ(poll(&poll_fd, 1, 0), 0) << "the error queue is drained";
}

}  // namespace
}  // namespace tmc::transport
