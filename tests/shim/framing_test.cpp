// Framer: each framing cuts the byte stream into the messages the policy promises.
#include <gtest/gtest.h>

#include <string>

#include "core/framing.h"

namespace tmc::shim {
namespace {

std::span<const std::byte> bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}
std::string text(const std::vector<std::byte>& message) {
  return std::string(reinterpret_cast<const char*>(message.data()), message.size());
}
std::vector<std::string> drain(Framer& framer) {
  std::vector<std::string> out;
  while (auto message = framer.next()) out.push_back(text(*message));
  return out;
}

TEST(Framer, LengthPrefixedU16KeepsPrefixAndWaitsForWholeMessage) {
  Framer framer(Framing::length_prefixed_u16);
  framer.feed(bytes(std::string("\x00\x03", 2) + "ab"));
  EXPECT_TRUE(drain(framer).empty());
  framer.feed(bytes(std::string("c\x00\x01", 3)));
  EXPECT_EQ(drain(framer), std::vector<std::string>({std::string("\x00\x03" "abc", 5)}));
  framer.feed(bytes("z"));
  EXPECT_EQ(drain(framer), std::vector<std::string>({std::string("\x00\x01z", 3)}));
  EXPECT_EQ(framer.buffered(), 0u);
}

TEST(Framer, LengthPrefixedU32) {
  Framer framer(Framing::length_prefixed_u32);
  std::string message = std::string("\x00\x00\x01\x00", 4) + std::string(256, 'x');
  framer.feed(bytes(message + message.substr(0, 100)));
  auto out = drain(framer);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], message);
  EXPECT_EQ(framer.buffered(), 100u);
}

TEST(Framer, OversizeLengthFallsBackToStreamWithoutLosingBytes) {
  Framer framer(Framing::length_prefixed_u32);
  framer.feed(bytes(std::string("\xff\xff\xff\xff", 4) + "abc"));
  auto out = drain(framer);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), 7u);
  EXPECT_TRUE(framer.fell_back_to_stream());
}

TEST(Framer, LineCutsAfterNewline) {
  Framer framer(Framing::line);
  framer.feed(bytes("GET a\nSET b 1\nPAR"));
  EXPECT_EQ(drain(framer), std::vector<std::string>({"GET a\n", "SET b 1\n"}));
  framer.feed(bytes("TIAL\n"));
  EXPECT_EQ(drain(framer), std::vector<std::string>({"PARTIAL\n"}));
}

TEST(Framer, OverlongLineIsChunked) {
  Framer framer(Framing::line);
  framer.feed(bytes(std::string(Framer::kChunk + 10, 'a')));
  auto out = drain(framer);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), Framer::kChunk);
  EXPECT_EQ(framer.buffered(), 10u);
}

TEST(Framer, SendCallUsesRecordedBoundaries) {
  Framer framer(Framing::send_call);
  framer.feed(bytes("helloworld!"));
  EXPECT_TRUE(drain(framer).empty());  // no boundary known yet
  framer.add_boundary(5);
  framer.add_boundary(5);
  EXPECT_EQ(drain(framer), std::vector<std::string>({"hello", "world"}));
  // Bytes no write accounts for come out on flush.
  auto rest = framer.flush();
  ASSERT_TRUE(rest);
  EXPECT_EQ(text(*rest), "!");
}

TEST(Framer, StreamChunksEverything) {
  Framer framer(Framing::stream);
  framer.feed(bytes(std::string(Framer::kChunk * 2 + 1, 'q')));
  auto out = drain(framer);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].size(), 1u);
}

TEST(Framer, FlushAtEofReturnsPartialMessage) {
  Framer framer(Framing::length_prefixed_u16);
  framer.feed(bytes(std::string("\x00\x09" "abc", 5)));
  EXPECT_FALSE(framer.next());
  auto rest = framer.flush();
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 5u);
}

}  // namespace
}  // namespace tmc::shim
