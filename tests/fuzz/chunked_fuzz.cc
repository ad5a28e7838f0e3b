// libFuzzer target for ChunkedDecoder: feeding the same bytes in any split gives the same result,
// and encoding arbitrary data as chunks round-trips.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/request_head.h"

using namespace uwsgi;

namespace {
[[noreturn]] void die(const char* why) {
  fprintf(stderr, "contract violated: %s\n", why);
  abort();
}

struct Outcome {
  std::string data;
  size_t consumed = 0;
  bool done = false, failed = false;
  std::string error;
};

// Feeds `in` in pieces whose sizes cycle through `steps` (all at once when empty).
Outcome run(const std::vector<char>& in, const std::vector<size_t>& steps) {
  ChunkedDecoder d;
  Outcome o;
  size_t pos = 0, k = 0;
  while (pos < in.size() && !d.done() && !d.failed()) {
    size_t n = steps.empty() ? in.size() - pos : std::min(steps[k++ % steps.size()], in.size() - pos);
    std::vector<char> piece(in.begin() + pos, in.begin() + pos + n);  // exact-size: ASan-checked
    size_t used = d.feed(piece.data(), n, &o.data);
    if (used > n) die("consumed more than given");
    pos += used;
    if (used < n) {
      if (!d.done() && !d.failed()) die("stopped eating without done or failed");
      break;
    }
  }
  o.consumed = pos;
  o.done = d.done();
  o.failed = d.failed();
  o.error = d.error();
  if (o.done && o.failed) die("both done and failed");
  if (o.failed && o.error.empty()) die("failed without message");
  return o;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // First byte: split pattern for the differential run.
  std::vector<size_t> steps = {static_cast<size_t>(data[0] % 7) + 1, 1, static_cast<size_t>(data[0] >> 4) + 1};
  std::vector<char> in(data + 1, data + size);

  Outcome whole = run(in, {});
  Outcome split = run(in, steps);
  if (whole.data != split.data || whole.consumed != split.consumed || whole.done != split.done ||
      whole.failed != split.failed || whole.error != split.error)
    die("split feeding differs from whole feeding");
  if (whole.data.size() > in.size()) die("more output than input");

  // Round trip: the input as a payload, chunked with sizes taken from the split pattern.
  std::string enc;
  size_t pos = 0, k = 0;
  while (pos < in.size()) {
    size_t n = std::min(steps[k++ % steps.size()] * 3, in.size() - pos);
    char hdr[32];
    snprintf(hdr, sizeof hdr, (k & 1) ? "%zx\r\n" : "%zX;ext=1\r\n", n);
    enc += hdr;
    enc.append(in.data() + pos, n);
    enc += "\r\n";
    pos += n;
  }
  enc += (data[0] & 1) ? "0\r\nX-T: y\r\n\r\n" : "0\r\n\r\n";
  Outcome rt = run(std::vector<char>(enc.begin(), enc.end()), steps);
  if (!rt.done || rt.consumed != enc.size() || rt.data != std::string(in.begin(), in.end()))
    die("round trip failed");
  return 0;
}
