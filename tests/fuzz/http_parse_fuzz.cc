// libFuzzer target for parse_http_head: no crash, and the result obeys its contract.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "net/request_head.h"

using namespace uwsgi;

namespace {

[[noreturn]] void die(const char* why) {
  fprintf(stderr, "contract violated: %s\n", why);
  abort();
}

bool inside(std::string_view v, const char* base, size_t len) {
  return v.data() >= base && v.data() + v.size() <= base + len;
}

// Every view must point into the input buffer, the names buffer, the arena, or at a static literal
// (empty or short constants such as "HTTP/1.1"; those are checked by content, not address).
void check_views(const RequestHead& h, const char* buf, size_t len) {
  auto ok = [&](std::string_view v) {
    if (v.empty() || inside(v, buf, len) || inside(v, h.names.data(), h.names.size())) return true;
    for (auto& a : h.arena)
      if (inside(v, a.data(), a.size())) return true;
    return false;
  };
  static const std::string_view kStatic[] = {"REQUEST_METHOD", "REQUEST_URI", "PATH_INFO",
      "QUERY_STRING", "SERVER_PROTOCOL", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT",
      "REMOTE_ADDR", "REMOTE_PORT", "CONTENT_LENGTH", "CONTENT_TYPE"};
  for (auto& [k, v] : h.vars) {
    bool static_key = false;
    for (auto s : kStatic) static_key |= (k == s);
    if (!static_key && (!ok(k) || k.substr(0, 5) != "HTTP_")) die("header var name not HTTP_* in the names buffer");
    // Values: volatile check of every byte so ASan flags dangling views.
    volatile char sink = 0;
    for (char ch : v) sink = sink + ch;
    (void)sink;
    if (k == "PATH_INFO" && v.find('\0') != std::string_view::npos) die("NUL in PATH_INFO");
  }
}

std::vector<std::pair<std::string, std::string>> copy_vars(const RequestHead& h) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [k, v] : h.vars) out.emplace_back(std::string(k), std::string(v));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // First byte picks the head limit, so the 431 paths get exercised too.
  size_t max_head = 16 + static_cast<size_t>(data[0]) * 16;
  data++;
  size--;
  // Exact-size heap copy: any read past the end is an ASan report.
  std::vector<char> buf(data, data + size);
  const char* b = buf.empty() ? nullptr : buf.data();
  ConnInfo conn{"127.0.0.1", "8080", "10.1.2.3", "4242"};
  RequestHead head;
  ParseError err;
  ParseResult r = parse_http_head(b, size, max_head, conn, &head, &err);
  switch (r) {
    case ParseResult::kIncomplete:
      if (size >= max_head) die("incomplete at or beyond max_head");
      break;
    case ParseResult::kError:
      if (err.message.empty()) die("error without message");
      if (err.http_status != 400 && err.http_status != 431 && err.http_status != 501 &&
          err.http_status != 505)
        die("unexpected status");
      break;
    case ParseResult::kComplete: {
      if (head.head_len == 0 || head.head_len > size || head.head_len > max_head) die("bad head_len");
      if (head.content_length < 0) die("negative content_length");
      if (head.chunked && head.content_length != 0) die("chunked with content_length");
      if (head.http_minor != 0 && head.http_minor != 1) die("bad http_minor");
      check_views(head, b, size);
      // The head alone parses the same (bytes after it don't matter) ...
      RequestHead again;
      ParseError err2;
      if (parse_http_head(b, head.head_len, max_head, conn, &again, &err2) != ParseResult::kComplete)
        die("head alone does not parse");
      if (copy_vars(again) != copy_vars(head) || again.head_len != head.head_len ||
          again.content_length != head.content_length || again.chunked != head.chunked ||
          again.keep_alive != head.keep_alive)
        die("head alone parses differently");
      // ... and one byte less is incomplete.
      std::vector<char> shorter(b, b + head.head_len - 1);
      RequestHead part;
      if (parse_http_head(shorter.data(), shorter.size(), max_head, conn, &part, &err2) !=
          ParseResult::kIncomplete)
        die("prefix of a complete head is not incomplete");
      break;
    }
  }
  return 0;
}
