// The respawn back-off every supervised process shares (process/supervised_process.h).
#include "process/supervised_process.h"

#include <gtest/gtest.h>

namespace uwsgi {
namespace {

TEST(Backoff, NormalLifeRespawnsAtOnce) {
  Backoff b;
  EXPECT_EQ(b.on_exit(5000), 0u);
  EXPECT_EQ(b.on_exit(1000), 0u);  // exactly young_ms is a normal life
  EXPECT_EQ(b.young_in_a_row(), 0);
}

TEST(Backoff, DoublesWhileDyingYoungUpToTheMax) {
  Backoff b({1000, 1000, 30000});
  const uint64_t want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (uint64_t w : want) EXPECT_EQ(b.on_exit(10), w);
  EXPECT_EQ(b.young_in_a_row(), 8);
}

TEST(Backoff, NeverZeroForAYoungDeath) {
  // Whatever the policy says, a process that keeps dying at once is never forked in a tight loop.
  Backoff b({1000, 1000, 0});
  EXPECT_EQ(b.on_exit(0), 1000u);
  EXPECT_EQ(b.on_exit(0), 1000u);
  Backoff z({1000, 0, 0});
  EXPECT_EQ(z.on_exit(0), 100u);
  EXPECT_EQ(z.on_exit(0), 100u);
}

TEST(Backoff, OneNormalLifeResetsTheStreak) {
  Backoff b({2000, 1000, 30000});
  EXPECT_EQ(b.on_exit(100), 1000u);
  EXPECT_EQ(b.on_exit(100), 2000u);
  EXPECT_EQ(b.on_exit(2500), 0u);
  EXPECT_EQ(b.on_exit(100), 1000u);
}

TEST(Backoff, AnEndTheMasterAskedForIsNoCrash) {
  Backoff b;
  EXPECT_EQ(b.on_exit(10), 1000u);
  EXPECT_EQ(b.on_exit(10, false), 0u);  // recycled, harakiri: respawned at once, streak reset
  EXPECT_EQ(b.young_in_a_row(), 0);
  EXPECT_EQ(b.on_exit(10), 1000u);
}

TEST(Backoff, DaemonThrottleSteps) {
  // attach-daemon2 freq=10,max_throttle=5: 1, 2, 4, 5, 5 s.
  Backoff b({10000, 1000, 5000});
  const uint64_t want[] = {1000, 2000, 4000, 5000, 5000};
  for (uint64_t w : want) EXPECT_EQ(b.on_exit(9999), w);
}

TEST(SupervisedProcess, ExitedSchedulesTheRespawn) {
  SupervisedProcess p;
  p.pid = 42;
  p.started_ms = 10000;
  EXPECT_EQ(p.exited(10300), 1000u);
  EXPECT_EQ(p.pid, 0);
  EXPECT_FALSE(p.due(11299));
  EXPECT_TRUE(p.due(11300));
  p.pid = 43;
  p.started_ms = 20000;
  EXPECT_EQ(p.exited(25000), 0u);
  EXPECT_TRUE(p.due(25000));
}

TEST(SupervisedProcess, KindNamesAndStats) {
  SupervisedProcess p;
  p.kind = ProcessKind::kMule;
  p.id = 2;
  p.name = "mule 2";
  p.pid = 7;
  p.respawns = 3;
  p.last_spawn = 1700000000;
  SupervisedStat s = supervised_stat(p);
  EXPECT_EQ(s.kind, "mule");
  EXPECT_EQ(s.id, 2);
  EXPECT_EQ(s.pid, 7);
  EXPECT_EQ(s.respawn_count, 3u);
  EXPECT_EQ(s.last_spawn, 1700000000u);
  EXPECT_STREQ(process_kind_name(ProcessKind::kRouter), "router");
  EXPECT_STREQ(process_kind_name(ProcessKind::kDaemon), "daemon");
}

}  // namespace
}  // namespace uwsgi
