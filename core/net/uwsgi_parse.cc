// The uwsgi binary protocol (what nginx's uwsgi_pass speaks): a 4-byte header (modifier1,
// u16-LE payload size, modifier2) and a payload of u16-LE length-prefixed key/value pairs.
// The variables are already CGI-shaped, so they are used in place: no copies.
#include <climits>
#include <string>
#include <string_view>

#include "net/request_head.h"

namespace uwsgi {
namespace {

using sv = std::string_view;

inline size_t u16le(const char* p) {
  return static_cast<size_t>(static_cast<unsigned char>(p[0])) |
         (static_cast<size_t>(static_cast<unsigned char>(p[1])) << 8);
}

ParseResult fail(ParseError* err, int status, std::string msg) {
  if (err) {
    err->http_status = status;
    err->message = std::move(msg);
  }
  return ParseResult::kError;
}

}  // namespace

ParseResult parse_uwsgi_packet(const char* buf, size_t len, size_t max_packet, RequestHead* out,
                               ParseError* err) {
  if (len < 4) {
    if (len >= max_packet) return fail(err, 431, "uwsgi packet larger than the buffer");
    return ParseResult::kIncomplete;
  }
  const size_t size = u16le(buf + 1);
  const size_t total = 4 + size;
  if (total > max_packet)
    return fail(err, 431, "uwsgi packet of " + std::to_string(total) + " bytes exceeds " +
                              std::to_string(max_packet));
  if (len < total) return ParseResult::kIncomplete;

  out->clear();
  out->modifier1 = static_cast<uint8_t>(buf[0]);
  out->modifier2 = static_cast<uint8_t>(buf[3]);
  out->head_len = total;
  out->keep_alive = false;  // the protocol has no keep-alive: one request per connection
  out->vars.reserve(32);

  const char* p = buf + 4;
  const char* end = buf + total;
  sv content_length;
  bool have_cl = false;
  while (p < end) {
    if (end - p < 2) return fail(err, 400, "uwsgi packet: truncated key length");
    size_t klen = u16le(p);
    p += 2;
    if (klen == 0) return fail(err, 400, "uwsgi packet: empty key");
    if (static_cast<size_t>(end - p) < klen) return fail(err, 400, "uwsgi packet: key overruns packet");
    sv key(p, klen);
    p += klen;
    if (end - p < 2) return fail(err, 400, "uwsgi packet: truncated value length");
    size_t vlen = u16le(p);
    p += 2;
    if (static_cast<size_t>(end - p) < vlen) return fail(err, 400, "uwsgi packet: value overruns packet");
    sv val(p, vlen);
    p += vlen;
    if (key == "CONTENT_LENGTH") {
      have_cl = true;
      content_length = val;
    } else if (key == "SERVER_PROTOCOL" && val == "HTTP/1.0") {
      out->http_minor = 0;
    }
    out->vars.emplace_back(key, val);
  }

  // nginx forwards Content-Type/-Length as HTTP_* too, equal to CONTENT_*; PEP 3333 says they must
  // not be present, so those copies go. A different value came from another header (say
  // "Content_Length", which the HTTP parser maps to the same name): it stays, as --http-socket
  // shows it, so the --http router and a direct socket give the app the same environ.
  std::erase_if(out->vars, [&](const std::pair<sv, sv>& kv) {
    sv cgi;
    if (kv.first == "HTTP_CONTENT_TYPE") cgi = "CONTENT_TYPE";
    else if (kv.first == "HTTP_CONTENT_LENGTH") cgi = "CONTENT_LENGTH";
    else return false;
    for (auto& other : out->vars)
      if (other.first == cgi) return other.second == kv.second;
    return false;
  });

  // nginx sends CONTENT_LENGTH "" when the request has no body.
  if (have_cl && !content_length.empty()) {
    unsigned long long v = 0;
    for (char ch : content_length) {
      if (ch < '0' || ch > '9') return fail(err, 400, "invalid CONTENT_LENGTH");
      if (v > (static_cast<unsigned long long>(LLONG_MAX) - (ch - '0')) / 10)
        return fail(err, 400, "CONTENT_LENGTH too large");
      v = v * 10 + (ch - '0');
    }
    out->content_length = static_cast<long long>(v);
  }
  return ParseResult::kComplete;
}

}  // namespace uwsgi
