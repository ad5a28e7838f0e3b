// Incremental decoder for "Transfer-Encoding: chunked" request bodies (RFC 7230 4.1).
// A byte-level state machine so input may be split anywhere; data runs are copied in bulk.
#include <cstring>
#include <string>

#include "net/request_head.h"

namespace uwsgi {
namespace {

enum State : int {
  kSize = 0,      // hex digits of the chunk size
  kSizeWs,        // optional whitespace after the size (before ';' or CR)
  kExt,           // chunk extension: skipped up to CR
  kSizeLf,        // LF ending the size line
  kData,          // chunk data
  kDataCr,        // CR after chunk data
  kDataLf,        // LF after chunk data
  kTrailerStart,  // start of a trailer line, or of the final empty line
  kTrailer,       // inside a trailer field line: skipped up to CR
  kTrailerLf,     // LF ending a trailer line
  kFinalLf,       // LF of the final empty line
  kEnd,
};

// Extensions and trailers carry nothing we use; cap them so a client cannot stream them forever.
constexpr size_t kMaxMeta = 16 * 1024;

int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

}  // namespace

ChunkedDecoder::ChunkedDecoder() = default;
ChunkedDecoder::~ChunkedDecoder() = default;

void ChunkedDecoder::reset() {
  state_ = kSize;
  remaining_ = 0;
  size_digits_ = 0;
  meta_bytes_ = 0;
  done_ = failed_ = false;
  error_.clear();
}

bool ChunkedDecoder::fail(const char* why) {
  failed_ = true;
  error_ = why;
  return false;
}

size_t ChunkedDecoder::feed(const char* in, size_t len, std::string* out) {
  if (done_ || failed_) return 0;
  size_t i = 0;
  while (i < len) {
    if (state_ == kData) {
      size_t n = len - i;
      if (n > remaining_) n = static_cast<size_t>(remaining_);
      out->append(in + i, n);
      i += n;
      remaining_ -= n;
      if (remaining_ == 0) state_ = kDataCr;
      continue;
    }
    const char ch = in[i];
    switch (state_) {
      case kSize: {
        int h = hexval(ch);
        if (h >= 0) {
          if (remaining_ > (~0ULL >> 4)) return fail("chunk size overflows"), i;
          remaining_ = (remaining_ << 4) | static_cast<unsigned>(h);
          size_digits_++;
          break;
        }
        if (size_digits_ == 0) return fail("chunk size expected"), i;
        if (ch == '\r') state_ = kSizeLf;
        else if (ch == ';') state_ = kExt;
        else if (ch == ' ' || ch == '\t') state_ = kSizeWs;
        else return fail("invalid character in chunk size"), i;
        break;
      }
      case kSizeWs:
        if (ch == '\r') state_ = kSizeLf;
        else if (ch == ';') state_ = kExt;
        else if (ch != ' ' && ch != '\t') return fail("invalid character after chunk size"), i;
        break;
      case kExt:
        if (ch == '\r') {
          state_ = kSizeLf;
        } else {
          if (ch == '\n' || ch == '\0') return fail("invalid character in chunk extension"), i;
          if (++meta_bytes_ > kMaxMeta) return fail("chunk extensions too long"), i;
        }
        break;
      case kSizeLf:
        if (ch != '\n') return fail("expected LF after chunk size"), i;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? kTrailerStart : kData;
        break;
      case kDataCr:
        if (ch != '\r') return fail("expected CRLF after chunk data"), i;
        state_ = kDataLf;
        break;
      case kDataLf:
        if (ch != '\n') return fail("expected CRLF after chunk data"), i;
        state_ = kSize;
        break;
      case kTrailerStart:
        if (ch == '\r') {
          state_ = kFinalLf;
        } else {
          if (ch == '\n' || ch == '\0') return fail("invalid character in trailer"), i;
          if (++meta_bytes_ > kMaxMeta) return fail("trailers too long"), i;
          state_ = kTrailer;
        }
        break;
      case kTrailer:
        if (ch == '\r') {
          state_ = kTrailerLf;
        } else {
          if (ch == '\n' || ch == '\0') return fail("invalid character in trailer"), i;
          if (++meta_bytes_ > kMaxMeta) return fail("trailers too long"), i;
        }
        break;
      case kTrailerLf:
        if (ch != '\n') return fail("expected LF after trailer"), i;
        state_ = kTrailerStart;
        break;
      case kFinalLf:
        if (ch != '\n') return fail("expected LF ending the chunked body"), i;
        state_ = kEnd;
        done_ = true;
        return i + 1;  // bytes after the body belong to the next request
      default:
        return fail("decoder in invalid state"), i;
    }
    i++;
  }
  return i;
}

}  // namespace uwsgi
