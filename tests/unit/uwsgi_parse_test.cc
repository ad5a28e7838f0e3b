// parse_uwsgi_packet: layout, limits, malformed packets, CONTENT_LENGTH and dropped duplicates.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/request_head.h"

namespace uwsgi {
namespace {

using KV = std::vector<std::pair<std::string, std::string>>;

void put16(std::string* s, size_t v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>((v >> 8) & 0xff));
}

std::string payload(const KV& kv) {
  std::string p;
  for (auto& [k, v] : kv) {
    put16(&p, k.size());
    p += k;
    put16(&p, v.size());
    p += v;
  }
  return p;
}

std::string packet(const std::string& body, uint8_t m1 = 0, uint8_t m2 = 0) {
  std::string s;
  s.push_back(static_cast<char>(m1));
  put16(&s, body.size());
  s.push_back(static_cast<char>(m2));
  return s + body;
}

struct Parsed {
  ParseResult r;
  RequestHead head;
  ParseError err;
};

Parsed parse(std::string_view s, size_t max = 4096) {
  Parsed p;
  p.r = parse_uwsgi_packet(s.data(), s.size(), max, &p.head, &p.err);
  return p;
}

KV vars_of(const RequestHead& h) {
  KV v;
  for (auto& [k, val] : h.vars) v.emplace_back(std::string(k), std::string(val));
  return v;
}

const KV kNginxLike = {
    {"QUERY_STRING", "a=1"},       {"REQUEST_METHOD", "POST"},
    {"CONTENT_TYPE", "text/plain"}, {"CONTENT_LENGTH", "11"},
    {"REQUEST_URI", "/p?a=1"},     {"PATH_INFO", "/p"},
    {"SERVER_PROTOCOL", "HTTP/1.1"}, {"REMOTE_ADDR", "127.0.0.1"},
    {"HTTP_HOST", "localhost"},    {"HTTP_CONTENT_TYPE", "text/plain"},
    {"HTTP_CONTENT_LENGTH", "11"}, {"EMPTY", ""},
};

TEST(UwsgiParse, GoodPacketVarsExact) {
  std::string pkt = packet(payload(kNginxLike), 0, 0);
  std::string with_body = pkt + "hello world";
  Parsed p = parse(with_body);
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  KV want = kNginxLike;
  std::erase_if(want, [](auto& kv) {
    return kv.first == "HTTP_CONTENT_TYPE" || kv.first == "HTTP_CONTENT_LENGTH";
  });
  EXPECT_EQ(vars_of(p.head), want);
  EXPECT_EQ(p.head.head_len, pkt.size());
  EXPECT_EQ(p.head.content_length, 11);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_FALSE(p.head.chunked);
  EXPECT_EQ(p.head.modifier1, 0);
  EXPECT_EQ(p.head.modifier2, 0);
}

// The --http router forwards "Content_Length: -1E23" as HTTP_CONTENT_LENGTH next to the real
// CONTENT_LENGTH: it is another header, kept as the HTTP parser keeps it.
TEST(UwsgiParse, KeepsHttpContentVarsThatDifferFromCgiOnes) {
  KV kv = {{"REQUEST_METHOD", "GET"},        {"CONTENT_LENGTH", "7"},
           {"HTTP_TRANSFER_ENCODING", "x"},  {"HTTP_CONTENT_LENGTH", "-1E23"},
           {"HTTP_CONTENT_TYPE", "a/b"}};
  std::string pkt = packet(payload(kv)) + "tricked";  // the vars point into it
  Parsed p = parse(pkt);
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(vars_of(p.head), kv);
  EXPECT_EQ(p.head.content_length, 7);
}

TEST(UwsgiParse, VarsPointIntoBuffer) {
  std::string pkt = packet(payload(kNginxLike));
  Parsed p = parse(pkt);
  ASSERT_EQ(p.r, ParseResult::kComplete);
  for (auto& [k, v] : p.head.vars) {
    EXPECT_GE(k.data(), pkt.data());
    EXPECT_LE(k.data() + k.size(), pkt.data() + pkt.size());
    EXPECT_GE(v.data(), pkt.data());
    EXPECT_LE(v.data() + v.size(), pkt.data() + pkt.size());
  }
  EXPECT_TRUE(p.head.arena.empty());
}

TEST(UwsgiParse, Modifiers) {
  Parsed p = parse(packet(payload({{"A", "b"}}), 5, 9));
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_EQ(p.head.modifier1, 5);
  EXPECT_EQ(p.head.modifier2, 9);
}

TEST(UwsgiParse, EmptyPacketAndEmptyContentLength) {
  Parsed p = parse(packet(""));
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_TRUE(p.head.vars.empty());
  EXPECT_EQ(p.head.head_len, 4u);

  Parsed q = parse(packet(payload({{"CONTENT_LENGTH", ""}})));  // nginx: no body
  ASSERT_EQ(q.r, ParseResult::kComplete);
  EXPECT_EQ(q.head.content_length, 0);
}

TEST(UwsgiParse, EverySplitPointIsIncomplete) {
  std::string pkt = packet(payload(kNginxLike));
  Parsed full = parse(pkt);
  ASSERT_EQ(full.r, ParseResult::kComplete);
  for (size_t k = 0; k < pkt.size(); k++)
    ASSERT_EQ(parse(std::string_view(pkt).substr(0, k)).r, ParseResult::kIncomplete) << k;
}

TEST(UwsgiParse, PipelinedBytesNotConsumed) {
  std::string a = packet(payload({{"PATH_INFO", "/a"}}));
  std::string b = packet(payload({{"PATH_INFO", "/b"}}));
  std::string both = a + b;
  Parsed p = parse(both);
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_EQ(p.head.head_len, a.size());
  EXPECT_EQ(p.head.find("PATH_INFO"), "/a");
}

TEST(UwsgiParse, TooLarge) {
  std::string pkt = packet(payload({{"X", std::string(300, 'x')}}));
  Parsed p = parse(pkt, 100);
  EXPECT_EQ(p.r, ParseResult::kError);
  EXPECT_FALSE(p.err.message.empty());
  // Issue 21.9: the packet is the request head, so it is 431 as over HTTP (not 413: no body is in it).
  EXPECT_EQ(p.err.http_status, 431);
  // Known from the 4-byte header alone, before the rest arrives.
  EXPECT_EQ(parse(std::string_view(pkt).substr(0, 4), 100).r, ParseResult::kError);
  EXPECT_EQ(parse(pkt, pkt.size()).r, ParseResult::kComplete);
  EXPECT_EQ(parse(pkt, pkt.size() - 1).r, ParseResult::kError);
}

TEST(UwsgiParse, InconsistentLengthsAreErrors) {
  auto err = [](const std::string& body) { return parse(packet(body)).r == ParseResult::kError; };
  std::string good = payload({{"KEY", "value"}});
  EXPECT_FALSE(err(good));
  EXPECT_TRUE(err(good + "\x01"));                 // stray byte: truncated key length
  EXPECT_TRUE(err(good.substr(0, good.size() - 1)));  // value overruns the packet
  EXPECT_TRUE(err(good.substr(0, 4)));              // key but no value length
  EXPECT_TRUE(err(good.substr(0, 6)));              // truncated value length
  EXPECT_TRUE(err(std::string("\x05\x00" "AB", 4)));     // key overruns
  EXPECT_TRUE(err(std::string("\x00\x00\x01\x00x", 5)));  // zero-length key
  EXPECT_TRUE(err(std::string("\xff\xff", 2)));        // huge key length
}

TEST(UwsgiParse, ContentLengthErrors) {
  auto status = [](const std::string& cl) {
    Parsed p = parse(packet(payload({{"CONTENT_LENGTH", cl}})));
    return p.r == ParseResult::kError ? p.err.http_status : 0;
  };
  EXPECT_EQ(status("-1"), 400);
  EXPECT_EQ(status("12a"), 400);
  EXPECT_EQ(status(" 12"), 400);
  EXPECT_EQ(status("9223372036854775808"), 400);
  EXPECT_EQ(status("9223372036854775807"), 0);
  EXPECT_EQ(status("0"), 0);
}

}  // namespace
}  // namespace uwsgi
