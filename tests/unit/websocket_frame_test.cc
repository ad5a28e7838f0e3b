// FrameParser / writer / handshake: whole and byte-at-a-time input, fragments with control frames
// between them, and each protocol rule's close code.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/websocket_frame.h"

namespace uwsgi::ws {
namespace {

// A masked client frame.
std::string client_frame(uint8_t b0, std::string_view payload, bool masked = true) {
  std::string f;
  f.push_back((char)b0);
  uint8_t m = masked ? 0x80 : 0;
  size_t n = payload.size();
  if (n < 126) {
    f.push_back((char)(m | n));
  } else if (n < 65536) {
    f.push_back((char)(m | 126));
    f.push_back((char)(n >> 8));
    f.push_back((char)n);
  } else {
    f.push_back((char)(m | 127));
    for (int i = 0; i < 8; i++) f.push_back((char)((uint64_t)n >> (56 - 8 * i)));
  }
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < n; i++) f.push_back(masked ? (char)(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

struct Ev {
  FrameParser::Event e;
  std::string data;
  unsigned code = 0;
  bool binary = false;
};

// Feeds `in` in pieces of `step` bytes (0 = all at once) and collects every event.
std::vector<Ev> parse(FrameParser& p, std::string_view in, size_t step = 0) {
  std::vector<Ev> out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = step ? std::min(step, in.size() - pos) : in.size() - pos;
    size_t off = 0;
    while (off < n) {
      size_t used = 0;
      auto e = p.feed(in.data() + pos + off, n - off, &used);
      EXPECT_LE(used, n - off);
      off += used;
      if (e == FrameParser::Event::kNeedMore) break;
      Ev ev{e, p.payload(), 0, p.binary()};
      if (e == FrameParser::Event::kClose) ev.code = p.close_code();
      if (e == FrameParser::Event::kError) {
        ev.code = p.error_code();
        out.push_back(ev);
        return out;
      }
      out.push_back(ev);
    }
    pos += n;
  }
  return out;
}

using E = FrameParser::Event;

TEST(WsFrame, TextAndBinaryWholeAndByteByByte) {
  std::string in = client_frame(0x81, "hello") + client_frame(0x82, std::string("\0\1\2", 3));
  for (size_t step : {0, 1, 3}) {
    FrameParser p;
    auto ev = parse(p, in, step);
    ASSERT_EQ(ev.size(), 2u) << step;
    EXPECT_EQ(ev[0].e, E::kMessage);
    EXPECT_EQ(ev[0].data, "hello");
    EXPECT_FALSE(ev[0].binary);
    EXPECT_EQ(ev[1].data, std::string("\0\1\2", 3));
    EXPECT_TRUE(ev[1].binary);
  }
}

TEST(WsFrame, LengthsOf16And64Bits) {
  std::string big(200 * 1024, 'x'), mid(300, 'y');
  FrameParser p;
  auto ev = parse(p, client_frame(0x82, big) + client_frame(0x81, mid) + client_frame(0x81, ""), 4096);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].data, big);
  EXPECT_EQ(ev[1].data, mid);
  EXPECT_EQ(ev[2].data, "");
}

TEST(WsFrame, FragmentsWithControlFramesBetween) {
  std::string in = client_frame(0x01, "Hel") + client_frame(0x89, "p1") + client_frame(0x00, "lo ") +
                   client_frame(0x8A, "") + client_frame(0x80, "world");
  for (size_t step : {0, 1}) {
    FrameParser p;
    auto ev = parse(p, in, step);
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[0].e, E::kPing);
    EXPECT_EQ(ev[0].data, "p1");
    EXPECT_EQ(ev[1].e, E::kPong);
    EXPECT_EQ(ev[2].e, E::kMessage);
    EXPECT_EQ(ev[2].data, "Hello world");
  }
}

TEST(WsFrame, Close) {
  FrameParser p;
  auto ev = parse(p, client_frame(0x88, std::string("\x03\xe8", 2) + "bye"));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].e, E::kClose);
  EXPECT_EQ(ev[0].code, 1000u);
  EXPECT_EQ(ev[0].data, "bye");
  FrameParser q;
  ev = parse(q, client_frame(0x88, ""));
  EXPECT_EQ(ev[0].code, (unsigned)kCloseNoStatus);
}

