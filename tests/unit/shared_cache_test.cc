// SharedCache (--cache2) and SharedLocks (--locks): spec parsing, set/update/get/del, expiry,
// full tables with and without purge_lru, numbers, a store file kept across instances, and a
// lock shared with a forked child.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "shared/shared_cache.h"
#include "shared/shared_locks.h"

namespace uwsgi {
namespace {

SharedCache make(const std::string& spec) {
  CacheSpec s;
  std::string err;
  EXPECT_TRUE(parse_cache2_spec(spec, &s, &err)) << err;
  SharedCache c;
  EXPECT_TRUE(c.create(s, &err)) << err;
  return c;
}

TEST(CacheSpec, ParsesUwsgiKeysAndRefusesUnknownOnes) {
  CacheSpec s;
  std::string err;
  ASSERT_TRUE(parse_cache2_spec("name=a,items=10,blocksize=100,keysize=32,purge_lru=1", &s, &err)) << err;
  EXPECT_EQ(s.name, "a");
  EXPECT_EQ(s.items, 10u);
  EXPECT_EQ(s.blocksize, 100u);
  EXPECT_EQ(s.keysize, 32u);
  EXPECT_TRUE(s.purge_lru);
  EXPECT_FALSE(parse_cache2_spec("name=a,items=10,colour=blue", &s, &err));
  EXPECT_NE(err.find("colour"), std::string::npos);
  EXPECT_FALSE(parse_cache2_spec("items=10", &s, &err));
  EXPECT_NE(err.find("name"), std::string::npos);
  EXPECT_FALSE(parse_cache2_spec("name=a", &s, &err));
  EXPECT_FALSE(parse_cache2_spec("name=a,items=x", &s, &err));
  EXPECT_FALSE(parse_cache2_spec("name=a,items=4,bitmap=1", &s, &err));
}

TEST(SharedCache, SetFailsOnExistingKeyUpdateOverwrites) {
  SharedCache c = make("name=t,items=4,blocksize=16,keysize=8");
  std::string err, v;
  EXPECT_TRUE(c.set("k", "one", 0, false, &err));
  EXPECT_FALSE(c.set("k", "two", 0, false, &err));
  ASSERT_TRUE(c.get("k", &v));
  EXPECT_EQ(v, "one");
  EXPECT_TRUE(c.set("k", "three", 0, true, &err));
  ASSERT_TRUE(c.get("k", &v));
  EXPECT_EQ(v, "three");
  EXPECT_FALSE(c.set("k", std::string(17, 'x'), 0, true, &err));  // larger than blocksize
  EXPECT_FALSE(c.set("123456789", "v", 0, true, &err));              // larger than keysize
  EXPECT_TRUE(c.del("k"));
  EXPECT_FALSE(c.del("k"));
  EXPECT_FALSE(c.exists("k"));
}

TEST(SharedCache, FullWithoutPurgeRefusesWithPurgeEvictsLeastRecentlyUsed) {
  SharedCache c = make("name=t,items=2,blocksize=8");
  std::string err, v;
  EXPECT_TRUE(c.set("a", "1", 0, false, &err));
  EXPECT_TRUE(c.set("b", "2", 0, false, &err));
  EXPECT_FALSE(c.set("c", "3", 0, false, &err));
  EXPECT_NE(err.find("full"), std::string::npos);

  SharedCache l = make("name=l,items=2,blocksize=8,purge_lru=1");
  EXPECT_TRUE(l.set("a", "1", 0, false, &err));
  EXPECT_TRUE(l.set("b", "2", 0, false, &err));
  EXPECT_TRUE(l.get("a", &v));  // b is now the least recently used
  EXPECT_TRUE(l.set("c", "3", 0, false, &err));
  EXPECT_TRUE(l.exists("a"));
  EXPECT_FALSE(l.exists("b"));
  EXPECT_TRUE(l.exists("c"));
}

TEST(SharedCache, ExpiredItemsVanishAndFreeTheirSlot) {
  SharedCache c = make("name=t,items=1,blocksize=8");
  std::string err, v;
  EXPECT_TRUE(c.set("a", "1", 1, false, &err));
  EXPECT_TRUE(c.exists("a"));
  sleep(2);
  EXPECT_FALSE(c.get("a", &v));
  EXPECT_TRUE(c.set("b", "2", 0, false, &err)) << err;  // the expired slot was reused
}

TEST(SharedCache, NumbersAndKeys) {
  SharedCache c = make("name=t,items=8,blocksize=16");
  std::string err;
  int64_t r = 0;
  EXPECT_TRUE(c.update_number("n", '+', 5, 0, &r, &err));
  EXPECT_TRUE(c.update_number("n", '*', 3, 0, &r, &err));
  EXPECT_TRUE(c.update_number("n", '-', 1, 0, &r, &err));
  EXPECT_TRUE(c.update_number("n", '/', 2, 0, &r, &err));
  EXPECT_EQ(r, 7);
  EXPECT_FALSE(c.update_number("n", '/', 0, 0, &r, &err));
  EXPECT_TRUE(c.set("s", "abc", 0, false, &err));
  EXPECT_FALSE(c.update_number("s", '+', 1, 0, &r, &err));  // not an 8-byte number
  auto keys = c.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"n", "s"}));
  c.clear();
  EXPECT_TRUE(c.keys().empty());
}

