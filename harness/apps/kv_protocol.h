// Wire protocol of the replicated key-value store used by the A/B harness.
//
// The store knows nothing of TMC: it is a plain POSIX-sockets application. Its messages are
// designed so that a TMC policy can carry them unchanged:
//   - TCP mode: every message is framed as a u32 big-endian body length followed by the body
//     (a policy can use `length-prefixed` framing and lose or deliver whole messages);
//   - UDP mode: one datagram per message, no length prefix.
//
// Body of a request (all integers big-endian):
//   u8  magic 'Q'   u8 op (1 = GET, 2 = PUT)
//   u64 client_id   u64 request_id   (request ids grow by one per operation of a client)
//   u16 key length  key bytes        u32 value length  value bytes (empty for GET)
// Body of a reply:
//   u8  magic 'R'   u8 status (0 = ok, 1 = not found)
//   u16 replica_id  u64 client_id    u64 request_id
//   u32 value length  value bytes    (the stored value for GET, empty for PUT)
//
// Retries resend the same request id; a replica answers a repeated request from its reply
// cache and ignores requests older than the newest it has seen from that client, so a late
// retransmitted PUT can never overwrite a newer value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kv {

inline constexpr std::uint8_t kRequestMagic = 'Q';
inline constexpr std::uint8_t kReplyMagic = 'R';
inline constexpr std::size_t kMaxKey = 1024;
inline constexpr std::size_t kMaxValue = 64 * 1024;
// Largest body either side accepts; longer frames close the connection / drop the datagram.
inline constexpr std::size_t kMaxBody = 2 + 8 + 8 + 2 + kMaxKey + 4 + kMaxValue + 16;

enum class Op : std::uint8_t { get = 1, put = 2 };
enum class Status : std::uint8_t { ok = 0, not_found = 1 };

struct Request {
  Op op = Op::get;
  std::uint64_t client_id = 0;
  std::uint64_t request_id = 0;
  std::string key;
  std::string value;
};

struct Reply {
  Status status = Status::ok;
  std::uint16_t replica_id = 0;
  std::uint64_t client_id = 0;
  std::uint64_t request_id = 0;
  std::string value;
};

std::vector<std::uint8_t> encode(const Request&);
std::vector<std::uint8_t> encode(const Reply&);
// Malformed bodies (wrong magic, truncated, oversized fields, trailing bytes) give nullopt.
std::optional<Request> decode_request(const std::uint8_t* data, std::size_t size);
std::optional<Reply> decode_reply(const std::uint8_t* data, std::size_t size);

// TCP framing: prepends the u32 big-endian length.
std::vector<std::uint8_t> frame(const std::vector<std::uint8_t>& body);

// Reassembles length-prefixed frames from a byte stream.
class FrameReader {
 public:
  // Appends received bytes.
  void feed(const std::uint8_t* data, std::size_t size);
  // Next complete body, if any. Sets `bad` and returns nullopt on an oversized length.
  std::optional<std::vector<std::uint8_t>> next();
  bool bad() const { return bad_; }

 private:
  std::vector<std::uint8_t> buffer_;
  std::size_t consumed_ = 0;
  bool bad_ = false;
};

// "host:port" → parts; nullopt on a malformed string.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<Endpoint> parse_endpoint(const std::string& text);

}  // namespace kv
