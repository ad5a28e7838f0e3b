// Incremental decoder for "Transfer-Encoding: chunked" request bodies (RFC 9112 7.1).
// A byte-level state machine so input may be split anywhere; data runs are copied in bulk.
#include <cstring>
#include <string>

#include "net/request_head.h"

namespace uwsgi {
namespace {

enum State : int {
  kSize = 0,      // hex digits of the chunk size
  kSizeWs,        // BWS after the size: only a ';' may follow it
  kExtPreName,    // after ';': BWS, then an extension name
  kExtName,       // extension name (token)
  kExtPostName,   // BWS after a name: '=' or ';' must follow
  kExtPreValue,   // after '=': BWS, then a token or quoted-string value
  kExtToken,      // token value
  kExtQuoted,     // inside a quoted-string value
  kExtQuotedEsc,  // after a backslash in a quoted-string
  kExtPostValue,  // right after a value: ';', CR, or BWS before a ';'
  kExtPostValueWs,  // BWS after a value: only a ';' may follow it
  kSizeLf,        // LF ending the size line
  kData,          // chunk data
  kDataCr,        // CR after chunk data
  kDataLf,        // LF after chunk data
  kTrailerStart,  // start of a trailer field line, or of the final empty line
  kTrailerName,   // trailer field name, up to ':'
  kTrailerValue,  // trailer field value, up to CR
  kTrailerLf,     // LF ending a trailer line
  kFinalLf,       // LF of the final empty line
  kEnd,
};

// Extensions and trailers carry nothing we use; cap them so a client cannot stream them forever.
constexpr size_t kMaxMeta = 16 * 1024;

// RFC 9110 5.6.2 tchar.
bool is_tchar(char ch) {
  if ((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')) return true;
  return ch != 0 && std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
}

bool is_ws(char ch) { return ch == ' ' || ch == '\t'; }

// qdtext and quoted-pair's second byte (RFC 9110 5.6.4), and field-value bytes (5.5): no CTL
// but HTAB, no DEL.
bool is_text(char ch) {
  unsigned char c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// One byte of a chunk extension (states kExtPreName..kExtPostValueWs): moves *state on.
// False: malformed.
bool ext_byte(int* state, char ch) {
  int& state_ = *state;
  switch (state_) {
    case kExtPreName:
      if (is_ws(ch)) return true;
      if (!is_tchar(ch)) return false;
      state_ = kExtName;
      return true;
    case kExtName:
      if (is_tchar(ch)) return true;
      if (ch == '=') state_ = kExtPreValue;
      else if (ch == ';') state_ = kExtPreName;
      else if (ch == '\r') state_ = kSizeLf;
      else if (is_ws(ch)) state_ = kExtPostName;
      else return false;
      return true;
    case kExtPostName:
      if (ch == '=') state_ = kExtPreValue;
      else if (ch == ';') state_ = kExtPreName;
      else if (!is_ws(ch)) return false;
      return true;
    case kExtPreValue:
      if (is_ws(ch)) return true;
      if (ch == '"') state_ = kExtQuoted;
      else if (is_tchar(ch)) state_ = kExtToken;
      else return false;
      return true;
    case kExtToken:
      if (is_tchar(ch)) return true;
      state_ = kExtPostValue;
      return ext_byte(state, ch);
    case kExtQuoted:  // an unbalanced quote ends here: CR is not text
      if (ch == '"') state_ = kExtPostValue;
      else if (ch == '\\') state_ = kExtQuotedEsc;
      else if (!is_text(ch)) return false;
      return true;
    case kExtQuotedEsc:
      if (!is_text(ch)) return false;
      state_ = kExtQuoted;
      return true;
    case kExtPostValue:
      if (ch == ';') state_ = kExtPreName;
      else if (ch == '\r') state_ = kSizeLf;
      else if (is_ws(ch)) state_ = kExtPostValueWs;
      else return false;
      return true;
    case kExtPostValueWs:
      if (ch == ';') state_ = kExtPreName;
      else if (!is_ws(ch)) return false;
      return true;
    default:
      return false;
  }
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
      // chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS
      // value ] ) (RFC 9112 7.1.1). Whitespace is only allowed where a ';' or '=' follows it:
      // "0 \r\n" and "2;\r\n" are errors, as is any CR without its LF.
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
        else if (ch == ';') state_ = kExtPreName;
        else if (is_ws(ch)) state_ = kSizeWs;
        else return fail("invalid character in chunk size"), i;
        break;
      }
      case kSizeWs:
        if (ch == ';') state_ = kExtPreName;
        else if (!is_ws(ch)) return fail("invalid character after chunk size"), i;
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
      // trailer-section = *( field-line CRLF ): each line is name ":" value, so a line that is
      // a request line, a fold or junk is an error rather than skipped.
      case kTrailerStart:
        if (ch == '\r') {
          state_ = kFinalLf;
          break;
        }
        if (++meta_bytes_ > kMaxMeta) return fail("trailers too long"), i;
        if (!is_tchar(ch)) return fail("malformed trailer field line"), i;
        state_ = kTrailerName;
        break;
      case kTrailerName:
        if (++meta_bytes_ > kMaxMeta) return fail("trailers too long"), i;
        if (ch == ':') state_ = kTrailerValue;
        else if (!is_tchar(ch)) return fail("malformed trailer field line"), i;
        break;
      case kTrailerValue:
        if (ch == '\r') {
          state_ = kTrailerLf;
          break;
        }
        if (++meta_bytes_ > kMaxMeta) return fail("trailers too long"), i;
        if (!is_text(ch)) return fail("invalid character in trailer"), i;
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
        if (state_ >= kExtPreName && state_ <= kExtPostValueWs) {
          if (++meta_bytes_ > kMaxMeta) return fail("chunk extensions too long"), i;
          if (!ext_byte(&state_, ch)) return fail("malformed chunk extension"), i;
          break;
        }
        return fail("decoder in invalid state"), i;
    }
    i++;
  }
  return i;
}

}  // namespace uwsgi