TEST(SharedCache, ManyKeysInFewBuckets) {
  SharedCache c = make("name=t,items=200,blocksize=8,hashsize=3");
  std::string err, v;
  for (int i = 0; i < 200; i++) ASSERT_TRUE(c.set("key" + std::to_string(i), std::to_string(i), 0, false, &err));
  for (int i = 0; i < 200; i += 2) ASSERT_TRUE(c.del("key" + std::to_string(i)));
  for (int i = 0; i < 200; i++) {
    EXPECT_EQ(c.get("key" + std::to_string(i), &v), i % 2 == 1) << i;
    if (i % 2) EXPECT_EQ(v, std::to_string(i));
  }
  EXPECT_EQ(c.item_count(), 100u);
}

TEST(SharedCache, StoreFileKeepsItemsAcrossInstances) {
  char path[] = "/tmp/uwsgi-cache-store-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string err, v;
  {
    SharedCache c = make(std::string("name=s,items=4,blocksize=16,store=") + path);
    EXPECT_TRUE(c.set("kept", "value", 0, false, &err));
  }
  SharedCache again = make(std::string("name=s,items=4,blocksize=16,store=") + path);
  ASSERT_TRUE(again.get("kept", &v));
  EXPECT_EQ(v, "value");
  // Another geometry starts empty instead of misreading the file.
  SharedCache other = make(std::string("name=s,items=8,blocksize=16,store=") + path);
  EXPECT_FALSE(other.exists("kept"));
  unlink(path);
}

TEST(SharedCache, AChildProcessSeesAndChangesTheSameItems) {
  SharedCache c = make("name=t,items=4,blocksize=16");
  std::string err, v;
  EXPECT_TRUE(c.set("from-parent", "p", 0, false, &err));
  pid_t pid = fork();
  if (pid == 0) {
    std::string e, got;
    bool ok = c.get("from-parent", &got) && got == "p" && c.set("from-child", "c", 0, false, &e);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(c.get("from-child", &v));
  EXPECT_EQ(v, "c");
}

TEST(SharedLocks, ExcludesAcrossProcessesAndSurvivesADeadHolder) {
  SharedLocks locks;
  std::string err;
  ASSERT_TRUE(locks.create(2, &err)) << err;
  EXPECT_FALSE(locks.lock(2, &err));  // out of range
  ASSERT_TRUE(locks.lock(1, &err)) << err;
  EXPECT_TRUE(locks.is_locked(1));
  EXPECT_FALSE(locks.lock(1, &err));  // relocking from the holder: an error, not a hang
  pid_t pid = fork();
  if (pid == 0) _exit(locks.is_locked(1) ? 0 : 1);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(locks.unlock(1, &err));
  EXPECT_FALSE(locks.unlock(1, &err));
  // A child takes lock 0 and dies holding it: the parent still gets it.
  pid = fork();
  if (pid == 0) {
    std::string e;
    _exit(locks.lock(0, &e) ? 0 : 1);
  }
  waitpid(pid, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(locks.lock(0, &err)) << err;
  EXPECT_TRUE(locks.unlock(0, &err)) << err;
}

}  // namespace
}  // namespace uwsgi
