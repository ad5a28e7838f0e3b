#include "static/static_response.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "log/log.h"

namespace uwsgi {

static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string http_date(time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool parse_http_date(std::string_view s, time_t* out) {
  // IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"); the obsolete forms are not sent by any
  // client of the last twenty years, and an unreadable date only costs a 200 instead of a 304.
  char day[4], mon[4];
  int d, y, h, mi, sec;
  std::string v(s.substr(0, 64));
  if (sscanf(v.c_str(), "%3s, %d %3s %d %d:%d:%d GMT", day, &d, mon, &y, &h, &mi, &sec) != 7) return false;
  struct tm tm {};
  tm.tm_mon = -1;
  for (int i = 0; i < 12; i++)
    if (strcmp(mon, kMonths[i]) == 0) tm.tm_mon = i;
  if (tm.tm_mon < 0 || d < 1 || d > 31 || y < 1970 || h > 23 || mi > 59 || sec > 60) return false;
  tm.tm_mday = d;
  tm.tm_year = y - 1900;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  *out = timegm(&tm);
  return true;
}

static bool read_number(std::string_view& s, long long* out) {
  size_t i = 0;
  long long v = 0;
  while (i < s.size() && isdigit((unsigned char)s[i])) {
    if (v > (1LL << 53)) return false;
    v = v * 10 + (s[i] - '0');
    i++;
  }
  if (i == 0) return false;
  s.remove_prefix(i);
  *out = v;
  return true;
}

RangeResult parse_byte_range(std::string_view v, long long size, long long* first, long long* last) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.size() < 6 || strncasecmp(v.data(), "bytes=", 6) != 0) return RangeResult::kWhole;
  v.remove_prefix(6);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.find(',') != std::string_view::npos) return RangeResult::kWhole;  // multipart: send it all
  long long a = -1, b = -1;
  if (!v.empty() && v.front() == '-') {  // the last N bytes
    v.remove_prefix(1);
    if (!read_number(v, &b) || !v.empty()) return RangeResult::kWhole;
    if (b == 0 || size == 0) return RangeResult::kUnsatisfiable;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return RangeResult::kPartial;
  }
  if (!read_number(v, &a) || v.empty() || v.front() != '-') return RangeResult::kWhole;
  v.remove_prefix(1);
  if (!v.empty() && (!read_number(v, &b) || !v.empty())) return RangeResult::kWhole;
  if (b >= 0 && b < a) return RangeResult::kWhole;  // invalid: ignored (RFC 9110 14.2)
  if (a >= size) return RangeResult::kUnsatisfiable;
  *first = a;
  *last = (b < 0 || b >= size) ? size - 1 : b;
  return RangeResult::kPartial;
}

bool accepts_gzip(std::string_view ae) {
  while (!ae.empty()) {
    size_t comma = ae.find(',');
    std::string_view item = ae.substr(0, comma);
    ae = comma == std::string_view::npos ? std::string_view() : ae.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    size_t semi = item.find(';');
    std::string_view coding = item.substr(0, semi);
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
    if (coding.size() != 4 || strncasecmp(coding.data(), "gzip", 4) != 0) continue;
    if (semi == std::string_view::npos) return true;
    std::string_view params = item.substr(semi + 1);
    size_t q = params.find("q=");
    if (q == std::string_view::npos) return true;
    std::string_view qv = params.substr(q + 2);
    // q=0, q=0.0, q=0.000: refused; anything else accepts.
    bool zero = !qv.empty() && qv[0] == '0';
    for (size_t i = 1; zero && i < qv.size() && qv[i] != ' '; i++)
      if (qv[i] != '.' && qv[i] != '0') zero = false;
    return !zero;
  }
  return false;
}

namespace {

std::string mime_type(const StaticConfig& c, const std::string& path) {
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string ext = path.substr(dot + 1);
  for (auto& ch : ext) ch = (char)tolower((unsigned char)ch);
  auto it = c.mime.find(ext);
  return it == c.mime.end() ? std::string() : it->second;
}

bool gzip_eligible(const StaticConfig& c, const std::string& real) {
  if (c.gzip_all) return true;
  for (auto& re : c.gzip_re)
    if (re->match(real)) return true;
  for (auto& d : c.gzip_dirs)
    if (real.compare(0, d.size(), d) == 0) return true;
  for (auto& e : c.gzip_ext)
    if (real.size() >= e.size() && real.compare(real.size() - e.size(), e.size(), e) == 0) return true;
  return false;
}

// Seconds from now the first matching --static-expires* rule gives (false: none matches).
bool expiry(const StaticConfig& c, Request& req, const std::string& real, const std::string& type,
            const struct stat& st, time_t now, time_t* at) {
  for (auto& e : c.expires) {
    bool hit = false;
    switch (e.kind) {
      case StaticExpires::kType: hit = e.type == type; break;
      case StaticExpires::kFilename: hit = e.re->match(real); break;
      case StaticExpires::kUri: hit = e.re->match(req.find_var("REQUEST_URI")); break;
      case StaticExpires::kPathInfo: hit = e.re->match(req.find_var("PATH_INFO")); break;
    }
    if (hit) {
      *at = (e.from_mtime ? st.st_mtime : now) + (time_t)e.seconds;
      return true;
    }
  }
  return false;
}

// If-None-Match: "*" or a list holding our tag (weak comparison, as RFC 9110 13.1.2 asks).
bool etag_matches(std::string_view inm, const std::string& etag) {
  while (!inm.empty()) {
    size_t comma = inm.find(',');
    std::string_view t = inm.substr(0, comma);
    inm = comma == std::string_view::npos ? std::string_view() : inm.substr(comma + 1);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.size() > 2 && t.substr(0, 2) == "W/") t.remove_prefix(2);
    if (t == "*" || t == etag) return true;
  }
  return false;
}

}  // namespace

