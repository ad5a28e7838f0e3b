// The parsed head of one request, whichever protocol it came in on, and the two parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uwsgi {

// What the connection knows that the request bytes don't say.
struct ConnInfo {
  std::string_view server_addr;  // "127.0.0.1" (listen address; empty for unix sockets)
  std::string_view server_port;  // "8080"
  std::string_view remote_addr;
  std::string_view remote_port;
};

struct RequestHead {
  // CGI/WSGI variables. Views point into the parsed buffer or into `arena`; they stay valid while
  // both are alive and the buffer bytes are not modified.
  std::vector<std::pair<std::string_view, std::string_view>> vars;
  std::string names;                     // the HTTP_* names; its capacity is reused request to request
  std::forward_list<std::string> arena;  // rare owned values; a list, so pushing never moves the others
  long long content_length = 0;   // body length when !chunked
  bool chunked = false;            // body is Transfer-Encoding: chunked (HTTP only)
  bool keep_alive = false;         // the client allows another request on this connection
  bool expect_continue = false;    // "Expect: 100-continue" was sent
  int http_minor = 1;              // 0 for HTTP/1.0
  uint8_t modifier1 = 0, modifier2 = 0;
  size_t head_len = 0;             // bytes of the buffer used by the head

  void clear() {
    vars.clear();
    names.clear();
    arena.clear();
    content_length = 0;
    chunked = keep_alive = expect_continue = false;
    http_minor = 1;
    modifier1 = modifier2 = 0;
    head_len = 0;
  }
  // Copies every view into [begin, end) (the input buffer) into the arena, so that buffer may be
  // overwritten or moved while the request is still served (a chunked body refills it).
  void detach(const char* begin, const char* end) {
    auto own = [&](std::string_view& v) {
      if (v.data() >= begin && v.data() < end) v = arena.emplace_front(v);
    };
    for (auto& kv : vars) {
      own(kv.first);
      own(kv.second);
    }
  }
  std::string_view find(std::string_view name) const {
    for (auto& kv : vars)
      if (kv.first == name) return kv.second;
    return {};
  }
};

enum class ParseResult { kComplete, kIncomplete, kError };

struct ParseError {
  int http_status = 400;  // 400, 413 (too large), 501 (unsupported transfer coding), ...
  std::string message;    // for the log line
};

// HTTP/1.x request head in buf[0..len). kIncomplete: need more bytes (and len < max_head).
// A head longer than max_head is kError with 431. Sets vars (REQUEST_METHOD, REQUEST_URI,
// PATH_INFO (percent-decoded), QUERY_STRING, SERVER_PROTOCOL, SCRIPT_NAME="", SERVER_NAME,
// SERVER_PORT, REMOTE_ADDR, REMOTE_PORT, CONTENT_TYPE, CONTENT_LENGTH, HTTP_*), lengths,
// keep-alive. Rejects negative/duplicate-conflicting Content-Length, Content-Length with chunked,
// unknown Transfer-Encoding, bad header bytes.
ParseResult parse_http_head(const char* buf, size_t len, size_t max_head, const ConnInfo& conn,
                            RequestHead* out, ParseError* err);

// uwsgi binary packet (4-byte header: modifier1, u16 LE size, modifier2; then u16-LE-prefixed
// key/value pairs). Vars point straight into buf. HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH
// duplicates of CONTENT_TYPE / CONTENT_LENGTH are dropped (PEP 3333). A packet larger than
// max_packet is kError.
ParseResult parse_uwsgi_packet(const char* buf, size_t len, size_t max_packet, RequestHead* out,
                               ParseError* err);

// Incremental decoder for a chunked request body. Feed raw wire bytes; decoded data is appended
// to *out. Returns bytes of `in` consumed; done() once the last chunk (and trailers) ended;
// failed() on malformed input (error() says why). Bytes after the end are not consumed.
class ChunkedDecoder {
 public:
  ChunkedDecoder();
  ~ChunkedDecoder();
  ChunkedDecoder(const ChunkedDecoder&) = delete;
  ChunkedDecoder& operator=(const ChunkedDecoder&) = delete;
  void reset();
  size_t feed(const char* in, size_t len, std::string* out);
  bool done() const { return done_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* why);

  int state_ = 0;                    // a State of chunked_decoder.cc
  unsigned long long remaining_ = 0; // chunk size being read, then data bytes left in the chunk
  int size_digits_ = 0;              // hex digits seen in the current size line
  size_t meta_bytes_ = 0;            // extension + trailer bytes skipped (bounded)
  bool done_ = false, failed_ = false;
  std::string error_;
};

}  // namespace uwsgi
