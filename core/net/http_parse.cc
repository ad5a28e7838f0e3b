// HTTP/1.x request head -> CGI/WSGI variables.
//
// Debian's http_parser (2.9) validates the request line and header syntax; this file adds what it
// leaves to us: framing policy (Content-Length / Transfer-Encoding), the CGI variable set, and the
// limits. The parser is only run once the buffer holds a whole head, so every request costs one
// pass of http_parser plus one pass over the headers, and callbacks always see contiguous data.
#include <http_parser.h>

#include <climits>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "net/request_head.h"

namespace uwsgi {
namespace {

using sv = std::string_view;

struct RawHeader {
  sv name, value;
};

struct Ctx {
  std::vector<RawHeader>* hdrs;
  sv url;
  bool last_was_value = false;
  bool folded = false;  // obsolete line folding seen (rejected)
  bool done = false;    // on_headers_complete reached
};

int on_url(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<Ctx*>(p->data);
  // One execute() call over a whole head delivers the URL in one piece; join defensively.
  if (!c->url.empty() && c->url.data() + c->url.size() == at)
    c->url = sv(c->url.data(), c->url.size() + n);
  else
    c->url = sv(at, n);
  return 0;
}

int on_header_field(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<Ctx*>(p->data);
  auto& h = *c->hdrs;
  if (!c->last_was_value && !h.empty() && h.back().name.data() + h.back().name.size() == at)
    h.back().name = sv(h.back().name.data(), h.back().name.size() + n);
  else
    h.push_back({sv(at, n), sv()});
  c->last_was_value = false;
  return 0;
}

int on_header_value(http_parser* p, const char* at, size_t n) {
  auto* c = static_cast<Ctx*>(p->data);
  auto& h = *c->hdrs;
  if (h.empty()) return 1;
  RawHeader& last = h.back();
  if (c->last_was_value) {
    if (last.value.data() + last.value.size() == at) {
      last.value = sv(last.value.data(), last.value.size() + n);
    } else {
      // A second, non-contiguous piece of the same value: an obs-fold continuation line.
      // RFC 7230 3.2.4 lets a server reject it; joining it would need a copy for a dead feature.
      c->folded = true;
      return 1;
    }
  } else {
    last.value = sv(at, n);
  }
  c->last_was_value = true;
  return 0;
}

int on_headers_complete(http_parser* p) {
  auto* c = static_cast<Ctx*>(p->data);
  c->done = true;
  // Stop right here: the body (if any) is not ours, and http_parser's later checks are redone
  // below with our own status codes.
  http_parser_pause(p, 1);
  return 0;
}

const http_parser_settings kSettings = [] {
  http_parser_settings s;
  std::memset(&s, 0, sizeof s);
  s.on_url = on_url;
  s.on_header_field = on_header_field;
  s.on_header_value = on_header_value;
  s.on_headers_complete = on_headers_complete;
  return s;
}();

// Our own max_head bounds the head; lift http_parser's compile-time 80 KiB limit once so that a
// larger configured buffer is honoured.
const bool kMaxHeaderLifted = [] {
  http_parser_set_max_header_size(0x7fffffffu);
  return true;
}();

// Header name byte -> its CGI form (uppercase, '-' -> '_'); 0 for bytes that are not an
// RFC 7230 tchar. One table lookup both validates and transforms.
struct NameMap {
  char map[256] = {};
  constexpr NameMap() {
    for (int c = '0'; c <= '9'; c++) map[c] = char(c);
    for (int c = 'A'; c <= 'Z'; c++) map[c] = char(c);
    for (int c = 'a'; c <= 'z'; c++) map[c] = char(c - 32);
    for (char c : std::string_view("!#$%&'*+.^_`|~")) map[static_cast<unsigned char>(c)] = c;
    map[static_cast<unsigned char>('-')] = '_';
  }
};
constexpr NameMap kNameMap;

char lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? char(ch + 32) : ch; }

bool ieq(sv a, sv b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// The CGI name a header maps to compares equal case-insensitively with '-' == '_'.
bool same_cgi_name(sv a, sv b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    char x = lower(a[i]), y = lower(b[i]);
    if (x == '-') x = '_';
    if (y == '-') y = '_';
    if (x != y) return false;
  }
  return true;
}

sv trim(sv s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

ParseResult fail(ParseError* err, int status, std::string msg) {
  if (err) {
    err->http_status = status;
    err->message = std::move(msg);
  }
  return ParseResult::kError;
}

// Percent-decodes a path. Returns false on a malformed escape or an encoded NUL.
bool percent_decode(sv in, std::string* out) {
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    char ch = char(hi * 16 + lo);
    if (ch == '\0') return false;
    out->push_back(ch);
    i += 2;
  }
  return true;
}

// Transfer-Encoding codings (possibly over several header lines). 0 = ok (sets *chunked),
// otherwise the HTTP status to fail with.
int check_transfer_encoding(sv value, int* chunked_seen) {
  while (true) {
    size_t comma = value.find(',');
    sv coding = trim(value.substr(0, comma));
    if (coding.empty()) {
      if (comma == sv::npos) break;
    } else if (ieq(coding, "chunked")) {
      if (++*chunked_seen > 1) return 400;  // "chunked" applied twice
    } else {
      return 501;  // gzip, deflate, ...: we only decode chunked
    }
    if (comma == sv::npos) break;
    value.remove_prefix(comma + 1);
  }
  return 0;
}

// Splits "host[:port]" / "[v6]:port". Returns false on an empty or malformed authority.
bool split_host(sv host, sv* name, sv* port) {
  *port = sv();
  if (host.empty()) return false;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == sv::npos) return false;
    *name = host.substr(0, close + 1);
    sv rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      *port = rest.substr(1);
    }
  } else {
    size_t colon = host.rfind(':');
    *name = host.substr(0, colon);
    if (colon != sv::npos) *port = host.substr(colon + 1);
  }
  for (char ch : *port)
    if (ch < '0' || ch > '9') return false;
  return !name->empty();
}

