// HTTP/1.x request head -> CGI/WSGI variables.
//
// The request line and field lines are split and checked here, line by line, against RFC 9112's
// grammar (any token method; single SP separators; CRLF or bare LF line ends; no CTL, so no bare
// CR, anywhere in the head). Each call re-reads the buffer from its start: heads are small, and
// a line that is already wrong fails at once instead of after the blank line. Then come the
// framing policy (Content-Length / Transfer-Encoding), the CGI variable set and the limits.
// Debian's http_parser is used only to split an absolute-form target (http_parser_parse_url).
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

// RFC 9110 5.6.2 tchar; kNameMap is non-zero exactly for them.
bool is_tchar(char ch) { return kNameMap.map[static_cast<unsigned char>(ch)] != 0; }

// field-vchar, SP, HTAB and obs-text (RFC 9110 5.5): every byte but the CTLs and DEL. CR, LF,
// NUL and form feed inside a value are errors, never separators.
bool is_field_byte(char ch) {
  unsigned char c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// Request-target bytes: VCHAR and obs-text (no SP, no CTL).
bool is_target_byte(char ch) {
  unsigned char c = static_cast<unsigned char>(ch);
  return c > 0x20 && c != 0x7f;
}

// One line of the head: [begin, end) without its terminator; next is the byte after its LF.
// A line ends in CRLF or a bare LF (RFC 9112 2.2 lets a recipient accept LF alone). A CR
// anywhere else stays inside the line, where every byte check refuses it: no byte after a CR
// is ever skipped, so no two parsers can frame a bare CR differently.
struct Line {
  size_t begin, end, next;
};

bool next_line(const char* buf, size_t pos, size_t limit, Line* l) {
  if (pos >= limit) return false;
  const char* nl = static_cast<const char*>(std::memchr(buf + pos, '\n', limit - pos));
  if (!nl) return false;
  size_t e = static_cast<size_t>(nl - buf);
  l->begin = pos;
  l->next = e + 1;
  l->end = (e > pos && buf[e - 1] == '\r') ? e - 1 : e;
  return true;
}

// Connection options (RFC 9110 7.6.1): a comma-separated token list.
void connection_options(sv value, bool* close, bool* keep_alive) {
  while (true) {
    size_t comma = value.find(',');
    sv opt = trim(value.substr(0, comma));
    if (ieq(opt, "close")) *close = true;
    else if (ieq(opt, "keep-alive")) *keep_alive = true;
    if (comma == sv::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

ParseResult parse_http_head(const char* buf, size_t len, size_t max_head, const ConnInfo& conn,
                            RequestHead* out, ParseError* err) {
  const size_t limit = len < max_head ? len : max_head;
  auto incomplete = [&]() {
    if (len >= max_head) return fail(err, 431, "request head larger than " + std::to_string(max_head) + " bytes");
    return ParseResult::kIncomplete;
  };

  // Empty lines before the request line are allowed (RFC 9112 2.2) and belong to this head.
  size_t pos = 0;
  Line line;
  for (;;) {
    if (!next_line(buf, pos, limit, &line)) {
      // Fail fast on bytes that cannot begin a request (TLS hello, binary junk) instead of
      // waiting for a terminator that may never come. A CR last in the buffer may be a CRLF's.
      for (size_t i = pos; i < limit && buf[i] != ' '; i++)
        if (!is_tchar(buf[i]) && !(buf[i] == '\r' && i + 1 == limit))
          return fail(err, 400, "malformed request line");
      return incomplete();
    }
    if (line.begin != line.end) break;
    pos = line.next;
  }

  // ---- request line (RFC 9112 3): method SP request-target SP HTTP-version ----
  const sv request_line(buf + line.begin, line.end - line.begin);
  const size_t sp1 = request_line.find(' ');
  const sv method = request_line.substr(0, sp1);
  for (char ch : method)
    if (!is_tchar(ch)) return fail(err, 400, "malformed request line");
  if (sp1 == sv::npos) return fail(err, 400, "malformed request line");
  const sv after_method = request_line.substr(sp1 + 1);
  const size_t sp2 = after_method.find(' ');
  const sv target = after_method.substr(0, sp2);
  if (target.empty()) return fail(err, 400, "missing request target");
  for (char ch : target)
    if (!is_target_byte(ch)) return fail(err, 400, "invalid character in request target");
  // HTTP/0.9 ("GET /x" and no version) is answered at once rather than waited on as a head.
  if (sp2 == sv::npos) return fail(err, 400, "request line without an HTTP version (HTTP/0.9 is not supported)");
  const sv version = after_method.substr(sp2 + 1);
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(version[5]) || version[6] != '.' ||
      !digit(version[7]))
    return fail(err, 400, "malformed HTTP version");
  if (version[5] != '1') return fail(err, 505, "HTTP version not supported");
  if (method == "CONNECT") return fail(err, 501, "CONNECT not supported");

  // ---- header field lines (RFC 9112 5): name ":" OWS value OWS ----
  out->clear();
  // Reused per thread so a request costs no allocation for the raw header list.
  thread_local std::vector<RawHeader> hdrs;
  hdrs.clear();
  size_t head_end = 0;
  bool conn_close = false, conn_keep_alive = false;
  for (pos = line.next;; pos = line.next) {
    if (!next_line(buf, pos, limit, &line)) return incomplete();
    if (line.begin == line.end) {
      head_end = line.next;
      break;
    }
    const sv l(buf + line.begin, line.end - line.begin);
    // RFC 9112 5.2 lets a server reject obs-fold; joining it would need a copy for a dead feature.
    if (l.front() == ' ' || l.front() == '\t') return fail(err, 400, "obsolete header line folding");
    const size_t colon = l.find(':');
    if (colon == sv::npos) return fail(err, 400, "header line without a colon");
    const sv name = l.substr(0, colon);
    if (name.empty()) return fail(err, 400, "empty header name");
    for (char ch : name)  // whitespace before the colon is an error too (RFC 9112 5.1)
      if (!is_tchar(ch)) return fail(err, 400, "invalid header name");
    const sv value = trim(l.substr(colon + 1));
    for (char ch : value)
      if (!is_field_byte(ch)) return fail(err, 400, "invalid character in header value");
    if (ieq(name, "connection")) connection_options(value, &conn_close, &conn_keep_alive);
    hdrs.push_back({name, value});
  }

  out->head_len = head_end;
  out->http_minor = version[7] == '0' ? 0 : 1;

  // ---- request target ----
  sv path, query, url_host;
  if (target.front() == '/') {
    size_t q = target.find_first_of("?#");
    path = target.substr(0, q);
    if (q != sv::npos && target[q] == '?') {
      query = target.substr(q + 1);
      query = query.substr(0, query.find('#'));
    }
  } else if (target == "*") {
    // asterisk-form is for a server-wide OPTIONS only (RFC 9112 3.2.4): with a method of RFC
    // 9110 it is malformed; an extension method may define it (SSDP's M-SEARCH *), which this
    // server does not implement.
    if (method != "OPTIONS") {
      for (sv m : {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PATCH"})
        if (method == m) return fail(err, 400, "asterisk-form target with a method other than OPTIONS");
      return fail(err, 501, "asterisk-form target with an extension method");
    }
    path = target;
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
        // RFC 9112 3.2.2: with an absolute-form target the target's authority is the host;
        // the Host field is ignored, so the app sees one host, not two.
        if (!url_host.empty()) h.value = url_host;
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
    // Digits only (a list such as "5, 5" is refused), and it must fit a long long.
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

  out->keep_alive = !conn_close && (out->http_minor == 1 || conn_keep_alive);

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
  vars.emplace_back("REQUEST_METHOD", method);
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
