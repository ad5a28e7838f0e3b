#include "net/websocket_frame.h"

#include <algorithm>
#include <cstring>

namespace uwsgi::ws {

bool close_code_valid(unsigned code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

// ---- UTF-8 ---------------------------------------------------------------------------------

bool Utf8Validator::feed(const char* p, size_t n) {
  if (!ok_) return false;
  const auto* s = reinterpret_cast<const uint8_t*>(p);
  size_t i = 0;
  while (i < n) {
    if (need_ == 0) {
      // ASCII runs, 8 bytes at a time: most text is mostly ASCII.
      while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) break;
        i += 8;
      }
      if (i >= n) break;
      uint8_t b = s[i++];
      if (b < 0x80) continue;
      lo_ = 0x80, hi_ = 0xBF;
      if (b >= 0xC2 && b <= 0xDF) {
        need_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        need_ = 2;
        if (b == 0xE0) lo_ = 0xA0;       // overlong
        else if (b == 0xED) hi_ = 0x9F;  // UTF-16 surrogates
      } else if (b >= 0xF0 && b <= 0xF4) {
        need_ = 3;
        if (b == 0xF0) lo_ = 0x90;       // overlong
        else if (b == 0xF4) hi_ = 0x8F;  // past U+10FFFF
      } else {
        return ok_ = false;
      }
    } else {
      uint8_t b = s[i++];
      if (b < lo_ || b > hi_) return ok_ = false;
      need_--;
      lo_ = 0x80, hi_ = 0xBF;
    }
  }
  return true;
}

// ---- parser --------------------------------------------------------------------------------

FrameParser::Event FrameParser::fail(unsigned code, std::string why) {
  failed_ = true;
  error_code_ = code;
  error_ = std::move(why);
  return Event::kError;
}

// The first two header bytes say everything the rules need except the extended length: checked
// as soon as they are here, so a bad frame is refused before its payload arrives.
static bool is_control(uint8_t op) { return op & 0x8; }

FrameParser::Event FrameParser::header_done() {
  uint8_t len7 = hdr_[1] & 0x7F;
  uint64_t len = len7;
  size_t at = 2;
  if (len7 == 126) {
    len = (uint64_t)hdr_[2] << 8 | hdr_[3];
    at = 4;
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = len << 8 | hdr_[2 + i];
    at = 10;
    if (len >> 63) return fail(kCloseProtocolError, "frame length with its most significant bit set");
  }
  memcpy(mask_, hdr_ + at, 4);
  mask_pos_ = 0;
  frame_left_ = len;
  if (is_control(opcode_)) {
    if (opcode_ == kClose && len == 1) return fail(kCloseProtocolError, "close frame with a 1-byte payload");
    control_.clear();
    control_.reserve(len);
  } else {
    if (opcode_ != kContinuation) {
      in_message_ = true;
      message_binary_ = opcode_ == kBinary;
      message_.clear();
      utf8_.reset();
    }
    if (max_message_ && len > max_message_ - message_.size())
      return fail(kCloseTooBig, "message larger than --websocket-max-size (" + std::to_string(max_message_) +
                                    " bytes)");
    // Room for what a frame declares, but not more than 64 KiB ahead of its bytes: a client that
    // declares 1 MiB and sends nothing must not cost 1 MiB per connection.
    message_.reserve(message_.size() + (size_t)std::min<uint64_t>(len, 64 * 1024));
  }
  in_payload_ = true;
  return Event::kNeedMore;
}

FrameParser::Event FrameParser::frame_done() {
  in_payload_ = false;
  hdr_len_ = 0;
  hdr_need_ = 2;
  switch (opcode_) {
    case kPing:
      payload_.swap(control_);
      return Event::kPing;
    case kPong:
      payload_.swap(control_);
      return Event::kPong;
    case kClose: {
      close_code_ = kCloseNoStatus;
      payload_.clear();
      if (control_.size() >= 2) {
        unsigned code = (uint8_t)control_[0] << 8 | (uint8_t)control_[1];
        if (!close_code_valid(code))
          return fail(kCloseProtocolError, "close frame with invalid status code " + std::to_string(code));
        Utf8Validator v;
        if (!v.feed(control_.data() + 2, control_.size() - 2) || !v.complete())
          return fail(kCloseBadData, "close reason is not valid UTF-8");
        close_code_ = code;
        payload_.assign(control_, 2);
      }
      return Event::kClose;
    }
    default:
      break;
  }
  if (!fin_) return Event::kNeedMore;
  if (!message_binary_ && !utf8_.complete()) return fail(kCloseBadData, "text message is not valid UTF-8");
  payload_.swap(message_);
  message_.clear();
  binary_ = message_binary_;
  in_message_ = false;
  return Event::kMessage;
}

