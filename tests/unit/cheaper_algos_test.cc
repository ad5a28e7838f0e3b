// The cheaper algorithms (core/process/cheaper_algos.h), one tick (a second) at a time.
#include "process/cheaper_algos.h"

#include <gtest/gtest.h>

namespace {

using uwsgi::CheaperParams;
using uwsgi::CheaperTick;

CheaperParams params(int min, int max) {
  CheaperParams p;
  p.min = min;
  p.max = max;
  return p;
}

CheaperTick tick(uint64_t s, int running, int idle, long backlog = 0, double busy_share = 0) {
  CheaperTick t;
  t.now_ms = s * 1000;
  t.running = running;
  t.idle = idle;
  t.backlog = backlog;
  for (int id = 1; id <= running; id++) t.shares.push_back({id, busy_share * 1000, 1000});
  return t;
}

TEST(CheaperAlgos, UnknownNamesAreRefused) {
  EXPECT_EQ(uwsgi::make_cheaper_algo("sparse", params(1, 4)), nullptr);
  for (auto& n : uwsgi::cheaper_algo_names()) EXPECT_NE(uwsgi::make_cheaper_algo(n, params(1, 4)), nullptr) << n;
}

TEST(CheaperAlgos, SpareSpawnsAfterOverloadBusySecondsAndStopsAfterAsManyIdle) {
  CheaperParams p = params(1, 4);
  p.overload = 3;
  p.step = 2;
  auto a = uwsgi::make_cheaper_algo("spare", p);
  EXPECT_EQ(a->decide(tick(1, 1, 0)).delta, 0);
  EXPECT_EQ(a->decide(tick(2, 1, 0)).delta, 0);
  EXPECT_EQ(a->decide(tick(3, 1, 0)).delta, 2);
  EXPECT_EQ(a->decide(tick(4, 3, 0)).delta, 0);  // the count starts again
  // One idle worker is neither overloaded nor idle: nothing moves, both counts reset.
  EXPECT_EQ(a->decide(tick(5, 3, 1)).delta, 0);
  EXPECT_EQ(a->decide(tick(6, 3, 2)).delta, 0);
  EXPECT_EQ(a->decide(tick(7, 3, 2)).delta, 0);
  EXPECT_EQ(a->decide(tick(8, 3, 3)).delta, -1);
  // Never under --cheaper, never over --processes.
  EXPECT_EQ(a->decide(tick(9, 1, 2)).delta, 0);
  for (int s = 10; s < 20; s++) EXPECT_EQ(a->decide(tick(s, 4, 0)).delta, 0);
}

TEST(CheaperAlgos, Spare2KeepsCheaperWorkersIdle) {
  CheaperParams p = params(2, 8);
  p.step = 1;
  p.idle = 2;
  auto a = uwsgi::make_cheaper_algo("spare2", p);
  EXPECT_EQ(a->decide(tick(1, 2, 0)).delta, 1);  // 2 wanted idle, at most step at once
  p.step = 4;
  a = uwsgi::make_cheaper_algo("spare2", p);
  EXPECT_EQ(a->decide(tick(1, 2, 0)).delta, 2);
  EXPECT_EQ(a->decide(tick(2, 4, 2)).delta, 0);
  EXPECT_EQ(a->decide(tick(3, 4, 3)).delta, 0);
  EXPECT_EQ(a->decide(tick(4, 4, 3)).delta, -1);  // more than 2 idle for --cheaper-idle ticks
  EXPECT_EQ(a->decide(tick(5, 3, 3)).delta, 0);
  EXPECT_EQ(a->decide(tick(6, 3, 2)).delta, 0);  // back to 2 idle: the count resets
  EXPECT_EQ(a->decide(tick(7, 3, 3)).delta, 0);
}

TEST(CheaperAlgos, BacklogSpawnsOverTheQueueLengthAndStopsOnlyWhenEmptyAndIdle) {
  CheaperParams p = params(1, 4);
  p.overload = 2;
  auto a = uwsgi::make_cheaper_algo("backlog", p);
  EXPECT_EQ(a->decide(tick(1, 1, 0, 2)).delta, 0);
  EXPECT_EQ(a->decide(tick(2, 1, 0, 3)).delta, 1);
  EXPECT_EQ(a->decide(tick(3, 2, 1, 1)).delta, 0);  // a short queue: keep them
  EXPECT_EQ(a->decide(tick(4, 2, 0, 0)).delta, 0);  // empty but every worker busy
  EXPECT_EQ(a->decide(tick(5, 2, 1, 0)).delta, -1);
  EXPECT_EQ(a->decide(tick(6, 1, 1, 0)).delta, 0);
}

TEST(CheaperAlgos, BusynessSpawnsOverMaxAndStopsAfterMultiplierIdleCycles) {
  CheaperParams p = params(1, 4);
  p.overload = 2;
  p.multiplier = 3;
  p.penalty = 2;
  auto a = uwsgi::make_cheaper_algo("busyness", p);
  EXPECT_EQ(a->decide(tick(1, 1, 0, 0, 1.0)).delta, 0);  // the window is 2 s
  EXPECT_EQ(a->decide(tick(2, 1, 0, 0, 1.0)).delta, 0);
  EXPECT_EQ(a->decide(tick(3, 1, 0, 0, 1.0)).delta, 1);  // 100% > 50%
  // Idle: 3 cycles of 2 s under 25% stop one.
  int stops = 0, s = 4;
  for (; s < 11 && !stops; s++) stops += a->decide(tick(s, 2, 2, 0, 0.0)).delta < 0;
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(s, 10);
  // Needed again at once: the penalty lengthens the next idle wait (multiplier 3 -> 5).
  EXPECT_EQ(a->decide(tick(11, 1, 0, 0, 1.0)).delta, 1);
  int first_stop = 0;
  for (int t = 12; t < 40 && !first_stop; t++)
    if (a->decide(tick(t, 2, 2, 0, 0.0)).delta < 0) first_stop = t;
  EXPECT_GE(first_stop, 12 + 5 * 2 - 1);
}

TEST(CheaperAlgos, BusynessBetweenMinAndMaxTakesBackAnIdleCycle) {
  CheaperParams p = params(1, 4);
  p.overload = 1;
  p.multiplier = 2;
  auto a = uwsgi::make_cheaper_algo("busyness", p);
  a->decide(tick(0, 2, 2, 0, 0.0));
  EXPECT_EQ(a->decide(tick(1, 2, 2, 0, 0.0)).delta, 0);   // idle cycle 1
  EXPECT_EQ(a->decide(tick(2, 2, 2, 0, 0.4)).delta, 0);   // 40%: back to 0
  EXPECT_EQ(a->decide(tick(3, 2, 2, 0, 0.0)).delta, 0);   // 1
  EXPECT_EQ(a->decide(tick(4, 2, 2, 0, 0.0)).delta, -1);  // 2
}

TEST(CheaperAlgos, BusynessSpawnsEmergencyWorkersForTheListenQueue) {
  CheaperParams p = params(1, 4);
  p.overload = 30;
  p.backlog_alert = 5;
  p.backlog_nonzero = 3;
  p.backlog_step = 2;
  auto a = uwsgi::make_cheaper_algo("busyness", p);
  auto d = a->decide(tick(1, 1, 0, 6));
  EXPECT_EQ(d.delta, 2);
  EXPECT_TRUE(d.emergency);
  a = uwsgi::make_cheaper_algo("busyness", p);
  EXPECT_EQ(a->decide(tick(1, 1, 0, 1)).delta, 0);
  EXPECT_EQ(a->decide(tick(2, 1, 0, 1)).delta, 0);
  EXPECT_EQ(a->decide(tick(4, 1, 0, 1)).delta, 2);  // not empty for 3 s
}

TEST(CheaperAlgos, ManualNeverMoves) {
  auto a = uwsgi::make_cheaper_algo("manual", params(1, 4));
  for (int s = 1; s < 10; s++) EXPECT_EQ(a->decide(tick(s, 1, 0, 100, 1.0)).delta, 0);
}

}  // namespace
