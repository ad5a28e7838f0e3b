// Cron field matching (-1 any, -N every N, classic day/weekday OR) and the --cron/--cron2 parsers.
#include <gtest/gtest.h>

#include "process/cron.h"

namespace uwsgi {
namespace {

struct tm at(int min, int hour, int mday, int mon1, int wday) {
  struct tm t {};
  t.tm_min = min;
  t.tm_hour = hour;
  t.tm_mday = mday;
  t.tm_mon = mon1 - 1;
  t.tm_wday = wday;
  return t;
}

TEST(Cron, FieldsMatchAnyExactAndEveryN) {
  CronFields any;
  EXPECT_TRUE(cron_matches(any, at(7, 3, 9, 5, 2)));
  CronFields every5{-5, -1, -1, -1, -1};
  EXPECT_TRUE(cron_matches(every5, at(10, 3, 9, 5, 2)));
  EXPECT_FALSE(cron_matches(every5, at(11, 3, 9, 5, 2)));
  CronFields exact{30, 2, -1, -1, -1};
  EXPECT_TRUE(cron_matches(exact, at(30, 2, 1, 1, 0)));
  EXPECT_FALSE(cron_matches(exact, at(30, 3, 1, 1, 0)));
  CronFields month{0, 0, -1, 12, -1};
  EXPECT_FALSE(cron_matches(month, at(0, 0, 1, 11, 0)));
  EXPECT_TRUE(cron_matches(month, at(0, 0, 1, 12, 0)));
}

TEST(Cron, DayAndWeekdayBothRestrictedMatchEither) {
  CronFields f{0, 0, 1, -1, 1};  // the 1st of the month, or a Monday
  EXPECT_TRUE(cron_matches(f, at(0, 0, 1, 3, 4)));
  EXPECT_TRUE(cron_matches(f, at(0, 0, 17, 3, 1)));
  EXPECT_FALSE(cron_matches(f, at(0, 0, 17, 3, 2)));
}

TEST(Cron, ParsesCronLines) {
  CronFields f;
  std::string cmd, err;
  ASSERT_TRUE(parse_cron_line("-5 -1 -1 -1 -1 echo hi >> /tmp/x", &f, &cmd, &err)) << err;
  EXPECT_EQ(f.minute, -5);
  EXPECT_EQ(cmd, "echo hi >> /tmp/x");
  EXPECT_FALSE(parse_cron_line("61 -1 -1 -1 -1 x", &f, &cmd, &err));
  EXPECT_NE(err.find("minute"), std::string::npos);
  EXPECT_FALSE(parse_cron_line("-1 -1 -1 -1 -1", &f, &cmd, &err));
  EXPECT_FALSE(parse_cron_line("a -1 -1 -1 -1 x", &f, &cmd, &err));
}

TEST(Cron, ParsesCron2) {
  CronFields f;
  std::string cmd, err;
  bool unique = false;
  int harakiri = 0;
  ASSERT_TRUE(parse_cron2("minute=-2,hour=3,week=1,unique=1,harakiri=30 /bin/true now", &f, &cmd, &unique,
                          &harakiri, &err))
      << err;
  EXPECT_EQ(f.minute, -2);
  EXPECT_EQ(f.hour, 3);
  EXPECT_EQ(f.weekday, 1);
  EXPECT_TRUE(unique);
  EXPECT_EQ(harakiri, 30);
  EXPECT_EQ(cmd, "/bin/true now");
  EXPECT_FALSE(parse_cron2("colour=3 x", &f, &cmd, &unique, &harakiri, &err));
  EXPECT_NE(err.find("colour"), std::string::npos);
  EXPECT_FALSE(parse_cron2("minute=1", &f, &cmd, &unique, &harakiri, &err));
}

}  // namespace
}  // namespace uwsgi
