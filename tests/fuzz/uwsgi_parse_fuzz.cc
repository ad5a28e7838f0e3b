// libFuzzer target for parse_uwsgi_packet: no crash, and the result obeys its contract.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t max_packet = 4 + static_cast<size_t>(data[0] | (data[1] << 8));
  data += 2;
  size -= 2;
  std::vector<char> buf(data, data + size);  // exact size: over-reads are ASan reports
  const char* b = buf.empty() ? nullptr : buf.data();
  RequestHead head;
  ParseError err;
  ParseResult r = parse_uwsgi_packet(b, size, max_packet, &head, &err);
  if (r == ParseResult::kIncomplete && size >= 4 &&
      size >= 4 + static_cast<size_t>(data[1] | (data[2] << 8)))
    die("incomplete although the whole packet is there");
  if (r == ParseResult::kError && err.message.empty()) die("error without message");
  if (r != ParseResult::kComplete) return 0;
  if (head.head_len > size || head.head_len > max_packet || head.head_len < 4) die("bad head_len");
  if (head.keep_alive || head.chunked) die("uwsgi requests are never keep-alive or chunked");
  if (head.content_length < 0) die("negative content_length");
  for (auto& [k, v] : head.vars) {
    if (k.empty()) die("empty key");
    if (!inside(k, b, head.head_len) || !inside(v, b, head.head_len)) die("view outside packet");
    // nginx's copies of CONTENT_* go (PEP 3333); another header mapping to the name stays.
    if (k == "HTTP_CONTENT_TYPE" || k == "HTTP_CONTENT_LENGTH") {
      std::string_view cgi = k == "HTTP_CONTENT_TYPE" ? "CONTENT_TYPE" : "CONTENT_LENGTH";
      for (auto& [k2, v2] : head.vars)
        if (k2 == cgi) {
          if (v2 == v) die("PEP 3333 duplicate kept");
          break;
        }
    }
  }
  RequestHead part;
  if (parse_uwsgi_packet(b, head.head_len - 1, max_packet, &part, &err) != ParseResult::kIncomplete)
    die("prefix of a complete packet is not incomplete");
  return 0;
}
