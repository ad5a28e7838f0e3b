#include "router/response_head.h"

#include <strings.h>

#include <cstdlib>

namespace uwsgi {

bool header_named(std::string_view line, std::string_view name) {
  return line.size() > name.size() && line[name.size()] == ':' &&
         strncasecmp(line.data(), name.data(), name.size()) == 0;
}

static std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

static bool ends_with_token(std::string_view v, std::string_view tok) {
  v = trim(v);
  if (v.size() < tok.size()) return false;
  std::string_view tail = v.substr(v.size() - tok.size());
  if (strncasecmp(tail.data(), tok.data(), tok.size()) != 0) return false;
  return v.size() == tok.size() || v[v.size() - tok.size() - 1] == ',' || v[v.size() - tok.size() - 1] == ' ';
}

int parse_response_head(const std::string& buf, ResponseHead* out) {
  *out = ResponseHead();
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buf.size() >= 5 && buf.compare(0, 5, "HTTP/") != 0) return -1;
    return 0;
  }
  out->head_len = end + 4;
  size_t pos = 0;
  while (pos < end + 2) {
    size_t eol = buf.find("\r\n", pos);
    out->lines.emplace_back(pos, eol - pos);
    pos = eol + 2;
  }
  std::string_view status(buf.data(), out->lines[0].second);
  if (status.size() < 12 || status.compare(0, 7, "HTTP/1.") != 0 || status[8] != ' ') return -1;
  for (int i = 9; i < 12; i++)
    if (status[i] < '0' || status[i] > '9') return -1;
  out->status = (status[9] - '0') * 100 + (status[10] - '0') * 10 + (status[11] - '0');
  for (size_t i = 1; i < out->lines.size(); i++) {
    std::string_view l(buf.data() + out->lines[i].first, out->lines[i].second);
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) return -1;
    std::string_view v = trim(l.substr(colon + 1));
    if (header_named(l, "content-length")) {
      std::string s(v);
      char* e = nullptr;
      long long n = strtoll(s.c_str(), &e, 10);
      if (s.empty() || *e || n < 0) return -1;
      out->content_length = n;
    } else if (header_named(l, "transfer-encoding")) {
      out->chunked = ends_with_token(v, "chunked");
    } else if (header_named(l, "connection")) {
      if (v.size() >= 5 && strncasecmp(v.data(), "close", 5) == 0) out->conn_close = true;
    }
  }
  return 1;
}

}  // namespace uwsgi
