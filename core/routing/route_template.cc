#include "routing/route_template.h"

#include <time.h>
#include <unistd.h>

#include <cstdlib>

namespace uwsgi {

bool RouteTemplate::compile(std::string_view text, std::string* err) {
  pieces_.clear();
  text_ = std::string(text);
  constant_ = true;
  std::string lit;
  auto flush = [&] {
    if (!lit.empty()) pieces_.push_back({Kind::kLiteral, lit});
    lit.clear();
  };
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      lit += c;
      continue;
    }
    char d = text[i + 1];
    if (d >= '0' && d <= '9') {
      flush();
      pieces_.push_back({Kind::kCapture, "", d - '0'});
      constant_ = false;
      i++;
      continue;
    }
    if (d != '{') {
      lit += c;
      continue;
    }
    size_t end = text.find('}', i + 2);
    if (end == std::string_view::npos) {
      *err = "unterminated ${ in \"" + text_ + "\"";
      return false;
    }
    std::string_view name = text.substr(i + 2, end - i - 2);
    flush();
    constant_ = false;
    i = end;
    size_t br = name.find('[');
    if (br == std::string_view::npos) {
      pieces_.push_back({Kind::kVar, std::string(name)});
      continue;
    }
    if (name.back() != ']') {
      *err = "bad routing variable ${" + std::string(name) + "} (want ${kind[key]}) in \"" + text_ + "\"";
      return false;
    }
    std::string_view kind = name.substr(0, br), key = name.substr(br + 1, name.size() - br - 2);
    Piece p{Kind::kLiteral, std::string(key)};
    if (kind == "qs") p.kind = Kind::kQs;
    else if (kind == "cookie") p.kind = Kind::kCookie;
    else if (kind == "hex") p.kind = Kind::kHex;
    else if (kind == "base64") p.kind = Kind::kBase64;
    else if (kind == "time" && key == "unix") p.kind = Kind::kTimeUnix;
    else if (kind == "httptime") {
      p.kind = Kind::kHttpTime;
      p.n = atoi(p.s.c_str());
    } else if (kind == "uwsgi" && key == "pid") p.kind = Kind::kPid;
    else if (kind == "uwsgi" && key == "wid") p.kind = Kind::kWid;
    else if (kind == "uwsgi" && key == "status") p.kind = Kind::kStatus;
    else {
      *err = "unknown routing variable ${" + std::string(name) + "} in \"" + text_ +
             "\" (known: qs, cookie, hex, base64, time[unix], httptime, uwsgi[pid|wid|status])";
      return false;
    }
    pieces_.push_back(std::move(p));
  }
  flush();
  return true;
}

static std::string_view head_var(const RouteEnv& env, std::string_view name) {
  return env.head ? env.head->find(name) : std::string_view();
}

std::string_view query_item(std::string_view qs, std::string_view key) {
  while (!qs.empty()) {
    size_t amp = qs.find('&');
    std::string_view item = qs.substr(0, amp);
    size_t eq = item.find('=');
    if (item.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    qs.remove_prefix(amp + 1);
  }
  return {};
}

std::string_view cookie_item(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    size_t semi = cookies.find(';');
    std::string_view item = cookies.substr(0, semi);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    size_t eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) return item.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    cookies.remove_prefix(semi + 1);
  }
  return {};
}

std::string http_date(long long t) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  char b[64];
  size_t n = strftime(b, sizeof b, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(b, n);
}

static void append_base64(std::string_view in, std::string* out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    *out += tbl[v >> 18];
    *out += tbl[(v >> 12) & 63];
    *out += tbl[(v >> 6) & 63];
    *out += tbl[v & 63];
  }
  if (i < in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (i + 1 < in.size() ? (unsigned char)in[i + 1] << 8 : 0);
    *out += tbl[v >> 18];
    *out += tbl[(v >> 12) & 63];
    *out += i + 1 < in.size() ? tbl[(v >> 6) & 63] : '=';
    *out += '=';
  }
}

void RouteTemplate::expand(const RouteEnv& env, std::string* out) const {
  for (auto& p : pieces_) {
    switch (p.kind) {
      case Kind::kLiteral: out->append(p.s); break;
      case Kind::kVar: out->append(head_var(env, p.s)); break;
      case Kind::kCapture:
        if (env.caps) out->append(env.caps->get(p.n));
        break;
      case Kind::kQs: out->append(query_item(head_var(env, "QUERY_STRING"), p.s)); break;
      case Kind::kCookie: out->append(cookie_item(head_var(env, "HTTP_COOKIE"), p.s)); break;
      case Kind::kTimeUnix: out->append(std::to_string((long long)time(nullptr))); break;
      case Kind::kHttpTime: out->append(http_date((long long)time(nullptr) + p.n)); break;
      case Kind::kPid: out->append(std::to_string((int)getpid())); break;
      case Kind::kWid: out->append(std::to_string(env.worker_id)); break;
      case Kind::kStatus: out->append(std::to_string(env.status)); break;
      case Kind::kHex: {
        static const char hx[] = "0123456789abcdef";
        for (unsigned char c : head_var(env, p.s)) {
          *out += hx[c >> 4];
          *out += hx[c & 15];
        }
        break;
      }
      case Kind::kBase64: append_base64(head_var(env, p.s), out); break;
    }
  }
}

}  // namespace uwsgi
