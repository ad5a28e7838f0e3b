// The pure parts of static responses: byte ranges, Accept-Encoding, HTTP dates.
#include <gtest/gtest.h>

#include "static/static_response.h"

namespace uwsgi {
namespace {

TEST(ByteRange, SingleRangesAndSuffixes) {
  long long a = -1, b = -1;
  EXPECT_EQ(parse_byte_range("bytes=0-9", 100, &a, &b), RangeResult::kPartial);
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 9);
  EXPECT_EQ(parse_byte_range("bytes=90-", 100, &a, &b), RangeResult::kPartial);
  EXPECT_EQ(b, 99);
  EXPECT_EQ(parse_byte_range("bytes=50-500", 100, &a, &b), RangeResult::kPartial);
  EXPECT_EQ(b, 99);  // clipped to the end
  EXPECT_EQ(parse_byte_range("bytes=-10", 100, &a, &b), RangeResult::kPartial);
  EXPECT_EQ(a, 90);
  EXPECT_EQ(parse_byte_range("bytes=-1000", 100, &a, &b), RangeResult::kPartial);
  EXPECT_EQ(a, 0);
}

TEST(ByteRange, UnsatisfiableAndIgnored) {
  long long a, b;
  EXPECT_EQ(parse_byte_range("bytes=100-", 100, &a, &b), RangeResult::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=-0", 100, &a, &b), RangeResult::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=0-", 0, &a, &b), RangeResult::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=0-1,4-5", 100, &a, &b), RangeResult::kWhole);
  EXPECT_EQ(parse_byte_range("bytes=9-1", 100, &a, &b), RangeResult::kWhole);
  EXPECT_EQ(parse_byte_range("items=0-1", 100, &a, &b), RangeResult::kWhole);
  EXPECT_EQ(parse_byte_range("bytes=x-1", 100, &a, &b), RangeResult::kWhole);
  EXPECT_EQ(parse_byte_range("bytes=1-2x", 100, &a, &b), RangeResult::kWhole);
  EXPECT_EQ(parse_byte_range("bytes=99999999999999999999-", 100, &a, &b), RangeResult::kWhole);
}

TEST(AcceptEncoding, GzipUnlessRefused) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("br,gzip"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip; q=0.000, br"));
  EXPECT_FALSE(accepts_gzip("x-gzipped, br"));
  EXPECT_FALSE(accepts_gzip(""));
}

TEST(HttpDate, RoundTrip) {
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  time_t t = 0;
  ASSERT_TRUE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t));
  EXPECT_EQ(t, 784111777);
  EXPECT_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t));
  EXPECT_FALSE(parse_http_date("garbage", &t));
}

}  // namespace
}  // namespace uwsgi
