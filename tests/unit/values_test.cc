// Option value checks (core/config/values.cc): whole numbers for numeric options, bounded
// integers, socket address ports.
#include <gtest/gtest.h>

#include <string>

#include "config/options.h"
#include "config/values.h"

namespace {

using uwsgi::check_socket_address;
using uwsgi::parse_count;

TEST(ParseCount, DigitsOnly) {
  long long n = -1;
  EXPECT_TRUE(parse_count("0", &n));
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(parse_count("0042", &n));
  EXPECT_EQ(n, 42);
  EXPECT_TRUE(parse_count("9223372036854775807", &n));
  EXPECT_EQ(n, 9223372036854775807LL);
  for (const char* bad : {"", "-5", "+5", " 5", "5 ", "5s", "1e6", "0x10", "9223372036854775808",
                          "99999999999999999999", "-", "4.5"})
    EXPECT_FALSE(parse_count(bad, &n)) << bad;
}

TEST(GetBounded, DefaultRangeAndMessage) {
  uwsgi::ConfigStore c;
  long long v = 0;
  std::string err;
  EXPECT_TRUE(uwsgi::get_bounded(c, "listen", 100, 1, 65535, &v, &err));
  EXPECT_EQ(v, 100);
  c.add("listen", "70000");
  EXPECT_FALSE(uwsgi::get_bounded(c, "listen", 100, 1, 65535, &v, &err));
  EXPECT_NE(err.find("--listen"), std::string::npos) << err;
  EXPECT_NE(err.find("70000"), std::string::npos) << err;
  c.add("listen", "1024");
  EXPECT_TRUE(uwsgi::get_bounded(c, "listen", 100, 1, 65535, &v, &err));
  EXPECT_EQ(v, 1024);
}

TEST(SocketAddress, Ports) {
  std::string err;
  for (const char* ok : {"127.0.0.1:0", ":8080", "[::1]:65535", "localhost:80", "/tmp/a.sock", "a.sock",
                         "@abstract"})
    EXPECT_TRUE(check_socket_address(ok, &err)) << ok;
  for (const char* bad : {"127.0.0.1:99999", ":65536", ":-1", "127.0.0.1:80x", "127.0.0.1:", ":+80", ""}) {
    err.clear();
    EXPECT_FALSE(check_socket_address(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

}  // namespace
