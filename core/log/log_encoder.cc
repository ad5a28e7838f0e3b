#include "log/log_encoder.h"

#include <cstdio>

namespace uwsgi {

bool LogEncoder::parse(const std::string& spec, std::string* err) {
  size_t sp = spec.find(' ');
  std::string head = spec.substr(0, sp);
  arg_ = sp == std::string::npos ? "" : spec.substr(sp + 1);  // one space separates, as uWSGI
  size_t colon = head.find(':');
  kind_ = head.substr(0, colon);
  logger_ = colon == std::string::npos ? "" : head.substr(colon + 1);
  if (kind_ == "prefix" || kind_ == "suffix" || kind_ == "nl") return true;
  if (kind_ == "format" || kind_ == "json") {
    json_ = kind_ == "json";
    if (arg_.empty()) {
      *err = "the \"" + kind_ + "\" encoder wants a template, e.g. " + kind_ + " {\"msg\": \"${msg}\"}";
      return false;
    }
    return compile(arg_, err);
  }
  if (kind_ == "gzip" || kind_ == "compress" || kind_ == "msgpack") {
    *err = "the \"" + kind_ + "\" encoder is not supported (prefix, suffix, nl, format and json are)";
    return false;
  }
  *err = "unknown encoder \"" + kind_ + "\" (known: prefix, suffix, nl, format, json)";
  return false;
}

bool LogEncoder::compile(const std::string& t, std::string* err) {
  size_t i = 0;
  std::string text;
  auto flush = [&] {
    if (!text.empty()) parts_.push_back({Piece::kText, std::move(text)});
    text.clear();
  };
  while (i < t.size()) {
    if (t.compare(i, 2, "${") != 0) {
      text.push_back(t[i++]);
      continue;
    }
    size_t end = t.find('}', i + 2);
    if (end == std::string::npos) {
      *err = "unterminated ${ in \"" + t + "\"";
      return false;
    }
    std::string var = t.substr(i + 2, end - i - 2);
    i = end + 1;
    flush();
    if (var == "msg") parts_.push_back({Piece::kMsg, ""});
    else if (var == "msgnl") parts_.push_back({Piece::kMsgNl, ""});
    else if (var == "unix") parts_.push_back({Piece::kUnix, ""});
    else if (var == "micros") parts_.push_back({Piece::kMicros, ""});
    else if (var == "millis") parts_.push_back({Piece::kMillis, ""});
    else if (var.compare(0, 9, "strftime:") == 0) parts_.push_back({Piece::kStrftime, var.substr(9)});
    else {
      *err = "unknown variable ${" + var + "} (known: msg, msgnl, unix, micros, millis, strftime:FORMAT)";
      return false;
    }
  }
  flush();
  return true;
}

void json_escape(std::string_view s, std::string* out) {
  static const char hex[] = "0123456789abcdef";
  auto u00 = [&](unsigned char c) {
    out->append("\\u00");
    out->push_back(hex[c >> 4]);
    out->push_back(hex[c & 15]);
  };
  for (size_t i = 0; i < s.size();) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        default:
          if (c < 0x20 || c == 0x7f) u00(c);
          else out->push_back((char)c);
      }
      i++;
      continue;
    }
    // A well-formed UTF-8 sequence passes as is (no overlongs, no surrogates); any other byte is
    // escaped on its own, as if Latin-1.
    int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
    if (ok && len >= 3) {
      unsigned char c1 = (unsigned char)s[i + 1];
      if (c == 0xe0 && c1 < 0xa0) ok = false;   // overlong
      if (c == 0xed && c1 >= 0xa0) ok = false;  // surrogate
      if (c == 0xf0 && c1 < 0x90) ok = false;   // overlong
      if (c == 0xf4 && c1 >= 0x90) ok = false;  // past U+10FFFF
    }
    if (!ok) {
      u00(c);
      i++;
      continue;
    }
    out->append(s.data() + i, len);
    i += len;
  }
}

void LogEncoder::apply(std::string_view in, const timespec& now, std::string* out) const {
  if (kind_ == "prefix") {
    out->append(arg_);
    out->append(in);
    return;
  }
  if (kind_ == "suffix") {
    out->append(in);
    out->append(arg_);
    return;
  }
  if (kind_ == "nl") {
    out->append(in);
    out->push_back('\n');
    return;
  }
  std::string_view msg = in;
  if (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  auto put = [&](std::string_view v) {
    if (json_) json_escape(v, out);
    else out->append(v);
  };
  char b[256];
  for (auto& p : parts_) {
    switch (p.type) {
      case Piece::kText: out->append(p.text); break;
      case Piece::kMsg: put(msg); break;
      case Piece::kMsgNl: put(in); break;
      case Piece::kUnix: out->append(std::to_string((long long)now.tv_sec)); break;
      case Piece::kMicros:
        out->append(std::to_string((long long)now.tv_sec * 1000000 + now.tv_nsec / 1000));
        break;
      case Piece::kMillis:
        out->append(std::to_string((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000));
        break;
      case Piece::kStrftime: {
        struct tm tm;
        localtime_r(&now.tv_sec, &tm);
        size_t n = strftime(b, sizeof b, p.text.c_str(), &tm);
        put(std::string_view(b, n));
        break;
      }
    }
  }
}

void encode_line(const std::vector<const LogEncoder*>& chain, std::string_view line, std::string* out) {
  out->clear();
  if (chain.empty()) {
    out->assign(line);
    return;
  }
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  std::string a(line), b;
  for (auto* e : chain) {
    b.clear();
    e->apply(a, now, &b);
    a.swap(b);
  }
  out->swap(a);
}

}  // namespace uwsgi
