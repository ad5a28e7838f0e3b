// ChunkedDecoder: whole and byte-at-a-time decoding, extensions, trailers, malformed input.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "net/request_head.h"

namespace uwsgi {
namespace {

struct Result {
  std::string data;
  size_t consumed = 0;
  bool done = false, failed = false;
  std::string error;
};

// Feeds `in` in pieces of `step` bytes (0 = all at once), stopping when the decoder stops eating.
Result decode(std::string_view in, size_t step = 0) {
  ChunkedDecoder d;
  Result r;
  size_t pos = 0;
  while (pos < in.size() && !d.done() && !d.failed()) {
    size_t n = step ? std::min(step, in.size() - pos) : in.size() - pos;
    size_t used = d.feed(in.data() + pos, n, &r.data);
    EXPECT_LE(used, n);
    pos += used;
    if (used < n) break;
  }
  r.consumed = pos;
  r.done = d.done();
  r.failed = d.failed();
  r.error = d.error();
  return r;
}

TEST(ChunkedDecoder, Simple) {
  std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  Result r = decode(body);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.failed);
  EXPECT_EQ(r.data, "hello world");
  EXPECT_EQ(r.consumed, body.size());
}

TEST(ChunkedDecoder, ByteAtATimeSameResult) {
  std::string body = "1A;name=val\r\nabcdefghijklmnopqrstuvwxyz\r\n3 ; e = \"q\\\"x\" ;f\r\n123\r\n0;x\r\nTrailer: t\r\n\r\n";
  Result whole = decode(body);
  ASSERT_TRUE(whole.done) << whole.error;
  EXPECT_EQ(whole.data, "abcdefghijklmnopqrstuvwxyz123");
  for (size_t step = 1; step <= 7; step++) {
    Result r = decode(body, step);
    EXPECT_TRUE(r.done) << step;
    EXPECT_EQ(r.data, whole.data) << step;
    EXPECT_EQ(r.consumed, body.size()) << step;
  }
}

TEST(ChunkedDecoder, IncompleteIsNeitherDoneNorFailed) {
  std::string body = "5\r\nhello\r\n0\r\n\r\n";
  for (size_t k = 0; k < body.size(); k++) {
    Result r = decode(std::string_view(body).substr(0, k), 1);
    EXPECT_FALSE(r.done) << k;
    EXPECT_FALSE(r.failed) << k;
    EXPECT_EQ(r.consumed, k);
  }
}

TEST(ChunkedDecoder, BytesAfterEndNotConsumed) {
  std::string body = "3\r\nabc\r\n0\r\n\r\n";
  std::string next = "POST / HTTP/1.1\r\n";
  ChunkedDecoder d;
  std::string out;
  std::string in = body + next;
  EXPECT_EQ(d.feed(in.data(), in.size(), &out), body.size());
  EXPECT_TRUE(d.done());
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(d.feed(next.data(), next.size(), &out), 0u);  // nothing more once done
}

TEST(ChunkedDecoder, HexSizesAndLeadingZeros) {
  Result r = decode("00a\r\n0123456789\r\nF\r\n" + std::string(15, 'x') + "\r\n000\r\n\r\n");
  EXPECT_TRUE(r.done) << r.error;
  EXPECT_EQ(r.data, "0123456789" + std::string(15, 'x'));
}

TEST(ChunkedDecoder, ResetAllowsReuse) {
  ChunkedDecoder d;
  std::string out;
  std::string bad = "zz\r\n";
  d.feed(bad.data(), bad.size(), &out);
  EXPECT_TRUE(d.failed());
  d.reset();
  EXPECT_FALSE(d.failed());
  EXPECT_TRUE(d.error().empty());
  std::string good = "2\r\nok\r\n0\r\n\r\n";
  EXPECT_EQ(d.feed(good.data(), good.size(), &out), good.size());
  EXPECT_TRUE(d.done());
  EXPECT_EQ(out, "ok");
}

TEST(ChunkedDecoder, MalformedChunks) {
  const char* bad[] = {
      "\r\n",                          // no size
      "g\r\n",                         // not hex
      "-1\r\n",                        // sign
      "5\nhello\r\n0\r\n\r\n",         // bare LF after size
      "5\r\nhello\n0\r\n\r\n",         // bare LF after data
      "5\r\nhelloX\r\n0\r\n\r\n",      // data longer than size
      "5\r\nhell\r\n0\r\n\r\n",        // data shorter than size (CR lands in data, then junk)
      "5 x\r\nhello\r\n",              // junk after size
      "10000000000000000\r\n",         // 2^64: overflows
      "0\r\nTrailer: x\n\r\n",          // bare LF in trailer
      "0\r\n\n",                       // bare LF ending the body
      "0;ext\nfoo",                    // LF in extension
  };
  for (const char* b : bad) {
    Result whole = decode(b);
    EXPECT_TRUE(whole.failed) << b;
    EXPECT_FALSE(whole.done) << b;
    EXPECT_FALSE(whole.error.empty()) << b;
    Result bytes = decode(b, 1);
    EXPECT_TRUE(bytes.failed) << b;
    EXPECT_EQ(bytes.error, whole.error) << b;
  }
}

TEST(ChunkedDecoder, MaxSizeDoesNotOverflow) {
  ChunkedDecoder d;
  std::string out;
  std::string in = "FFFFFFFFFFFFFFFF\r\nabc";
  EXPECT_EQ(d.feed(in.data(), in.size(), &out), in.size());
  EXPECT_FALSE(d.failed());
  EXPECT_EQ(out, "abc");
}

TEST(ChunkedDecoder, EndlessTrailersRejected) {
  std::string in = "0\r\n";
  for (int i = 0; i < 2000; i++) in += "X-Trailer: 0123456789\r\n";
  Result r = decode(in);
  EXPECT_TRUE(r.failed);
}

// Issue 21.8: chunk lines follow RFC 9112 7.1.1 exactly. Whitespace is BWS, allowed only before a
// ';' or '=' (and after them); an extension needs a name; a quoted value must close on its line.
TEST(ChunkedDecoder, ChunkLineGrammar) {
  const char* bad[] = {
      "0 \r\n\r\n",                       // whitespace, then no extension
      "a \r\n0123456789\r\n0\r\n\r\n",
      "2\t\r\naa\r\n0\r\n\r\n",
      "2;\r\naa\r\n0\r\n\r\n",            // ';' and no name
      "2; \r\naa\r\n0\r\n\r\n",
      "2;=v\r\naa\r\n0\r\n\r\n",
      "2;a=\r\naa\r\n0\r\n\r\n",          // '=' and no value
      "2;a b\r\naa\r\n0\r\n\r\n",
      "2;a=b c\r\naa\r\n0\r\n\r\n",
      "2;a=b \r\naa\r\n0\r\n\r\n",
      "5;a=\"b\r\nhello\r\n0\r\n\r\n",     // unbalanced quote
      "5;a=\"b;c\r\nhello world\r\n0\r\n\r\n",
      "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",
      "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
      "5;a\rb\r\nhello\r\n0\r\n\r\n",      // bare CR
      "5\r\r\nhello\r\n0\r\n\r\n",
  };
  for (const char* b : bad) {
    Result whole = decode(b);
    EXPECT_TRUE(whole.failed) << b;
    EXPECT_FALSE(whole.done) << b;
    Result bytes = decode(b, 1);
    EXPECT_TRUE(bytes.failed) << b;
  }
  const char* good[] = {
      "5;a\r\nhello\r\n0\r\n\r\n",
      "5 ;a=b\r\nhello\r\n0\r\n\r\n",
      "5\t; a = b ;c\r\nhello\r\n0\r\n\r\n",
      "5;a=\"x;y \\\"z\\\"\"\r\nhello\r\n0\r\n\r\n",
      "5;a=\"\";b=!#$%&'*+-.^_`|~\r\nhello\r\n0;last=1\r\n\r\n",
  };
  for (const char* g : good) {
    Result whole = decode(g);
    EXPECT_TRUE(whole.done) << g << ": " << whole.error;
    EXPECT_EQ(whole.data, "hello") << g;
    Result bytes = decode(g, 1);
    EXPECT_TRUE(bytes.done) << g << ": " << bytes.error;
  }
}

// Issue 21.8: a trailer line is a field line; a request line (a smuggled request) or junk is
// an error rather than skipped.
TEST(ChunkedDecoder, TrailerLinesAreFieldLines) {
  const char* bad[] = {
      "0\r\nGET /x HTTP/1.1\r\n\r\n",
      "0\r\nno colon\r\n\r\n",
      "0\r\nX : a\r\n\r\n",
      "0\r\n: a\r\n\r\n",
      "0\r\n folded\r\n\r\n",
      "0\r\nX: a\x01\r\n\r\n",
      "0\r\nX: a\rb\r\n\r\n",
  };
  for (const char* b : bad) {
    EXPECT_TRUE(decode(b).failed) << b;
    EXPECT_TRUE(decode(b, 1).failed) << b;
  }
  Result ok = decode("3\r\nabc\r\n0\r\nX-Sum: 1 2\t3\r\nY:\r\n\r\n");
  EXPECT_TRUE(ok.done) << ok.error;
  EXPECT_EQ(ok.data, "abc");
}

}  // namespace
}  // namespace uwsgi
