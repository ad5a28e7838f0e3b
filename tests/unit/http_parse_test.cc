// parse_http_head: CGI variables, framing rules, limits and incremental feeding.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/request_head.h"

namespace uwsgi {
namespace {

using Vars = std::vector<std::pair<std::string, std::string>>;

const ConnInfo kConn{"127.0.0.1", "8080", "10.0.0.7", "54321"};

struct Parsed {
  ParseResult r;
  RequestHead head;
  ParseError err;
};

Parsed parse(std::string_view s, size_t max_head = 8192, const ConnInfo& conn = kConn) {
  Parsed p;
  p.r = parse_http_head(s.data(), s.size(), max_head, conn, &p.head, &p.err);
  return p;
}

Vars vars_of(const RequestHead& h) {
  Vars v;
  for (auto& [k, val] : h.vars) v.emplace_back(std::string(k), std::string(val));
  return v;
}

int error_status(std::string_view s, size_t max_head = 8192) {
  Parsed p = parse(s, max_head);
  if (p.r != ParseResult::kError) return 0;
  EXPECT_FALSE(p.err.message.empty());
  return p.err.http_status;
}

TEST(HttpParse, SimpleGetVarsExact) {
  std::string req =
      "GET /hello/world?a=1&b=%20 HTTP/1.1\r\n"
      "Host: example.com:9000\r\n"
      "User-Agent: test/1.0\r\n"
      "Accept: */*\r\n"
      "\r\n";
  Parsed p = parse(req);
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  Vars want = {
      {"REQUEST_METHOD", "GET"},
      {"REQUEST_URI", "/hello/world?a=1&b=%20"},
      {"PATH_INFO", "/hello/world"},
      {"QUERY_STRING", "a=1&b=%20"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"SCRIPT_NAME", ""},
      {"SERVER_NAME", "example.com"},
      {"SERVER_PORT", "9000"},
      {"REMOTE_ADDR", "10.0.0.7"},
      {"REMOTE_PORT", "54321"},
      {"HTTP_HOST", "example.com:9000"},
      {"HTTP_USER_AGENT", "test/1.0"},
      {"HTTP_ACCEPT", "*/*"},
  };
  EXPECT_EQ(vars_of(p.head), want);
  EXPECT_EQ(p.head.head_len, req.size());
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_FALSE(p.head.chunked);
  EXPECT_FALSE(p.head.expect_continue);
  EXPECT_EQ(p.head.content_length, 0);
  EXPECT_EQ(p.head.http_minor, 1);
}

TEST(HttpParse, VarsPointIntoBufferWhenUntransformed) {
  std::string req = "GET /x?q HTTP/1.1\r\nHost: h\r\nX-Thing:  v  \r\n\r\n";
  Parsed p = parse(req);
  ASSERT_EQ(p.r, ParseResult::kComplete);
  auto in_buf = [&](std::string_view v) {
    return v.data() >= req.data() && v.data() + v.size() <= req.data() + req.size();
  };
  EXPECT_TRUE(in_buf(p.head.find("REQUEST_URI")));
  EXPECT_TRUE(in_buf(p.head.find("PATH_INFO")));
  EXPECT_TRUE(in_buf(p.head.find("QUERY_STRING")));
  EXPECT_TRUE(in_buf(p.head.find("HTTP_X_THING")));
  EXPECT_EQ(p.head.find("HTTP_X_THING"), "v");  // surrounding whitespace trimmed
}

TEST(HttpParse, NoQueryGivesEmptyQueryString) {
  Parsed p = parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete);
  bool found = false;
  for (auto& kv : p.head.vars)
    if (kv.first == "QUERY_STRING") {
      found = true;
      EXPECT_EQ(kv.second, "");
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(p.head.find("PATH_INFO"), "/");
}

TEST(HttpParse, HeaderNamesUppercasedDashToUnderscore) {
  Parsed p = parse("GET / HTTP/1.1\r\nx-forwarded-for: 1.2.3.4\r\nAccept-Encoding: gzip\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_EQ(p.head.find("HTTP_X_FORWARDED_FOR"), "1.2.3.4");
  EXPECT_EQ(p.head.find("HTTP_ACCEPT_ENCODING"), "gzip");
}

TEST(HttpParse, ContentTypeAndLengthWithoutPrefixAndNotDuplicated) {
  std::string req =
      "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n";
  Parsed p = parse(req);
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("REQUEST_METHOD"), "POST");
  EXPECT_EQ(p.head.find("CONTENT_TYPE"), "text/plain");
  EXPECT_EQ(p.head.find("CONTENT_LENGTH"), "42");
  EXPECT_EQ(p.head.content_length, 42);
  for (auto& kv : p.head.vars) {
    EXPECT_NE(kv.first, "HTTP_CONTENT_TYPE");
    EXPECT_NE(kv.first, "HTTP_CONTENT_LENGTH");
  }
  int ct = 0, cl = 0;
  for (auto& kv : p.head.vars) {
    ct += kv.first == "CONTENT_TYPE";
    cl += kv.first == "CONTENT_LENGTH";
  }
  EXPECT_EQ(ct, 1);
  EXPECT_EQ(cl, 1);
}

TEST(HttpParse, RepeatedHeadersJoined) {
  Parsed p = parse(
      "GET / HTTP/1.1\r\nAccept: a\r\nX-A: 1\r\naccept: b\r\nX_A: 2\r\nAccept: c\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("HTTP_ACCEPT"), "a, b, c");
  EXPECT_EQ(p.head.find("HTTP_X_A"), "1, 2");
  int n = 0;
  for (auto& kv : p.head.vars) n += kv.first == "HTTP_ACCEPT";
  EXPECT_EQ(n, 1);
}

TEST(HttpParse, EmptyHeaderValue) {
  Parsed p = parse("GET / HTTP/1.1\r\nX-Empty:\r\nX-B: b\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  bool found = false;
  for (auto& kv : p.head.vars)
    if (kv.first == "HTTP_X_EMPTY") {
      found = true;
      EXPECT_EQ(kv.second, "");
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(p.head.find("HTTP_X_B"), "b");
}

TEST(HttpParse, PathPercentDecoded) {
  Parsed p = parse("GET /a%20b/%C3%A9%2Fx?q=%20 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_EQ(p.head.find("PATH_INFO"), "/a b/\xC3\xA9/x");
  EXPECT_EQ(p.head.find("QUERY_STRING"), "q=%20");
  EXPECT_EQ(p.head.find("REQUEST_URI"), "/a%20b/%C3%A9%2Fx?q=%20");
}

TEST(HttpParse, BadPercentEscapesAre400) {
  EXPECT_EQ(error_status("GET /a%00b HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET /a%zz HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET /a%4 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET /a% HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpParse, AbsoluteFormTarget) {
  Parsed p = parse("GET http://example.org:81/p%41th?x=y HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("PATH_INFO"), "/pAth");
  EXPECT_EQ(p.head.find("QUERY_STRING"), "x=y");
  EXPECT_EQ(p.head.find("REQUEST_URI"), "http://example.org:81/p%41th?x=y");
  EXPECT_EQ(p.head.find("SERVER_NAME"), "example.org");
  EXPECT_EQ(p.head.find("SERVER_PORT"), "81");

  Parsed q = parse("GET http://example.org HTTP/1.1\r\n\r\n");
  ASSERT_EQ(q.r, ParseResult::kComplete) << q.err.message;
  EXPECT_EQ(q.head.find("PATH_INFO"), "/");
  EXPECT_EQ(q.head.find("SERVER_NAME"), "example.org");
  EXPECT_EQ(q.head.find("SERVER_PORT"), "8080");
}

TEST(HttpParse, ServerNameFallsBackToConn) {
  Parsed p = parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_EQ(p.head.find("SERVER_NAME"), "127.0.0.1");
  EXPECT_EQ(p.head.find("SERVER_PORT"), "8080");
  EXPECT_EQ(p.head.find("SERVER_PROTOCOL"), "HTTP/1.0");
  EXPECT_EQ(p.head.http_minor, 0);

  Parsed q = parse("GET / HTTP/1.1\r\nHost: name.only\r\n\r\n");
  ASSERT_EQ(q.r, ParseResult::kComplete);
  EXPECT_EQ(q.head.find("SERVER_NAME"), "name.only");
  EXPECT_EQ(q.head.find("SERVER_PORT"), "8080");

  Parsed v6 = parse("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
  ASSERT_EQ(v6.r, ParseResult::kComplete);
  EXPECT_EQ(v6.head.find("SERVER_NAME"), "[::1]");
  EXPECT_EQ(v6.head.find("SERVER_PORT"), "8443");
}

TEST(HttpParse, KeepAliveRules) {
  auto ka = [](std::string_view s) {
    Parsed p = parse(s);
    EXPECT_EQ(p.r, ParseResult::kComplete) << s;
    return p.head.keep_alive;
  };
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
}

TEST(HttpParse, ExpectContinue) {
  Parsed p = parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_TRUE(p.head.expect_continue);
  EXPECT_EQ(p.head.find("HTTP_EXPECT"), "100-continue");
}

TEST(HttpParse, Chunked) {
  Parsed p = parse("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_TRUE(p.head.chunked);
  EXPECT_EQ(p.head.content_length, 0);
  EXPECT_EQ(p.head.head_len, std::string_view("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").size());
  EXPECT_EQ(p.head.find("CONTENT_LENGTH"), "");
}

TEST(HttpParse, PipelinedBytesAfterHead) {
  std::string first = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string second = "GET /two HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string buf = first + second + "GARB";
  Parsed p = parse(buf);
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_EQ(p.head.head_len, first.size());
  EXPECT_EQ(p.head.find("PATH_INFO"), "/one");
  Parsed q = parse(std::string_view(buf).substr(p.head.head_len));
  ASSERT_EQ(q.r, ParseResult::kComplete);
  EXPECT_EQ(q.head.head_len, second.size());
  EXPECT_EQ(q.head.find("PATH_INFO"), "/two");

  // A body after the head is not part of head_len.
  std::string post = "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
  Parsed r = parse(post + "abcGET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.r, ParseResult::kComplete);
  EXPECT_EQ(r.head.head_len, post.size());
  EXPECT_EQ(r.head.content_length, 3);
}

TEST(HttpParse, LeadingEmptyLinesAndBareLf) {
  std::string req = "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  Parsed p = parse(req);
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.head_len, req.size());
  EXPECT_EQ(p.head.find("PATH_INFO"), "/x");

  std::string lf = "GET /y HTTP/1.1\nHost: b\n\nrest";
  Parsed q = parse(lf);
  ASSERT_EQ(q.r, ParseResult::kComplete) << q.err.message;
  EXPECT_EQ(q.head.head_len, lf.size() - 4);
  EXPECT_EQ(q.head.find("HTTP_HOST"), "b");
}

TEST(HttpParse, EverySplitPointIsIncompleteThenSame) {
  std::string req =
      "POST /a%20b?c=d HTTP/1.1\r\nHost: example.com:81\r\nContent-Type: x/y\r\n"
      "Content-Length: 4\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n";
  std::string with_body = req + "body";
  Parsed full = parse(with_body);
  ASSERT_EQ(full.r, ParseResult::kComplete);
  for (size_t k = 0; k < req.size(); k++) {
    Parsed p = parse(std::string_view(req).substr(0, k));
    ASSERT_EQ(p.r, ParseResult::kIncomplete) << "split at " << k;
  }
  Parsed exact = parse(req);
  ASSERT_EQ(exact.r, ParseResult::kComplete);
  EXPECT_EQ(vars_of(exact.head), vars_of(full.head));
  EXPECT_EQ(exact.head.head_len, req.size());
  EXPECT_EQ(full.head.head_len, req.size());
  EXPECT_EQ(exact.head.content_length, 4);
}

TEST(HttpParse, HeadTooLargeIs431) {
  std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n";
  EXPECT_EQ(error_status(big, 100), 431);
  // Incomplete and already at the limit: no point waiting.
  EXPECT_EQ(error_status(big.substr(0, 100), 100), 431);
  EXPECT_EQ(parse(big.substr(0, 99), 100).r, ParseResult::kIncomplete);
  // Exactly max_head is fine.
  EXPECT_EQ(parse(big, big.size()).r, ParseResult::kComplete);
  EXPECT_EQ(error_status(big, big.size() - 1), 431);
}

TEST(HttpParse, LargeHeadBeyondHttpParserDefault) {
  std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n";
  Parsed p = parse(big, 200000);
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("HTTP_X_BIG").size(), 100000u);
}

TEST(HttpParse, ContentLengthErrors) {
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400);
  Parsed max = parse("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n");
  ASSERT_EQ(max.r, ParseResult::kComplete);
  EXPECT_EQ(max.head.content_length, 9223372036854775807LL);
}

TEST(HttpParse, TransferEncodingErrors) {
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(error_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
  Parsed p = parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete);
  EXPECT_TRUE(p.head.chunked);
}

TEST(HttpParse, GarbageIs400) {
  EXPECT_EQ(error_status(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)), 400);
  EXPECT_EQ(error_status("hello world\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\n: novalue\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET /a b HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTX/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/2.0\r\n\r\n"), 505);
}

TEST(HttpParse, GarbageDetectedBeforeTerminator) {
  // Binary junk is rejected at once rather than waiting for a blank line that never comes.
  EXPECT_EQ(error_status("\x16\x03\x01"), 400);
  EXPECT_EQ(error_status("G(T / HTTP/1.1\r\n"), 400);
}

// Issue 21.4: a bare CR is never a line end nor skipped with the byte after it. Before, the
// "X" of "XContent-Length" was eaten and the request was framed with a body of 5.
TEST(HttpParse, BareCrAnywhereInTheHeadIs400) {
  EXPECT_EQ(error_status("POST /c HTTP/1.1\r\nHost: a\r\nX:\rXContent-Length: 5\r\n\r\nhello"), 400);
  EXPECT_EQ(error_status("POST /c HTTP/1.1\r\nHost: a\r\nX:\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\r\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX\r: a\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\n\rX: a\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\r\n\r\r\n"), 400);
  EXPECT_EQ(error_status("GET /\r HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\r\n\r\n"), 400);
  EXPECT_EQ(error_status("\rGET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("\r\n\rGET / HTTP/1.1\r\n\r\n"), 400);
  // Known as soon as the line with the CR is complete: no waiting for the blank line.
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX:\rY: 1\r\n"), 400);
  // A CR last in the buffer may be the first half of a CRLF: wait.
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: 1\r").r, ParseResult::kIncomplete);
  EXPECT_EQ(parse("\r").r, ParseResult::kIncomplete);
}

// Issue 21.7: a method is any token (RFC 9110 9.1); the app decides what it serves.
TEST(HttpParse, AnyTokenMethodReachesTheApp) {
  for (std::string m : {"QUERY", "FOO", "BREW", "-BLARGH", "M-SEARCH", "PROPFIND", "get", "A!#$%&'*+.^_`|~9"}) {
    std::string req = m + " /x HTTP/1.1\r\nHost: a\r\n\r\n";  // the views point into it
    Parsed p = parse(req);
    ASSERT_EQ(p.r, ParseResult::kComplete) << m << ": " << p.err.message;
    EXPECT_EQ(p.head.find("REQUEST_METHOD"), m);
  }
  EXPECT_EQ(error_status("GE(T / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status(" GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET  / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1 \r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET /\t HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.10\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / http/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_status("CONNECT a:443 HTTP/1.1\r\n\r\n"), 501);
}

// Issue 21.8: OWS is SP or HTAB on both sides of a value (RFC 9110 5.6.3).
TEST(HttpParse, ContentLengthOwsIncludesTab) {
  Parsed p = parse("POST / HTTP/1.1\r\nContent-Length:\t42\t\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.content_length, 42);
  EXPECT_EQ(p.head.find("CONTENT_LENGTH"), "42");
  Parsed q = parse("GET / HTTP/1.1\r\nX-A: \t v a l \t \r\n\r\n");
  ASSERT_EQ(q.r, ParseResult::kComplete) << q.err.message;
  EXPECT_EQ(q.head.find("HTTP_X_A"), "v a l");
}

// Issue 21.8: asterisk-form is for OPTIONS only (RFC 9112 3.2.4).
TEST(HttpParse, AsteriskTargetOnlyForOptions) {
  EXPECT_EQ(error_status("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(error_status("POST * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(error_status("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"), 501);  // an extension's own use
  Parsed p = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("PATH_INFO"), "*");
}

// Issue 21.8: control bytes in a field value are errors, not content (RFC 9110 5.5).
TEST(HttpParse, ControlBytesInValuesAre400) {
  EXPECT_EQ(error_status("GET /url HTTP/1.1\r\nHeader1: \f\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\fb\r\n\r\n"), 400);
  EXPECT_EQ(error_status(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27)), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), 400);
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nX : a\r\n\r\n"), 400);  // space before the colon
  EXPECT_EQ(error_status("GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
  Parsed p = parse("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n");  // obs-text is allowed
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("HTTP_X"), "caf\xc3\xa9");
}

// Issue 21.8: the target's authority is the host (RFC 9112 3.2.2): HTTP_HOST too, not only
// SERVER_NAME, so the app never sees two different hosts.
TEST(HttpParse, AbsoluteFormTargetSetsHttpHost) {
  Parsed p = parse("GET http://example.org:81/p HTTP/1.1\r\nHost: evil.example\r\n\r\n");
  ASSERT_EQ(p.r, ParseResult::kComplete) << p.err.message;
  EXPECT_EQ(p.head.find("HTTP_HOST"), "example.org:81");
  EXPECT_EQ(p.head.find("SERVER_NAME"), "example.org");
  Parsed q = parse("GET http://[::1]:8080/foo HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(q.r, ParseResult::kComplete) << q.err.message;
  EXPECT_EQ(q.head.find("HTTP_HOST"), "[::1]:8080");
}

// Issue 21.8: an HTTP/0.9 request line is answered at once, not waited on as an unfinished head.
TEST(HttpParse, Http09RequestLineFailsAtOnce) {
  EXPECT_EQ(error_status("GET /x\r\n"), 400);
  EXPECT_EQ(error_status("GET /x\n"), 400);
  EXPECT_EQ(error_status("GET\r\n"), 400);
}

}  // namespace
}  // namespace uwsgi