StaticResult send_static_file(Request& req, const StaticConfig& c, const std::string& real, const std::string& root,
                              const struct stat& file_st) {
  std::string type = mime_type(c, real);
  std::string path = real;
  struct stat st = file_st;
  bool gzip = false, vary = false;
  if (gzip_eligible(c, real)) {
    std::string gz = real + ".gz";
    char buf[PATH_MAX];
    struct stat gst;
    // The sibling is held to the same root as the file (a symlinked FILE.gz must not lead out).
    if (realpath(gz.c_str(), buf) && stat(buf, &gst) == 0 && S_ISREG(gst.st_mode)) {
      std::string greal = buf;
      if (static_path_allowed(c, greal, root)) {
        vary = true;
        if (accepts_gzip(req.find_var("HTTP_ACCEPT_ENCODING"))) {
          gzip = true;
          path = greal;
          st = gst;
        }
      }
    }
  }
  int fd = -1;
  if (c.mode == FileServeMode::kSendfile) {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
      int e = errno;
      if (fd >= 0) close(fd);
      log_line("static: cannot open %s: %s", path.c_str(), strerror(e));
      req.managed_response();  // --error-page-403 replaces the body
      if (req.start_response("403 Forbidden", {{"Content-Type", "text/plain"}, {"Content-Length", "10"}}))
        req.write("Forbidden\n", 10);
      return StaticResult::kRefused;
    }
  }
  char etag_buf[64];
  snprintf(etag_buf, sizeof etag_buf, "\"%llx-%llx%s\"", (unsigned long long)st.st_mtime, (unsigned long long)st.st_size,
           gzip ? "-gz" : "");
  std::string etag = etag_buf;
  std::string last_modified = http_date(st.st_mtime);
  time_t now = time(nullptr);

  HeaderList h;
  h.reserve(10);
  if (!type.empty()) h.emplace_back("Content-Type", type);
  if (gzip) h.emplace_back("Content-Encoding", "gzip");
  if (vary) h.emplace_back("Vary", "Accept-Encoding");
  time_t expires_at;
  if (expiry(c, req, real, type, st, now, &expires_at)) {
    h.emplace_back("Expires", http_date(expires_at));
    h.emplace_back("Cache-Control", "max-age=" + std::to_string(expires_at > now ? (long long)(expires_at - now) : 0));
  }
  h.emplace_back("Last-Modified", last_modified);
  h.emplace_back("ETag", etag);

  auto done = [&](StaticResult r) {
    if (fd >= 0) close(fd);
    return r;
  };
  // Conditionals (RFC 9110 13.2.2): If-None-Match, when sent, decides alone.
  std::string_view inm = req.find_var("HTTP_IF_NONE_MATCH");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = etag_matches(inm, etag);
  } else {
    time_t ims;
    std::string_view v = req.find_var("HTTP_IF_MODIFIED_SINCE");
    if (!v.empty() && parse_http_date(v, &ims) && st.st_mtime <= ims) not_modified = true;
  }
  if (not_modified) {
    req.start_response("304 Not Modified", h);
    return done(StaticResult::kServed);
  }

  if (c.mode != FileServeMode::kSendfile) {
    // A proxy in front sends the body: it gets the path in the header it knows.
    h.emplace_back(c.mode == FileServeMode::kXSendfile ? "X-Sendfile" : "X-Accel-Redirect", path);
    h.emplace_back("Content-Length", "0");
    req.start_response("200 OK", h);
    return done(StaticResult::kServed);
  }

  long long size = st.st_size, first = 0, last = size - 1;
  const char* status = "200 OK";
  if (c.honour_range) {
    h.emplace_back("Accept-Ranges", "bytes");
    std::string_view range = req.find_var("HTTP_RANGE");
    std::string_view if_range = req.find_var("HTTP_IF_RANGE");
    // If-Range with a tag or date that is not ours: the representation changed, send all of it.
    bool range_ok = if_range.empty() || if_range == etag || if_range == last_modified;
    if (!range.empty() && range_ok) {
      switch (parse_byte_range(range, size, &first, &last)) {
        case RangeResult::kWhole:
          first = 0;
          last = size - 1;
          break;
        case RangeResult::kPartial:
          status = "206 Partial Content";
          h.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
                                              std::to_string(size));
          break;
        case RangeResult::kUnsatisfiable: {
          h.emplace_back("Content-Range", "bytes */" + std::to_string(size));
          h.emplace_back("Content-Length", "0");
          req.start_response("416 Range Not Satisfiable", h);
          return done(StaticResult::kServed);
        }
      }
    }
  }
  long long len = size == 0 ? 0 : last - first + 1;
  h.emplace_back("Content-Length", std::to_string(len));
  if (!req.start_response(status, h)) return done(StaticResult::kServed);
  if (len > 0 && req.find_var("REQUEST_METHOD") != "HEAD") req.sendfile(fd, (off_t)first, (size_t)len);
  return done(StaticResult::kServed);
}

}  // namespace uwsgi
