// LogEncoder: parsing (kinds, logger names, template variables), each encoder, chains, JSON
// escaping; the syslog frame and facility names; LogRoute parsing.
#include <gtest/gtest.h>

#include "log/log_encoder.h"
#include "log/log_route.h"
#include "log/loggers.h"

namespace uwsgi {
namespace {

std::string run(const std::string& spec, const std::string& in, timespec now = {1700000000, 123456789}) {
  LogEncoder e;
  std::string err, out;
  EXPECT_TRUE(e.parse(spec, &err)) << err;
  e.apply(in, now, &out);
  return out;
}

TEST(LogEncoder, PrefixSuffixNl) {
  EXPECT_EQ(run("prefix [app] ", "line\n"), "[app] line\n");
  EXPECT_EQ(run("suffix  END", "line\n"), "line\n END");  // one space separates, the rest is the text
  EXPECT_EQ(run("nl", "line"), "line\n");
}

TEST(LogEncoder, FormatVariables) {
  EXPECT_EQ(run("format ${unix} ${millis} ${micros} <${msg}> <${msgnl}>", "hi\n"),
            "1700000000 1700000000123 1700000000123456 <hi> <hi\n>");
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(run("format ${strftime:%Y-%m-%dT%H:%M:%S} ${msg}", "x\n"), "2023-11-14T22:13:20 x");
  EXPECT_EQ(run("format no variables", "x\n"), "no variables");
}

TEST(LogEncoder, JsonEscapes) {
  std::string out = run("json {\"msg\":\"${msg}\",\"raw\":\"${msgnl}\"}", "a\"b\\c\td\x01\x7f\n");
  EXPECT_EQ(out, "{\"msg\":\"a\\\"b\\\\c\\td\\u0001\\u007f\",\"raw\":\"a\\\"b\\\\c\\td\\u0001\\u007f\\n\"}");
}

TEST(LogEncoder, JsonKeepsUtf8AndEscapesBadBytes) {
  std::string out;
  json_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", &out);
  EXPECT_EQ(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  out.clear();
  json_escape("\xff\xc3(\xed\xa0\x80\xe2\x82", &out);  // stray, truncated, surrogate, cut at the end
  EXPECT_EQ(out, "\\u00ff\\u00c3(\\u00ed\\u00a0\\u0080\\u00e2\\u0082");
}

TEST(LogEncoder, LoggerName) {
  LogEncoder e;
  std::string err;
  ASSERT_TRUE(e.parse("json:mylogger {\"a\":\"${msg}\"}", &err)) << err;
  EXPECT_EQ(e.kind(), "json");
  EXPECT_EQ(e.logger(), "mylogger");
  ASSERT_TRUE(e.parse("nl", &err));
  EXPECT_EQ(e.logger(), "");
}

TEST(LogEncoder, Rejects) {
  for (const char* bad : {"gzip", "compress", "msgpack map:1", "rot13", "format ${nope}", "json ${msg",
                          "format ${strftim:%Y}", "json", "format"}) {
    LogEncoder e;
    std::string err;
    EXPECT_FALSE(e.parse(bad, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
}

TEST(LogEncoder, Chain) {
  LogEncoder a, b, c;
  std::string err, out;
  ASSERT_TRUE(a.parse("format <${msg}>", &err));
  ASSERT_TRUE(b.parse("prefix P", &err));
  ASSERT_TRUE(c.parse("nl", &err));
  encode_line({&a, &b, &c}, "x\n", &out);
  EXPECT_EQ(out, "P<x>\n");
  encode_line({}, "same\n", &out);
  EXPECT_EQ(out, "same\n");
}

TEST(Syslog, FrameAndFacilities) {
  setenv("TZ", "UTC", 1);
  tzset();
  std::string f = syslog_frame(30, "", "uwsgi", "hello", 1700000000);
  EXPECT_EQ(f.substr(0, 25), "<30>Nov 14 22:13:20 uwsgi");
  EXPECT_EQ(f.substr(f.size() - 8), "]: hello");
  EXPECT_EQ(syslog_frame(30, "", "u", "m", 1699000000).substr(0, 10), "<30>Nov  3");  // day padded
  EXPECT_NE(syslog_frame(158, "web1", "app", "m", 1700000000).find(" web1 app["), std::string::npos);
  EXPECT_EQ(syslog_facility("daemon"), 3);
  EXPECT_EQ(syslog_facility("local7"), 23);
  EXPECT_EQ(syslog_facility("16"), 16);
  EXPECT_EQ(syslog_facility("local8"), -1);
  EXPECT_EQ(syslog_facility("24"), -1);
  EXPECT_EQ(syslog_facility("nope"), -1);
}

TEST(LogRoute, ParseAndMatch) {
  LogRoute r;
  std::string err;
  ASSERT_TRUE(r.parse("errors (HTTP/1.\\d 5\\d\\d)", &err)) << err;
  EXPECT_EQ(r.logger, "errors");
  EXPECT_TRUE(r.regex.matches("GET / => generated 0 bytes in 1 msecs (HTTP/1.1 503)"));
  EXPECT_FALSE(r.regex.matches("GET / => generated 0 bytes in 1 msecs (HTTP/1.1 200)"));
  LogRoute bad;
  EXPECT_FALSE(bad.parse("name", &err));
  EXPECT_FALSE(bad.parse("name (open", &err));
  EXPECT_NE(err.find("(open"), std::string::npos);
}

}  // namespace
}  // namespace uwsgi
