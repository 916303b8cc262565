#include "kv_protocol.h"

#include <charconv>

namespace kv {
namespace {

void put_u8(std::vector<std::uint8_t>& out, std::uint8_t v) { out.push_back(v); }
void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
void put_bytes(std::vector<std::uint8_t>& out, const std::string& s) { out.insert(out.end(), s.begin(), s.end()); }

// Bounds-checked big-endian reader.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool u8(std::uint8_t& v) { return take(1, v); }
  bool u16(std::uint16_t& v) { return take(2, v); }
  bool u32(std::uint32_t& v) { return take(4, v); }
  bool u64(std::uint64_t& v) { return take(8, v); }
  bool bytes(std::size_t n, std::string& s) {
    if (size_ - pos_ < n) return false;
    s.assign(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return true;
  }
  bool at_end() const { return pos_ == size_; }

 private:
  template <typename T>
  bool take(std::size_t n, T& v) {
    if (size_ - pos_ < n) return false;
    std::uint64_t acc = 0;
    for (std::size_t i = 0; i < n; ++i) acc = (acc << 8) | data_[pos_ + i];
    v = static_cast<T>(acc);
    pos_ += n;
    return true;
  }
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<std::uint8_t> encode(const Request& r) {
  std::vector<std::uint8_t> out;
  out.reserve(24 + r.key.size() + r.value.size());
  put_u8(out, kRequestMagic);
  put_u8(out, static_cast<std::uint8_t>(r.op));
  put_u64(out, r.client_id);
  put_u64(out, r.request_id);
  put_u16(out, static_cast<std::uint16_t>(r.key.size()));
  put_bytes(out, r.key);
  put_u32(out, static_cast<std::uint32_t>(r.value.size()));
  put_bytes(out, r.value);
  return out;
}

std::vector<std::uint8_t> encode(const Reply& r) {
  std::vector<std::uint8_t> out;
  out.reserve(24 + r.value.size());
  put_u8(out, kReplyMagic);
  put_u8(out, static_cast<std::uint8_t>(r.status));
  put_u16(out, r.replica_id);
  put_u64(out, r.client_id);
  put_u64(out, r.request_id);
  put_u32(out, static_cast<std::uint32_t>(r.value.size()));
  put_bytes(out, r.value);
  return out;
}

std::optional<Request> decode_request(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  std::uint8_t magic = 0, op = 0;
  std::uint16_t key_len = 0;
  std::uint32_t value_len = 0;
  Request r;
  if (!in.u8(magic) || magic != kRequestMagic || !in.u8(op)) return std::nullopt;
  if (op != static_cast<std::uint8_t>(Op::get) && op != static_cast<std::uint8_t>(Op::put)) return std::nullopt;
  r.op = static_cast<Op>(op);
  if (!in.u64(r.client_id) || !in.u64(r.request_id) || !in.u16(key_len) || key_len > kMaxKey ||
      !in.bytes(key_len, r.key) || !in.u32(value_len) || value_len > kMaxValue || !in.bytes(value_len, r.value) ||
      !in.at_end())
    return std::nullopt;
  return r;
}

std::optional<Reply> decode_reply(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  std::uint8_t magic = 0, status = 0;
  std::uint32_t value_len = 0;
  Reply r;
  if (!in.u8(magic) || magic != kReplyMagic || !in.u8(status) || status > 1) return std::nullopt;
  r.status = static_cast<Status>(status);
  if (!in.u16(r.replica_id) || !in.u64(r.client_id) || !in.u64(r.request_id) || !in.u32(value_len) ||
      value_len > kMaxValue || !in.bytes(value_len, r.value) || !in.at_end())
    return std::nullopt;
  return r;
}

std::vector<std::uint8_t> frame(const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> out;
  out.reserve(4 + body.size());
  put_u32(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void FrameReader::feed(const std::uint8_t* data, std::size_t size) {
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), data, data + size);
}

std::optional<std::vector<std::uint8_t>> FrameReader::next() {
  if (bad_ || buffer_.size() - consumed_ < 4) return std::nullopt;
  const std::uint8_t* p = buffer_.data() + consumed_;
  const std::uint32_t length = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                               (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  if (length > kMaxBody) {
    bad_ = true;
    return std::nullopt;
  }
  if (buffer_.size() - consumed_ - 4 < length) return std::nullopt;
  std::vector<std::uint8_t> body(p + 4, p + 4 + length);
  consumed_ += 4 + length;
  if (consumed_ > 64 * 1024) {  // compact occasionally
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  return body;
}

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  Endpoint e;
  e.host = text.substr(0, colon);
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || ptr != last || port == 0 || port > 65535) return std::nullopt;
  e.port = static_cast<std::uint16_t>(port);
  return e;
}

}  // namespace kv
