// Wire format of the harness's KV store: round trips, and rejection of every malformed shape.
#include "kv_protocol.h"

#include <gtest/gtest.h>

namespace {

kv::Request sample_put() {
  kv::Request r;
  r.op = kv::Op::put;
  r.client_id = 0x0102030405060708ull;
  r.request_id = 42;
  r.key = "key7";
  r.value = std::string(64, 'x');
  return r;
}

TEST(KvProtocol, RequestRoundTrip) {
  const auto body = kv::encode(sample_put());
  EXPECT_EQ(body[0], 'Q');
  auto back = kv::decode_request(body.data(), body.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->op, kv::Op::put);
  EXPECT_EQ(back->client_id, 0x0102030405060708ull);
  EXPECT_EQ(back->request_id, 42u);
  EXPECT_EQ(back->key, "key7");
  EXPECT_EQ(back->value, std::string(64, 'x'));
}

TEST(KvProtocol, IntegersAreBigEndian) {
  const auto body = kv::encode(sample_put());
  // magic, op, then client_id most significant byte first.
  EXPECT_EQ(body[2], 0x01);
  EXPECT_EQ(body[9], 0x08);
  const auto framed = kv::frame(body);
  ASSERT_EQ(framed.size(), body.size() + 4);
  EXPECT_EQ(framed[0], 0);
  EXPECT_EQ(framed[3], static_cast<std::uint8_t>(body.size()));
}

TEST(KvProtocol, ReplyRoundTrip) {
  kv::Reply r;
  r.status = kv::Status::not_found;
  r.replica_id = 3;
  r.client_id = 9;
  r.request_id = 10;
  const auto body = kv::encode(r);
  auto back = kv::decode_reply(body.data(), body.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, kv::Status::not_found);
  EXPECT_EQ(back->replica_id, 3);
  EXPECT_EQ(back->request_id, 10u);
  EXPECT_TRUE(back->value.empty());
  // A reply is not a request and vice versa.
  EXPECT_FALSE(kv::decode_request(body.data(), body.size()));
  const auto req = kv::encode(sample_put());
  EXPECT_FALSE(kv::decode_reply(req.data(), req.size()));
}

TEST(KvProtocol, RejectsEveryTruncationAndTrailingBytes) {
  auto body = kv::encode(sample_put());
  for (std::size_t n = 0; n < body.size(); ++n) EXPECT_FALSE(kv::decode_request(body.data(), n)) << n;
  body.push_back(0);
  EXPECT_FALSE(kv::decode_request(body.data(), body.size()));
}

TEST(KvProtocol, RejectsUnknownOpAndOversizedKey) {
  auto body = kv::encode(sample_put());
  body[1] = 7;
  EXPECT_FALSE(kv::decode_request(body.data(), body.size()));
  kv::Request big = sample_put();
  big.key = std::string(kv::kMaxKey + 1, 'k');
  const auto oversized = kv::encode(big);
  EXPECT_FALSE(kv::decode_request(oversized.data(), oversized.size()));
}

TEST(KvProtocol, FrameReaderReassemblesByteByByte) {
  const auto a = kv::frame(kv::encode(sample_put()));
  kv::Request other = sample_put();
  other.request_id = 43;
  const auto b = kv::frame(kv::encode(other));
  std::vector<std::uint8_t> stream(a);
  stream.insert(stream.end(), b.begin(), b.end());
  kv::FrameReader reader;
  std::vector<std::uint64_t> ids;
  for (std::uint8_t byte : stream) {
    reader.feed(&byte, 1);
    while (auto body = reader.next()) {
      auto req = kv::decode_request(body->data(), body->size());
      ASSERT_TRUE(req);
      ids.push_back(req->request_id);
    }
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{42, 43}));
  EXPECT_FALSE(reader.bad());
}

TEST(KvProtocol, FrameReaderFlagsOversizedLength) {
  const std::uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0};
  kv::FrameReader reader;
  reader.feed(huge, sizeof huge);
  EXPECT_FALSE(reader.next());
  EXPECT_TRUE(reader.bad());
}

TEST(KvProtocol, ParsesEndpoints) {
  auto e = kv::parse_endpoint("10.77.0.2:7000");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "10.77.0.2");
  EXPECT_EQ(e->port, 7000);
  EXPECT_FALSE(kv::parse_endpoint("10.77.0.2"));
  EXPECT_FALSE(kv::parse_endpoint("10.77.0.2:0"));
  EXPECT_FALSE(kv::parse_endpoint("10.77.0.2:70000"));
  EXPECT_FALSE(kv::parse_endpoint(":80"));
  EXPECT_FALSE(kv::parse_endpoint("h:8x"));
}

}  // namespace
