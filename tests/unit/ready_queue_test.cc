// uwsgi::ReadyQueue (include/uwsgi/ready_queue.h): the queue the libev and libuv engines share.
#include <uwsgi/ready_queue.h>

#include <gtest/gtest.h>

#include <map>

namespace {

struct Watch {
  int pending = 0;
  int interest = uwsgi::kIoRead;
  void* data = nullptr;
};

struct Fixture {
  uwsgi::ReadyQueue<double> q;
  std::map<int, Watch> fds;
  std::map<uint64_t, void*> timers;

  int drain(uwsgi::IoReady* out, int max) {
    return q.drain(
        out, max,
        [this](uint64_t id, void** data) {
          auto it = timers.find(id);
          if (it == timers.end()) return false;
          *data = it->second;
          timers.erase(it);
          return true;
        },
        [this](int fd) -> Watch* {
          auto it = fds.find(fd);
          return it == fds.end() ? nullptr : &it->second;
        });
  }
};

int tag[8];

TEST(ReadyQueue, AnFdIsHandedOutOnceWithEveryEventSeen) {
  Fixture f;
  f.fds[5] = {0, uwsgi::kIoRead | uwsgi::kIoWrite, &tag[0]};
  f.q.fd_ready(5, &f.fds[5].pending, uwsgi::kIoRead);
  f.q.fd_ready(5, &f.fds[5].pending, uwsgi::kIoWrite);
  uwsgi::IoReady out[4];
  ASSERT_EQ(f.drain(out, 4), 1);
  EXPECT_EQ(out[0].data, &tag[0]);
  EXPECT_EQ(out[0].events, uwsgi::kIoRead | uwsgi::kIoWrite);
  EXPECT_TRUE(f.q.empty());
  EXPECT_EQ(f.drain(out, 4), 0);
}

TEST(ReadyQueue, EventsOutsideTheInterestAreDroppedButErrorsKept) {
  Fixture f;
  f.fds[3] = {0, uwsgi::kIoRead, &tag[1]};
  f.fds[4] = {0, uwsgi::kIoRead, &tag[2]};
  f.q.fd_ready(3, &f.fds[3].pending, uwsgi::kIoWrite);
  f.q.fd_ready(4, &f.fds[4].pending, uwsgi::kIoError | uwsgi::kIoRead);
  uwsgi::IoReady out[4];
  ASSERT_EQ(f.drain(out, 4), 1);
  EXPECT_EQ(out[0].data, &tag[2]);
  EXPECT_EQ(out[0].events, uwsgi::kIoError | uwsgi::kIoRead);
}

TEST(ReadyQueue, TimersFirstByDeadlineThenIdAndCancelledOnesSkipped) {
  Fixture f;
  f.timers = {{1, &tag[1]}, {2, &tag[2]}, {3, &tag[3]}, {4, &tag[4]}};
  f.fds[9] = {0, uwsgi::kIoRead, &tag[0]};
  f.q.fd_ready(9, &f.fds[9].pending, uwsgi::kIoRead);
  f.q.timer_fired(2.0, 3);
  f.q.timer_fired(1.0, 2);
  f.q.timer_fired(2.0, 1);
  f.q.timer_fired(0.5, 4);
  f.timers.erase(4);  // cancelled after it fired
  uwsgi::IoReady out[8];
  ASSERT_EQ(f.drain(out, 8), 4);
  EXPECT_EQ(out[0].data, &tag[2]);
  EXPECT_EQ(out[1].data, &tag[1]);  // same deadline as id 3: the older timer first
  EXPECT_EQ(out[2].data, &tag[3]);
  EXPECT_EQ(out[0].events, uwsgi::kIoTimeout);
  EXPECT_EQ(out[3].data, &tag[0]);
  EXPECT_EQ(out[3].events, uwsgi::kIoRead);
}

TEST(ReadyQueue, WhatDoesNotFitWaitsAndUnwatchedFdsAreSkipped) {
  Fixture f;
  for (int fd = 10; fd < 15; fd++) {
    f.fds[fd] = {0, uwsgi::kIoRead, &tag[fd - 10]};
    f.q.fd_ready(fd, &f.fds[fd].pending, uwsgi::kIoRead);
  }
  uwsgi::IoReady out[2];
  ASSERT_EQ(f.drain(out, 2), 2);
  EXPECT_EQ(out[0].data, &tag[0]);
  EXPECT_EQ(out[1].data, &tag[1]);
  f.fds.erase(12);  // unwatched while queued
  ASSERT_EQ(f.drain(out, 2), 2);
  EXPECT_EQ(out[0].data, &tag[3]);
  EXPECT_EQ(out[1].data, &tag[4]);
  EXPECT_TRUE(f.q.empty());
}

}  // namespace