unsigned error_of(std::string_view in, size_t max = 0) {
  for (size_t step : {0, 1}) {
    FrameParser p(max);
    auto ev = parse(p, in, step);
    if (ev.empty() || ev.back().e != E::kError) return 0;
    if (step == 1) return ev.back().code;
  }
  return 0;
}

TEST(WsFrame, ProtocolErrors) {
  EXPECT_EQ(error_of(client_frame(0x81, "hi", false)), 1002u);           // unmasked
  EXPECT_EQ(error_of(client_frame(0xC1, "hi")), 1002u);                  // RSV1
  EXPECT_EQ(error_of(client_frame(0xA1, "hi")), 1002u);                  // RSV2
  EXPECT_EQ(error_of(client_frame(0x83, "hi")), 1002u);                  // reserved opcode
  EXPECT_EQ(error_of(client_frame(0x8B, "hi")), 1002u);                  // reserved control opcode
  EXPECT_EQ(error_of(client_frame(0x09, "hi")), 1002u);                  // fragmented ping
  EXPECT_EQ(error_of(client_frame(0x89, std::string(126, 'p'))), 1002u);  // long ping
  EXPECT_EQ(error_of(client_frame(0x80, "hi")), 1002u);                  // continuation alone
  EXPECT_EQ(error_of(client_frame(0x01, "a") + client_frame(0x81, "b")), 1002u);  // new message mid-way
  EXPECT_EQ(error_of(client_frame(0x88, "x")), 1002u);                   // 1-byte close
  EXPECT_EQ(error_of(client_frame(0x88, std::string("\x03\xed", 2))), 1002u);  // code 1005
  EXPECT_EQ(error_of(client_frame(0x88, std::string("\x03\xe7", 2))), 1002u);  // code 999
}

TEST(WsFrame, Utf8) {
  EXPECT_EQ(error_of(client_frame(0x81, "\xff")), 1007u);
  EXPECT_EQ(error_of(client_frame(0x81, "\xc0\xaf")), 1007u);          // overlong
  EXPECT_EQ(error_of(client_frame(0x81, "\xed\xa0\x80")), 1007u);      // surrogate
  EXPECT_EQ(error_of(client_frame(0x81, "\xf4\x90\x80\x80")), 1007u);  // past U+10FFFF
  EXPECT_EQ(error_of(client_frame(0x81, "ab\xe2\x82")), 1007u);        // truncated at the end
  EXPECT_EQ(error_of(client_frame(0x88, std::string("\x03\xe8\xff", 3))), 1007u);  // close reason
  // A character split across fragments is fine.
  FrameParser p;
  auto ev = parse(p, client_frame(0x01, "\xe2\x82") + client_frame(0x80, "\xac"), 1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "\xe2\x82\xac");
  // Binary is not checked.
  FrameParser q;
  EXPECT_EQ(parse(q, client_frame(0x82, "\xff"))[0].e, E::kMessage);
}

TEST(WsFrame, MaxSize) {
  EXPECT_EQ(error_of(client_frame(0x82, std::string(1025, 'x')), 1024), 1009u);
  EXPECT_EQ(error_of(client_frame(0x02, std::string(600, 'x')) + client_frame(0x80, std::string(600, 'x')), 1024),
            1009u);
  FrameParser p(1024);
  EXPECT_EQ(parse(p, client_frame(0x82, std::string(1024, 'x')))[0].e, E::kMessage);
}

TEST(WsFrame, Writer) {
  std::string f;
  append_frame(&f, kText, "hi", 2);
  EXPECT_EQ(f, std::string("\x81\x02hi", 4));
  uint8_t h[10];
  EXPECT_EQ(frame_header(h, kBinary, 300), 4u);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(frame_header(h, kBinary, 70000), 10u);
  EXPECT_EQ(h[1], 127);
  EXPECT_EQ(close_payload(1000, "ok"), std::string("\x03\xe8ok", 4));
  EXPECT_LE(close_payload(1000, std::string(200, 'x')).size(), 125u);
}

TEST(WsFrame, AcceptKey) {
  // RFC 6455 section 1.3's example.
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

}  // namespace
}  // namespace uwsgi::ws
