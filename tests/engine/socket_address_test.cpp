// core::SocketAddress: parsing, formatting and the IPv4-mapped form a dual-stack socket reports.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include "core/socket_address.h"

namespace tmc::core {
namespace {

TEST(SocketAddress, V4MappedAddressBecomesTheIpv4AddressItStandsFor) {
  auto mapped = SocketAddress::parse("[::ffff:10.78.0.1]:5201");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->family(), AF_INET6);
  auto plain = mapped->without_v4_mapping();
  EXPECT_EQ(plain.family(), AF_INET);
  EXPECT_EQ(plain.length, sizeof(sockaddr_in));
  EXPECT_EQ(plain, *SocketAddress::parse("10.78.0.1:5201"));
  EXPECT_EQ(plain.to_string(), "10.78.0.1:5201");
}

TEST(SocketAddress, OtherAddressesAreLeftAlone) {
  for (const char* text : {"10.78.0.1:1", "[::1]:2", "[fe80::1]:3", "[::]:4", "[::ffff:0:10.0.0.1]:5"}) {
    auto address = SocketAddress::parse(text);
    ASSERT_TRUE(address) << text;
    EXPECT_EQ(address->without_v4_mapping(), *address) << text;
    EXPECT_EQ(address->without_v4_mapping().family(), address->family()) << text;
  }
}

}  // namespace
}  // namespace tmc::core
