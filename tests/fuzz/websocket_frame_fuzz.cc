// libFuzzer target for ws::FrameParser: any split of the same bytes gives the same events, and
// a kError is final. The first input byte picks the message size limit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/websocket_frame.h"

using namespace uwsgi::ws;

namespace {
[[noreturn]] void die(const char* why) {
  fprintf(stderr, "contract violated: %s\n", why);
  abort();
}

// Events as text: kind, payload, codes.
std::string run(const uint8_t* in, size_t n, size_t max, size_t step) {
  FrameParser p(max);
  std::string log;
  size_t pos = 0;
  bool failed = false;
  while (pos < n) {
    size_t len = step ? std::min(step, n - pos) : n - pos;
    std::vector<char> piece(in + pos, in + pos + len);  // exact size: ASan-checked
    size_t off = 0;
    while (off < len) {
      size_t used = 0;
      auto e = p.feed(piece.data() + off, len - off, &used);
      if (used > len - off) die("used more than given");
      off += used;
      if (e == FrameParser::Event::kNeedMore) {
        if (off != len) die("kNeedMore with bytes left");
        break;
      }
      log += std::to_string((int)e) + ":";
      if (e == FrameParser::Event::kError) {
        log += std::to_string(p.error_code());
        failed = true;
        break;
      }
      if (e == FrameParser::Event::kClose) log += std::to_string(p.close_code());
      log += p.payload() + (p.binary() ? "b" : "t") + ";";
    }
    if (failed) break;
    pos += len;
  }
  if (failed) {
    size_t used = 1;
    char c = 0;
    if (p.feed(&c, 1, &used) != FrameParser::Event::kError || used != 0) die("error is not final");
  }
  return log;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t max = (size_t)data[0] * 16;
  const uint8_t* in = data + 1;
  size_t n = size - 1;
  std::string whole = run(in, n, max, 0);
  if (run(in, n, max, 1) != whole) die("byte-by-byte differs from whole");
  if (run(in, n, max, 3 + data[0] % 7) != whole) die("split differs from whole");
  return 0;
}
