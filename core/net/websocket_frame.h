// RFC 6455 framing, with no I/O: a parser that takes a client's bytes in any pieces and yields
// whole messages (fragments reassembled) and control frames, and a writer for server frames.
//
// The parser enforces the protocol rules a server must (each violation names its close code):
// client frames masked, RSV bits zero, known opcodes, control frames short and unfragmented,
// continuations only inside a fragmented message (1002); text and close reasons valid UTF-8
// (1007); a message no larger than the configured maximum (1009). After an error it stays failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace uwsgi::ws {

enum Opcode : uint8_t { kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA };

// Close status codes (RFC 6455 7.4.1).
enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseGoingAway = 1001,
  kCloseProtocolError = 1002,
  kCloseUnsupported = 1003,
  kCloseNoStatus = 1005,   // never sent: a close frame without a payload
  kCloseBadData = 1007,    // invalid UTF-8 in a text message or a close reason
  kClosePolicy = 1008,
  kCloseTooBig = 1009,
  kCloseInternalError = 1011,
};

// Whether a received close frame may carry this code (1004-1006 and 1015 never go on the wire).
bool close_code_valid(unsigned code);

// Incremental UTF-8 validation across a message's fragments (RFC 3629: no overlongs,
// surrogates or code points past U+10FFFF).
class Utf8Validator {
 public:
  bool feed(const char* p, size_t n);    // false at the first invalid byte (and from then on)
  bool complete() const { return need_ == 0 && ok_; }  // the input ends on a character boundary
  void reset() { need_ = 0, lo_ = 0x80, hi_ = 0xBF, ok_ = true; }

 private:
  int need_ = 0;                  // continuation bytes still expected
  uint8_t lo_ = 0x80, hi_ = 0xBF;  // allowed range of the next continuation byte
  bool ok_ = true;
};

class FrameParser {
 public:
  enum class Event { kNeedMore, kMessage, kPing, kPong, kClose, kError };

  // max_message: the largest message (sum of its fragments) in bytes; 0 = no limit.
  explicit FrameParser(size_t max_message = 0) : max_message_(max_message) {}

  // Consumes bytes of [p, p + n) up to the end of the first complete event (*used says how many);
  // kNeedMore when all were consumed with no event yet. After kMessage / kPing / kPong / kClose,
  // payload() holds its data until the next feed().
  Event feed(const char* p, size_t n, size_t* used);

  bool binary() const { return binary_; }                 // of the last kMessage
  const std::string& payload() const { return payload_; }  // message, ping/pong data, close reason
  std::string take_payload() { return std::move(payload_); }
  unsigned close_code() const { return close_code_; }     // of kClose (kCloseNoStatus if none)
  unsigned error_code() const { return error_code_; }     // of kError: the close code to send
  const std::string& error() const { return error_; }     // of kError: why, for the log
  bool in_message() const { return in_message_; }         // a fragmented message is incomplete

 private:
  Event fail(unsigned code, std::string why);
  Event header_done();
  Event frame_done();

  size_t max_message_;
  // The current frame's header, gathered byte by byte (2 to 14 bytes).
  uint8_t hdr_[14];
  size_t hdr_len_ = 0, hdr_need_ = 2;
  bool in_payload_ = false;
  bool fin_ = false;
  uint8_t opcode_ = 0;
  uint8_t mask_[4] = {0, 0, 0, 0};
  uint64_t frame_left_ = 0;  // payload bytes of this frame still to come
  size_t mask_pos_ = 0;
  // The message being reassembled, and the control frame being read (kept apart: a control
  // frame may arrive between two fragments).
  std::string message_, control_;
  bool in_message_ = false, message_binary_ = false;
  Utf8Validator utf8_;
  // What the last event returned.
  std::string payload_;
  bool binary_ = false;
  unsigned close_code_ = 0;
  unsigned error_code_ = 0;
  std::string error_;
  bool failed_ = false;
};

// Appends one unmasked (server) frame with FIN set: header then payload.
void append_frame(std::string* out, Opcode op, const void* data, size_t n);
// Only the header of such a frame (the payload is written from the caller's buffer); returns its size.
size_t frame_header(uint8_t out[10], Opcode op, size_t n);
// A close frame's payload: the code (big-endian) and a reason (cut to fit 125 bytes).
std::string close_payload(unsigned code, std::string_view reason);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string accept_key(std::string_view key);
// SHA-1 (FIPS 180-4) of data: 20 bytes; only for the handshake above.
void sha1(const void* data, size_t n, uint8_t out[20]);

}  // namespace uwsgi::ws
