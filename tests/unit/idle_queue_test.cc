// uwsgi::IdleQueue (core/loop/idle_queue.h): deadlines of parked keep-alive connections.
#include "loop/idle_queue.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <vector>

namespace {

std::vector<int> expire_all(uwsgi::IdleQueue& q) {
  std::vector<int> out;
  q.expire([&](int fd, uint64_t) { out.push_back(fd); });
  return out;
}

TEST(IdleQueue, WokenConnectionsAreForgottenAtOnce) {
  uwsgi::IdleQueue q(0);  // every deadline has passed
  q.add(5);
  q.add(7);
  q.remove(5);
  EXPECT_EQ(expire_all(q), std::vector<int>({7}));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.next_timeout_ms(), -1);
}

TEST(IdleQueue, ReparkingMovesToTheBackWithANewToken) {
  uwsgi::IdleQueue q(0);
  uint64_t first = q.add(3);
  q.add(4);
  uint64_t second = q.add(3);  // woken without remove() and parked again
  EXPECT_NE(first, second);
  std::vector<std::pair<int, uint64_t>> seen;
  q.expire([&](int fd, uint64_t token) { seen.emplace_back(fd, token); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, 4);
  EXPECT_EQ(seen[1], std::make_pair(3, second));
}

TEST(IdleQueue, ManyParkingsOfOneConnectionKeepOneEntry) {
  uwsgi::IdleQueue q(60000);
  for (int i = 0; i < 100000; i++) {
    q.add(9);
    q.remove(9);
  }
  q.add(9);
  EXPECT_GT(q.next_timeout_ms(), 0);
  EXPECT_TRUE(expire_all(q).empty());  // not due yet
  q.remove(9);
  EXPECT_TRUE(q.empty());
}

TEST(IdleQueue, OnlyPassedDeadlinesExpire) {
  uwsgi::IdleQueue q(30);
  q.add(1);
  usleep(50 * 1000);
  q.add(2);
  EXPECT_EQ(expire_all(q), std::vector<int>({1}));
  EXPECT_FALSE(q.empty());
}

}  // namespace