FrameParser::Event FrameParser::feed(const char* p, size_t n, size_t* used) {
  size_t pos = 0;
  *used = 0;
  if (failed_) return Event::kError;
  for (;;) {
    if (!in_payload_) {
      if (pos == n) break;
      hdr_[hdr_len_++] = (uint8_t)p[pos++];
      if (hdr_len_ == 1) {
        uint8_t b = hdr_[0];
        fin_ = b & 0x80;
        opcode_ = b & 0x0F;
        if (b & 0x70) return *used = pos, fail(kCloseProtocolError, "reserved bits set (no extension was agreed)");
        if (opcode_ > kBinary && opcode_ != kClose && opcode_ != kPing && opcode_ != kPong)
          return *used = pos, fail(kCloseProtocolError, "reserved opcode " + std::to_string(opcode_));
        if (is_control(opcode_) && !fin_) return *used = pos, fail(kCloseProtocolError, "fragmented control frame");
        if (opcode_ == kContinuation && !in_message_)
          return *used = pos, fail(kCloseProtocolError, "continuation frame outside a fragmented message");
        if ((opcode_ == kText || opcode_ == kBinary) && in_message_)
          return *used = pos, fail(kCloseProtocolError, "new message before the fragmented one ended");
        continue;
      }
      if (hdr_len_ == 2) {
        uint8_t b = hdr_[1];
        if (!(b & 0x80)) return *used = pos, fail(kCloseProtocolError, "unmasked client frame");
        uint8_t len7 = b & 0x7F;
        if (is_control(opcode_) && len7 > 125)
          return *used = pos, fail(kCloseProtocolError, "control frame payload longer than 125 bytes");
        hdr_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
      }
      if (hdr_len_ < hdr_need_) continue;
      Event e = header_done();
      if (e != Event::kNeedMore) return *used = pos, e;
    }
    // Payload: unmasked straight into the message (or the control frame's buffer).
    size_t take = (size_t)std::min<uint64_t>(frame_left_, n - pos);
    if (take > 0) {
      std::string& dst = is_control(opcode_) ? control_ : message_;
      size_t at = dst.size();
      dst.append(p + pos, take);
      char* d = dst.data() + at;
      for (size_t i = 0; i < take; i++) d[i] ^= mask_[(mask_pos_ + i) & 3];
      mask_pos_ = (mask_pos_ + take) & 3;
      pos += take;
      frame_left_ -= take;
      if (!is_control(opcode_) && !message_binary_ && !utf8_.feed(d, take))
        return *used = pos, fail(kCloseBadData, "text message is not valid UTF-8");
    }
    if (frame_left_ > 0) break;
    Event e = frame_done();
    if (e != Event::kNeedMore) return *used = pos, e;
  }
  *used = pos;
  return Event::kNeedMore;
}

// ---- writer --------------------------------------------------------------------------------

size_t frame_header(uint8_t out[10], Opcode op, size_t n) {
  out[0] = 0x80 | op;
  if (n < 126) {
    out[1] = (uint8_t)n;
    return 2;
  }
  if (n < 65536) {
    out[1] = 126;
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  return 10;
}

void append_frame(std::string* out, Opcode op, const void* data, size_t n) {
  uint8_t h[10];
  size_t hl = frame_header(h, op, n);
  out->append(reinterpret_cast<char*>(h), hl);
  out->append(static_cast<const char*>(data), n);
}

std::string close_payload(unsigned code, std::string_view reason) {
  std::string p;
  p.push_back((char)(code >> 8));
  p.push_back((char)code);
  if (reason.size() > 123) {
    // Cut on a character boundary so the reason stays valid UTF-8.
    size_t cut = 123;
    while (cut > 0 && ((uint8_t)reason[cut] & 0xC0) == 0x80) cut--;
    reason = reason.substr(0, cut);
  }
  p.append(reason);
  return p;
}

// ---- handshake -----------------------------------------------------------------------------

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

void sha1(const void* data, size_t n, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const auto* s = static_cast<const uint8_t*>(data);
  // The message, a 0x80 byte, zeros, and the bit length: processed in 64-byte blocks.
  uint64_t total = (n + 9 + 63) / 64 * 64;
  uint8_t block[64];
  for (uint64_t off = 0; off < total; off += 64) {
    for (int i = 0; i < 64; i++) {
      uint64_t at = off + i;
      block[i] = at < n ? s[at] : at == n ? 0x80 : 0;
    }
    if (off + 64 == total)
      for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(((uint64_t)n * 8) >> (56 - 8 * i));
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)block[4 * i] << 24 | block[4 * i + 1] << 16 | block[4 * i + 2] << 8 | block[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
      else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      else f = b ^ c ^ d, k = 0xCA62C1D6;
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

std::string accept_key(std::string_view key) {
  std::string in(key);
  in.append("258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  uint8_t d[20];
  sha1(in.data(), in.size(), d);
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (int i = 0; i < 20; i += 3) {
    uint32_t v = d[i] << 16 | (i + 1 < 20 ? d[i + 1] << 8 : 0) | (i + 2 < 20 ? d[i + 2] : 0);
    out.push_back(tbl[v >> 18 & 63]);
    out.push_back(tbl[v >> 12 & 63]);
    out.push_back(i + 1 < 20 ? tbl[v >> 6 & 63] : '=');
    out.push_back(i + 2 < 20 ? tbl[v & 63] : '=');
  }
  return out;
}

}  // namespace uwsgi::ws
