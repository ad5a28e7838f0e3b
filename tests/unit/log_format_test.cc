// LogFormat: compiling (unknown variables, unterminated %(), literals) and rendering each piece.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "log/log_format.h"

namespace uwsgi {
namespace {

std::map<std::string, std::string, std::less<>> g_vars = {
    {"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a?b"}, {"HTTP_X_ID", "42"}};

std::string_view find(const void*, std::string_view name) {
  auto it = g_vars.find(name);
  return it == g_vars.end() ? std::string_view() : std::string_view(it->second);
}

RequestLogData data() {
  RequestLogData d;
  d.find_var = find;
  d.addr = "10.0.0.1";
  d.proto = "HTTP/1.1";
  d.status = 404;
  d.body_bytes = 11;
  d.head_bytes = 50;
  d.headers = 2;
  d.start_us = 1700000000123456ULL;
  d.end_us = d.start_us + 2500;
  d.pid = 7;
  d.wid = 3;
  d.core = 1;
  d.content_length = 5;
  return d;
}

std::string render(const std::string& fmt) {
  LogFormat f;
  std::string err;
  EXPECT_TRUE(f.compile(fmt, &err)) << err;
  std::string out;
  f.render(data(), &out);
  return out;
}

TEST(LogFormat, Variables) {
  EXPECT_EQ(render("%(addr) %(user) \"%(method) %(uri) %(proto)\" %(status) %(size) %(hsize) %(rsize) %(cl)"),
            "10.0.0.1 - \"GET /a?b HTTP/1.1\" 404 61 50 11 5");
  EXPECT_EQ(render("%(msecs) %(micros) %(secs) %(time) %(tmsecs) %(tmicros)"),
            "2 2500 0.002500 1700000000 1700000000123 1700000000123456");
  EXPECT_EQ(render("%(pid)/%(wid)/%(core)/%(headers) %(var.HTTP_X_ID) %(var.HTTP_NONE) %(referer)"),
            "7/3/1/2 42 - -");
}

TEST(LogFormat, LiteralsAndPercentSigns) {
  EXPECT_EQ(render("plain 100% (text)"), "plain 100% (text)");
  EXPECT_EQ(render(""), "");
  EXPECT_EQ(render("%(status)%(status)"), "404404");
}

std::string_view find_logvar(const void*, std::string_view name) {
  return name == "who" ? std::string_view("alice") : std::string_view();
}

// %(NAME) for names that logvar: routing actions set: known only when declared at compile time.
TEST(LogFormat, UserLogvars) {
  LogFormat f;
  std::string err;
  EXPECT_FALSE(f.compile("%(who)", &err));
  EXPECT_NE(err.find("logvar:"), std::string::npos) << err;
  ASSERT_TRUE(f.compile("who=%(who) other=%(other) %(status)", &err, {"who", "other"})) << err;
  RequestLogData d = data();
  std::string out;
  f.render(d, &out);
  EXPECT_EQ(out, "who=- other=- 404");  // no lookup given: none set
  d.find_logvar = find_logvar;
  out.clear();
  f.render(d, &out);
  EXPECT_EQ(out, "who=alice other=- 404");
}

TEST(LogFormat, BadFormatsAreRefused) {
  LogFormat f;
  std::string err;
  EXPECT_FALSE(f.compile("%(adr)", &err));
  EXPECT_NE(err.find("%(adr)"), std::string::npos);
  EXPECT_FALSE(f.compile("%(addr", &err));
  EXPECT_NE(err.find("unterminated"), std::string::npos);
}

}  // namespace
}  // namespace uwsgi
