// The spool file format (uWSGI's): a uwsgi packet with modifier1 17 and le16 sizes, then the body.
#include <gtest/gtest.h>

#include "process/spooler.h"

namespace uwsgi {
namespace {

TEST(SpoolFile, RoundTripAndLayout) {
  SpoolTask t;
  t.vars = {{"a", "1"}, {"key", ""}};
  t.body = std::string("B\0DY", 4);
  std::string data, err;
  ASSERT_TRUE(encode_spool_file(t, &data, &err)) << err;
  const std::string want = std::string("\x11\x0d\x00\x00", 4) + std::string("\x01\x00" "a" "\x01\x00" "1", 6) +
                           std::string("\x03\x00" "key" "\x00\x00", 7) + t.body;
  EXPECT_EQ(data, want);
  SpoolTask back;
  ASSERT_TRUE(decode_spool_file(data, &back, &err)) << err;
  EXPECT_EQ(back.vars, t.vars);
  EXPECT_EQ(back.body, t.body);
}

TEST(SpoolFile, RefusesBadInput) {
  SpoolTask t, out;
  std::string data, err;
  t.vars = {{"k", std::string(70000, 'x')}};
  EXPECT_FALSE(encode_spool_file(t, &data, &err));
  EXPECT_FALSE(decode_spool_file("", &out, &err));
  EXPECT_FALSE(decode_spool_file(std::string("\x00\x00\x00\x00", 4), &out, &err));  // not modifier1 17
  EXPECT_FALSE(decode_spool_file(std::string("\x11\x09\x00\x00\x01\x00" "a", 7), &out, &err));  // truncated
  EXPECT_FALSE(decode_spool_file(std::string("\x11\x03\x00\x00\x05\x00" "a", 7), &out, &err));  // key past the end
}

}  // namespace
}  // namespace uwsgi