constexpr size_t kMaxMethodLen = 24;

}  // namespace

ParseResult parse_http_head(const char* buf, size_t len, size_t max_head, const ConnInfo& conn,
                            RequestHead* out, ParseError* err) {
  (void)kMaxHeaderLifted;
  const size_t limit = len < max_head ? len : max_head;

  // Empty lines before the request line are allowed (RFC 7230 3.5) and belong to this head.
  size_t start = 0;
  while (start < limit && (buf[start] == '\r' || buf[start] == '\n')) start++;

  // Fail fast on bytes that cannot begin a request (TLS hello, binary junk) instead of waiting
  // for a terminator that may never come.
  for (size_t i = start; i < limit && buf[i] != ' '; i++) {
    char ch = buf[i];
    if (i - start >= kMaxMethodLen || !((ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_'))
      return fail(err, 400, "malformed request line");
  }

  // Find the blank line ending the head: "\n\r\n" or "\n\n" (http_parser accepts bare LF).
  size_t head_end = 0;
  for (const char* p = buf + start; p < buf + limit;) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', buf + limit - p));
    if (!nl) break;
    size_t i = nl - buf;
    if (i + 1 < limit && buf[i + 1] == '\n') {
      head_end = i + 2;
      break;
    }
    if (i + 2 < limit && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
      head_end = i + 3;
      break;
    }
    p = nl + 1;
  }
  if (head_end == 0) {
    if (len >= max_head) return fail(err, 431, "request head larger than " + std::to_string(max_head) + " bytes");
    return ParseResult::kIncomplete;
  }

  // Reused per thread so a request costs no allocation for the raw header list.
  out->clear();
  thread_local std::vector<RawHeader> hdrs;
  hdrs.clear();
  Ctx ctx;
  ctx.hdrs = &hdrs;
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  parser.data = &ctx;
  size_t used = http_parser_execute(&parser, &kSettings, buf, head_end);
  (void)used;

  if (!ctx.done) {
    if (ctx.folded) return fail(err, 400, "obsolete header line folding");
    auto e = HTTP_PARSER_ERRNO(&parser);
    switch (e) {
      case HPE_OK:
        return fail(err, 400, "malformed request head");
      case HPE_HEADER_OVERFLOW:
        return fail(err, 431, "request head too large");
      case HPE_INVALID_TRANSFER_ENCODING:
        return fail(err, 501, "unsupported Transfer-Encoding");
      case HPE_UNEXPECTED_CONTENT_LENGTH:
        return fail(err, 400, "duplicate Content-Length, or Content-Length with Transfer-Encoding");
      default:
        return fail(err, 400, std::string("bad request: ") + http_errno_description(e));
    }
  }

  // Debian builds http_parser non-strict, which lets "HTTX/1.1" through: check the literal.
  if (ctx.url.empty()) return fail(err, 400, "missing request target");
  {
    const char* v = ctx.url.data() + ctx.url.size();
    const char* end = buf + head_end;
    while (v < end && *v == ' ') v++;
    if (end - v < 5 || std::memcmp(v, "HTTP/", 5) != 0)
      return fail(err, parser.http_major == 0 ? 505 : 400, "malformed HTTP version");
  }
  if (parser.http_major != 1) return fail(err, 505, "HTTP version not supported");
  if (parser.method == HTTP_CONNECT) return fail(err, 501, "CONNECT not supported");

  out->head_len = head_end;
  out->http_minor = parser.http_minor == 0 ? 0 : 1;

  // ---- request target ----
  sv target = ctx.url;
  sv path, query, url_host;
  if (!target.empty() && target.front() == '/') {
    size_t q = target.find_first_of("?#");
    path = target.substr(0, q);
    if (q != sv::npos && target[q] == '?') {
      query = target.substr(q + 1);
      query = query.substr(0, query.find('#'));
    }
  } else if (target == "*") {
    path = target;  // OPTIONS *
  } else {
    // absolute-form: "http://host[:port]/path?query"
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(target.data(), target.size(), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_HOST)))
      return fail(err, 400, "malformed request target");
    auto field = [&](int f) {
      return (u.field_set & (1 << f)) ? target.substr(u.field_data[f].off, u.field_data[f].len) : sv();
    };
    path = field(UF_PATH);
    if (path.empty()) path = "/";
    query = field(UF_QUERY);
    // RFC 7230 5.4: the target's authority wins over the Host header.
    size_t hoff = u.field_data[UF_HOST].off;
    size_t hend = (u.field_set & (1 << UF_PORT)) ? u.field_data[UF_PORT].off + u.field_data[UF_PORT].len
                                                 : hoff + u.field_data[UF_HOST].len;
    // Keep IPv6 brackets, which parse_url strips from UF_HOST.
    if (hoff > 0 && target[hoff - 1] == '[') hoff--;
    url_host = target.substr(hoff, hend - hoff);
  }

  sv path_info = path;
  if (path.find('%') != sv::npos) {
    std::string& decoded = out->arena.emplace_front();
    if (!percent_decode(path, &decoded))
      return fail(err, 400, "malformed percent-encoding in path");
    path_info = decoded;
  }

  // ---- headers: one pass for validation, framing and the arena size ----
  size_t name_bytes = 0;
  sv content_type, content_length, host;
  bool have_ct = false, have_cl = false, have_host = false;
  int chunked_seen = 0;
  bool have_te = false;
  for (auto& h : hdrs) {
    if (h.name.empty()) return fail(err, 400, "empty header name");
    h.value = trim(h.value);
    if (ieq(h.name, "content-length")) {
      if (have_cl && h.value != content_length) return fail(err, 400, "conflicting Content-Length");
      have_cl = true;
      content_length = h.value;
    } else if (ieq(h.name, "content-type")) {
      have_ct = true;  // repeated values are joined below like any other header
    } else {
      name_bytes += 5 + h.name.size();
      if (ieq(h.name, "transfer-encoding")) {
        have_te = true;
        int st = check_transfer_encoding(h.value, &chunked_seen);
        if (st == 501) return fail(err, 501, "unsupported Transfer-Encoding");
        if (st) return fail(err, st, "malformed Transfer-Encoding");
      } else if (ieq(h.name, "host")) {
        if (have_host) return fail(err, 400, "duplicate Host header");
        have_host = true;
        host = h.value;
      } else if (ieq(h.name, "expect")) {
        if (ieq(h.value, "100-continue") && out->http_minor == 1) out->expect_continue = true;
      }
    }
  }
  (void)have_ct;
  if (have_te) {
    if (chunked_seen != 1) return fail(err, 400, "malformed Transfer-Encoding");
    if (have_cl) return fail(err, 400, "Content-Length with Transfer-Encoding");
    out->chunked = true;
  }
  if (have_cl) {
    // http_parser already rejected non-digits; we still need it to fit a long long.
    if (content_length.empty()) return fail(err, 400, "empty Content-Length");
    unsigned long long v = 0;
    for (char ch : content_length) {
      if (ch < '0' || ch > '9') return fail(err, 400, "invalid Content-Length");
      if (v > (static_cast<unsigned long long>(LLONG_MAX) - (ch - '0')) / 10)
        return fail(err, 400, "Content-Length too large");
      v = v * 10 + (ch - '0');
    }
    out->content_length = static_cast<long long>(v);
  }

  out->keep_alive = out->http_minor == 1 ? !(parser.flags & F_CONNECTION_CLOSE)
                                         : (parser.flags & F_CONNECTION_KEEP_ALIVE) != 0;

  sv server_name = conn.server_addr, server_port = conn.server_port;
  sv authority = !url_host.empty() ? url_host : host;
  if (!authority.empty()) {
    sv n, p;
    if (!split_host(authority, &n, &p)) return fail(err, 400, "malformed Host");
    server_name = n;
    if (!p.empty()) server_port = p;
  }

  // ---- variables ----
  auto& vars = out->vars;
  vars.reserve(12 + hdrs.size());
  // The method token is the first word of the (validated) request line.
  sv method(buf + start, static_cast<size_t>(ctx.url.data() - (buf + start)));
  vars.emplace_back("REQUEST_METHOD", method.substr(0, method.find(' ')));
  vars.emplace_back("REQUEST_URI", target);
  vars.emplace_back("PATH_INFO", path_info);
  vars.emplace_back("QUERY_STRING", query);
  vars.emplace_back("SERVER_PROTOCOL", out->http_minor == 0 ? sv("HTTP/1.0") : sv("HTTP/1.1"));
  vars.emplace_back("SCRIPT_NAME", sv(""));
  vars.emplace_back("SERVER_NAME", server_name);
  vars.emplace_back("SERVER_PORT", server_port);
  vars.emplace_back("REMOTE_ADDR", conn.remote_addr);
  vars.emplace_back("REMOTE_PORT", conn.remote_port);
  if (have_cl) vars.emplace_back("CONTENT_LENGTH", content_length);
  const size_t first_header_var = vars.size();

  // All HTTP_* names go into one string sized up front and written through a cursor, so the views
  // taken along the way stay valid; its capacity outlives the request (no allocation per request).
  out->names.resize(name_bytes);
  char* names_w = out->names.data();
  for (const auto& h : hdrs) {
    sv name;
    if (ieq(h.name, "content-length")) {
      continue;  // emitted above, once
    } else if (ieq(h.name, "content-type")) {
      name = "CONTENT_TYPE";
    } else {
      char* w = names_w;
      std::memcpy(w, "HTTP_", 5);
      bool bad = false;  // validated here rather than in a pass of its own
      for (size_t i = 0; i < h.name.size(); i++) {
        char m = kNameMap.map[static_cast<unsigned char>(h.name[i])];
        bad |= m == 0;
        w[5 + i] = m;
      }
      if (bad) return fail(err, 400, "invalid header name");
      name = sv(w, 5 + h.name.size());
      names_w += name.size();
    }
    // Repeated header: join with ", " into the first occurrence (RFC 7230 3.2.2, PEP 3333).
    bool joined = false;
    for (size_t i = first_header_var; i < vars.size(); i++) {
      if (same_cgi_name(vars[i].first, name)) {
        std::string& j = out->arena.emplace_front();
        j.reserve(vars[i].second.size() + 2 + h.value.size());
        j.append(vars[i].second).append(", ").append(h.value);
        vars[i].second = j;
        joined = true;
        break;
      }
    }
    if (joined) {
      if (name.data() + name.size() == names_w) names_w -= name.size();  // reuse the bytes
      continue;
    }
    vars.emplace_back(name, h.value);
  }
  return ParseResult::kComplete;
}

}  // namespace uwsgi
