// Suspend engines (ugreen, fcontext) and I/O engines (core epoll, libev, libuv), loaded from the
// real NAME_plugin.so files through the plugin ABI, alone and in every combination.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "loop/io_epoll.h"
#include "test_host.h"

namespace {

using Clock = std::chrono::steady_clock;
using uwsgi::Fiber;
using uwsgi::IoEngine;
using uwsgi::IoReady;
using uwsgi::SuspendEngine;

long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Each plugin is loaded (and registers) once per process; its TestHost stays alive with it.
struct Registry {
  std::map<std::string, std::unique_ptr<uwsgi_test::TestHost>> hosts;
  std::map<std::string, uwsgi_test::LoadedPlugin> plugins;

  uwsgi_test::TestHost* load(const std::string& name, std::string* err) {
    auto it = hosts.find(name);
    if (it != hosts.end()) return it->second.get();
    uwsgi_test::LoadedPlugin lp;
    if (!uwsgi_test::load_plugin(name, &lp, err)) return nullptr;
    auto host = std::make_unique<uwsgi_test::TestHost>();
    lp.plugin->on_register(*host);
    plugins[name] = std::move(lp);
    return (hosts[name] = std::move(host)).get();
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

// Builds suspend engine `name` from its plugin's registered factory, with the given options.
std::unique_ptr<SuspendEngine> make_suspend(const std::string& name,
                                            std::vector<std::pair<std::string, std::string>> opts = {}) {
  std::string err;
  uwsgi_test::TestHost* reg = registry().load(name, &err);
  if (!reg) {
    ADD_FAILURE() << err;
    return nullptr;
  }
  auto f = reg->suspend_engines.find(name);
  if (f == reg->suspend_engines.end()) {
    ADD_FAILURE() << name << " plugin did not register a suspend engine called " << name;
    return nullptr;
  }
  uwsgi_test::TestHost host;  // the factory reads its options from the host it is given
  for (auto& [k, v] : opts) host.cfg.set(k, v);
  auto e = f->second(host);
  if (!e) {
    ADD_FAILURE() << name << " factory returned null";
    return nullptr;
  }
  EXPECT_STREQ(e->name(), name.c_str());
  EXPECT_TRUE(e->init(&err)) << err;
  return e;
}

std::unique_ptr<IoEngine> make_io(const std::string& name) {
  std::unique_ptr<IoEngine> e;
  std::string err;
  if (name == "epoll") {
    e = uwsgi::make_epoll_io_engine();
  } else {
    uwsgi_test::TestHost* reg = registry().load(name, &err);
    if (!reg) {
      ADD_FAILURE() << err;
      return nullptr;
    }
    auto f = reg->io_engines.find(name);
    if (f == reg->io_engines.end()) {
      ADD_FAILURE() << name << " plugin did not register an I/O engine called " << name;
      return nullptr;
    }
    uwsgi_test::TestHost host;
    e = f->second(host);
  }
  if (!e) {
    ADD_FAILURE() << name << " factory returned null";
    return nullptr;
  }
  EXPECT_STREQ(e->name(), name.c_str());
  if (!e->init(&err)) {
    ADD_FAILURE() << name << " init: " << err;
    return nullptr;
  }
  return e;
}

std::string param_name(const testing::TestParamInfo<std::string>& i) { return i.param; }

// ---------------------------------------------------------------------------------------------
// Plugin registration
// ---------------------------------------------------------------------------------------------
class SuspendPluginTest : public testing::TestWithParam<std::string> {};

TEST_P(SuspendPluginTest, RegistersShortcutAndStackSizeOptions) {
  const std::string name = GetParam();
  std::string err;
  uwsgi_test::TestHost* reg = registry().load(name, &err);
  ASSERT_NE(reg, nullptr) << err;
  const uwsgi::OptionDef* on = reg->find_option(name);
  ASSERT_NE(on, nullptr) << "--" << name << " not registered";
  EXPECT_EQ(on->arg, uwsgi::OptArg::None);
  EXPECT_FALSE(on->help.empty());
  ASSERT_EQ(on->implies.size(), 1u);
  EXPECT_EQ(on->implies[0].first, "suspend-engine");
  EXPECT_EQ(on->implies[0].second, name);

  const uwsgi::OptionDef* ss = reg->find_option(name + "-stacksize");
  ASSERT_NE(ss, nullptr) << "--" << name << "-stacksize not registered";
  EXPECT_EQ(ss->arg, uwsgi::OptArg::Required);
  ASSERT_TRUE(ss->on_set);
  EXPECT_TRUE(ss->on_set("64", &err)) << err;
  err.clear();
  EXPECT_FALSE(ss->on_set("lots", &err));
  EXPECT_NE(err.find("stacksize"), std::string::npos) << err;
  EXPECT_FALSE(ss->on_set("1", &err));
  EXPECT_FALSE(ss->on_set("", &err));
}

INSTANTIATE_TEST_SUITE_P(Engines, SuspendPluginTest, testing::Values("ugreen", "fcontext"), param_name);

// ---------------------------------------------------------------------------------------------
// Suspend engines alone
// ---------------------------------------------------------------------------------------------
class SuspendTest : public testing::TestWithParam<std::string> {};

struct PingPong {
  Fiber* fiber = nullptr;
  int count = 0;
  int rounds = 0;
};

void ping_pong_entry(void* p) {
  auto* s = static_cast<PingPong*>(p);
  for (int i = 0; i < s->rounds; i++) {
    s->count++;
    s->fiber->suspend();
  }
  s->count += 1000;  // marks that entry ran to its end
}

TEST_P(SuspendTest, ThousandFibersPingPongWithScheduler) {
  auto eng = make_suspend(GetParam());
  ASSERT_TRUE(eng);
  constexpr int kFibers = 1000, kRounds = 5;
  std::vector<PingPong> st(kFibers);
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::string err;
  for (auto& s : st) {
    s.rounds = kRounds;
    fibers.push_back(eng->create(ping_pong_entry, &s, &err));
    ASSERT_TRUE(fibers.back()) << err;
    s.fiber = fibers.back().get();
    EXPECT_FALSE(s.fiber->finished());
  }
  for (int r = 1; r <= kRounds; r++) {
    for (auto& f : fibers) f->resume();
    for (int i = 0; i < kFibers; i++) {
      ASSERT_EQ(st[i].count, r) << "fiber " << i << " round " << r;
      ASSERT_FALSE(fibers[i]->finished());
    }
  }
  for (auto& f : fibers) f->resume();
  for (int i = 0; i < kFibers; i++) {
    EXPECT_EQ(st[i].count, kRounds + 1000);
    EXPECT_TRUE(fibers[i]->finished());
  }
  // Resuming a finished fiber does nothing.
  for (auto& f : fibers) f->resume();
  for (int i = 0; i < kFibers; i++) EXPECT_EQ(st[i].count, kRounds + 1000);
}

struct Flag {
  Fiber* fiber = nullptr;
  int runs = 0;
};

TEST_P(SuspendTest, FinishedAfterEntryReturnsAndResumeIsThenANoOp) {
  auto eng = make_suspend(GetParam());
  ASSERT_TRUE(eng);
  Flag fl;
  std::string err;
  auto f = eng->create([](void* p) { static_cast<Flag*>(p)->runs++; }, &fl, &err);
  ASSERT_TRUE(f) << err;
  EXPECT_FALSE(f->finished());
  EXPECT_EQ(fl.runs, 0);  // create() does not run the entry
  f->resume();
  EXPECT_TRUE(f->finished());
  EXPECT_EQ(fl.runs, 1);
  f->resume();
  f->resume();
  EXPECT_EQ(fl.runs, 1);
  EXPECT_TRUE(f->finished());
}

// Recursion that keeps every frame alive (not a tail call) and suspends every `every` levels.
struct Deep {
  Fiber* fiber = nullptr;
  int depth = 0;
  int every = 0;
  long long sum = 0;
  int suspends = 0;
};

__attribute__((noinline)) long long recurse(Deep* d, int n) {
  volatile char pad[128];
  pad[0] = static_cast<char>(n);
  pad[127] = static_cast<char>(n >> 8);
  if (n > 0 && n % d->every == 0) {
    d->suspends++;
    d->fiber->suspend();
  }
  long long below = n < d->depth ? recurse(d, n + 1) : 0;
  return below + n + (pad[0] - static_cast<char>(n)) + (pad[127] - static_cast<char>(n >> 8));
}

void deep_entry(void* p) {
  auto* d = static_cast<Deep*>(p);
  d->sum = recurse(d, 0);
}

TEST_P(SuspendTest, DeepRecursionInsideFibersSurvivesSuspends) {
  auto eng = make_suspend(GetParam());
  ASSERT_TRUE(eng);
  constexpr int kDepth = 6000;
  Deep a, b;
  a.depth = b.depth = kDepth;
  a.every = 500;
  b.every = 700;
  std::string err;
  auto fa = eng->create(deep_entry, &a, &err);
  auto fb = eng->create(deep_entry, &b, &err);
  ASSERT_TRUE(fa && fb) << err;
  a.fiber = fa.get();
  b.fiber = fb.get();
  int spins = 0;
  while ((!fa->finished() || !fb->finished()) && spins++ < 100) {
    fa->resume();  // the two stacks interleave: each must keep its own frames intact
    fb->resume();
  }
  ASSERT_TRUE(fa->finished());
  ASSERT_TRUE(fb->finished());
  const long long expect = static_cast<long long>(kDepth) * (kDepth + 1) / 2;
  EXPECT_EQ(a.sum, expect);
  EXPECT_EQ(b.sum, expect);
  EXPECT_EQ(a.suspends, kDepth / 500);
  EXPECT_EQ(b.suspends, kDepth / 700);
}

struct Throws {
  Fiber* fiber = nullptr;
  std::string caught;
};

TEST_P(SuspendTest, ExceptionsThrownAndCaughtAcrossSuspends) {
  auto eng = make_suspend(GetParam());
  ASSERT_TRUE(eng);
  Throws t;
  std::string err;
  auto f = eng->create(
      [](void* p) {
        auto* t = static_cast<Throws*>(p);
        try {
          t->fiber->suspend();
          throw std::runtime_error("from fiber");
        } catch (const std::exception& e) {
          t->fiber->suspend();
          t->caught = e.what();
        }
      },
      &t, &err);
  ASSERT_TRUE(f) << err;
  t.fiber = f.get();
  f->resume();
  f->resume();
  try {
    throw std::logic_error("from scheduler");  // an exception on the main stack meanwhile
  } catch (const std::exception&) {
  }
  f->resume();
  EXPECT_TRUE(f->finished());
  EXPECT_EQ(t.caught, "from fiber");
}

struct Overflow {
  Fiber* fiber = nullptr;
  volatile long long* depth = nullptr;  // in memory shared with the parent
};

__attribute__((noinline)) long long overflow(Overflow* o, long long n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  *o->depth = n;
  if (n > (1LL << 40)) return 0;  // never true: keeps the compiler from calling this infinite
  return overflow(o, n + 1) + pad[0];
}

TEST_P(SuspendTest, StackOverflowHitsGuardPageAndDiesWithSigsegv) {
  // The child reports how deep it got, to show it died at the end of its own stack rather than
  // after scribbling over whatever memory lies below it.
  void* shm = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shm, MAP_FAILED);
  auto* depth = static_cast<volatile long long*>(shm);
  *depth = 0;
  fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Die from the signal itself rather than from a sanitizer's or gtest's handler.
    signal(SIGSEGV, SIG_DFL);
    auto eng = make_suspend(GetParam(), {{GetParam() + "-stacksize", "16"}});
    if (!eng) _exit(3);
    Overflow o;
    o.depth = depth;
    std::string err;
    auto f = eng->create([](void* p) { overflow(static_cast<Overflow*>(p), 0); }, &o, &err);
    if (!f) _exit(4);
    o.fiber = f.get();
    f->resume();
    _exit(0);  // not reached: the recursion has no end
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with code " << WEXITSTATUS(status)
                                    << " instead of dying on the guard page";
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  // 16 pages of stack and frames of more than 512 bytes: a little over 128 frames at most.
  const long long max_frames = 16 * static_cast<long long>(sysconf(_SC_PAGESIZE)) / 512;
  EXPECT_GT(*depth, 8);
  EXPECT_LE(*depth, max_frames) << "recursed past the end of its stack";
  munmap(shm, 4096);
}

struct MapsProbe {
  bool guarded = false;
  std::string detail;
};

// From inside a fiber: finds the mapping holding the current stack in /proc/self/maps and checks
// that the mapping right below it is inaccessible (the guard).
void probe_guard(void* p) {
  auto* pr = static_cast<MapsProbe*>(p);
  // The frame address, not a local's: under ASan locals may live on a heap "fake stack".
  const auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) return;
  std::vector<std::tuple<uintptr_t, uintptr_t, std::string>> maps;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3) maps.emplace_back(a, b, perms);
  }
  fclose(f);
  for (auto& [a, b, perms] : maps) {
    if (sp < a || sp >= b) continue;
    pr->detail = "stack mapping " + perms;
    for (auto& [a2, b2, perms2] : maps) {
      if (b2 == a) {
        pr->detail += ", below it " + perms2 + " of " + std::to_string(b2 - a2) + " bytes";
        pr->guarded = perms2.rfind("---", 0) == 0 && b2 - a2 >= 4096;
      }
    }
  }
}

TEST_P(SuspendTest, StackHasAnInaccessibleGuardBelowIt) {
  auto eng = make_suspend(GetParam(), {{GetParam() + "-stacksize", "16"}});
  ASSERT_TRUE(eng);
  MapsProbe pr;
  std::string err;
  auto f = eng->create(probe_guard, &pr, &err);
  ASSERT_TRUE(f) << err;
  f->resume();
  EXPECT_TRUE(f->finished());
  EXPECT_TRUE(pr.guarded) << pr.detail;
}

TEST_P(SuspendTest, StacksAreReusedAfterFibersFinish) {
  auto eng = make_suspend(GetParam(), {{GetParam() + "-stacksize", "8"}});
  ASSERT_TRUE(eng);
  std::string err;
  // Far more fibers than would fit if stacks leaked: each makes and finishes one.
  for (int i = 0; i < 20000; i++) {
    Flag fl;
    auto f = eng->create([](void* p) { static_cast<Flag*>(p)->runs++; }, &fl, &err);
    ASSERT_TRUE(f) << err;
    f->resume();
    ASSERT_TRUE(f->finished());
    ASSERT_EQ(fl.runs, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, SuspendTest, testing::Values("ugreen", "fcontext"), param_name);

// ---------------------------------------------------------------------------------------------
// I/O engines alone
// ---------------------------------------------------------------------------------------------
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
      r = p[0];
      w = p[1];
    }
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
  void put() { ASSERT_EQ(write(w, "x", 1), 1); }
};

class IoTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    io = make_io(GetParam());
    ASSERT_TRUE(io);
  }
  // Collects events for up to `ms`, stopping once `want` were seen.
  std::vector<IoReady> collect(int ms, size_t want, int max = 16) {
    std::vector<IoReady> got;
    auto t0 = Clock::now();
    IoReady buf[64];
    while (got.size() < want && ms_since(t0) < ms) {
      int n = io->wait(std::max<long long>(1, ms - ms_since(t0)), buf, max);
      for (int i = 0; i < n; i++) got.push_back(buf[i]);
    }
    return got;
  }
  std::unique_ptr<IoEngine> io;
};

TEST_P(IoTest, PipeReadinessForReadAndWrite) {
  Pipe p;
  int rtag = 0, wtag = 0;
  IoReady out[8];
  ASSERT_TRUE(io->watch(p.r, uwsgi::kIoRead, &rtag));
  EXPECT_EQ(io->wait(0, out, 8), 0) << "empty pipe reported readable";
  EXPECT_EQ(io->wait(20, out, 8), 0) << "empty pipe reported readable";

  p.put();
  int n = io->wait(1000, out, 8);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(out[0].data, &rtag);
  EXPECT_TRUE(out[0].events & uwsgi::kIoRead);
  EXPECT_FALSE(out[0].events & uwsgi::kIoWrite);

  // Level-triggered: still readable while unread.
  n = io->wait(1000, out, 8);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(out[0].data, &rtag);

  ASSERT_TRUE(io->watch(p.w, uwsgi::kIoWrite, &wtag));
  auto got = collect(1000, 2);
  std::set<void*> seen;
  for (auto& e : got) {
    seen.insert(e.data);
    if (e.data == &wtag) {
      EXPECT_TRUE(e.events & uwsgi::kIoWrite);
    }
  }
  EXPECT_TRUE(seen.count(&rtag));
  EXPECT_TRUE(seen.count(&wtag));

  // Drained: only the write end stays ready.
  char c;
  ASSERT_EQ(read(p.r, &c, 1), 1);
  io->unwatch(p.w);
  EXPECT_EQ(io->wait(20, out, 8), 0);
  io->unwatch(p.r);
}

TEST_P(IoTest, WatchReplacesInterestAndDataAndZeroRemoves) {
  Pipe p;
  int a = 0, b = 0;
  IoReady out[8];
  p.put();
  ASSERT_TRUE(io->watch(p.r, uwsgi::kIoRead, &a));
  ASSERT_TRUE(io->watch(p.r, uwsgi::kIoRead, &b));
  ASSERT_EQ(io->wait(1000, out, 8), 1);
  EXPECT_EQ(out[0].data, &b);
  // Interest in write only: a readable pipe read end never becomes writable.
  ASSERT_TRUE(io->watch(p.r, uwsgi::kIoWrite, &a));
  EXPECT_EQ(io->wait(30, out, 8), 0);
  ASSERT_TRUE(io->watch(p.r, uwsgi::kIoRead, &a));
  ASSERT_EQ(io->wait(1000, out, 8), 1);
  EXPECT_EQ(out[0].data, &a);
  ASSERT_TRUE(io->watch(p.r, 0, &a));  // events 0 removes
  EXPECT_EQ(io->wait(30, out, 8), 0);
}

TEST_P(IoTest, UnwatchStopsEventsEvenWhenAlreadyQueued) {
  Pipe p, q;
  int a = 0, b = 0;
  IoReady out[1];
  p.put();
  q.put();
  ASSERT_TRUE(io->watch(p.r, uwsgi::kIoRead, &a));
  ASSERT_TRUE(io->watch(q.r, uwsgi::kIoRead, &b));
  ASSERT_EQ(io->wait(1000, out, 1), 1);  // the other one may now sit in a queue
  void* first = out[0].data;
  void* other = first == &a ? static_cast<void*>(&b) : static_cast<void*>(&a);
  io->unwatch(p.r);
  io->unwatch(q.r);
  close(p.r);  // as a user would, right after unwatch
  p.r = -1;
  for (int i = 0; i < 3; i++) {
    int n = io->wait(20, out, 1);
    EXPECT_EQ(n, 0) << "event delivered after unwatch (data " << (n ? out[0].data : nullptr)
                    << ", other=" << other << ")";
  }
  // The fd number can be reused and watched again at once.
  Pipe r;
  r.put();
  int c = 0;
  ASSERT_TRUE(io->watch(r.r, uwsgi::kIoRead, &c));
  ASSERT_EQ(io->wait(1000, out, 1), 1);
  EXPECT_EQ(out[0].data, &c);
  io->unwatch(r.r);
}

TEST_P(IoTest, TimersFireInDeadlineOrderAndCancelWorks) {
  int t10 = 10, t20 = 20, t30 = 30, t15 = 15, t25 = 25;
  auto t0 = Clock::now();
  uint64_t i30 = io->add_timer(30, &t30);
  uint64_t i10 = io->add_timer(10, &t10);
  uint64_t i15 = io->add_timer(15, &t15);
  uint64_t i20 = io->add_timer(20, &t20);
  uint64_t i25 = io->add_timer(25, &t25);
  std::set<uint64_t> ids{i10, i15, i20, i25, i30};
  EXPECT_EQ(ids.size(), 5u);
  for (uint64_t id : ids) EXPECT_GT(id, 0u);
  io->cancel_timer(i15);
  io->cancel_timer(i25);
  io->cancel_timer(i25);  // twice is harmless
  auto got = collect(2000, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].data, &t10);
  EXPECT_EQ(got[1].data, &t20);
  EXPECT_EQ(got[2].data, &t30);
  for (auto& e : got) EXPECT_EQ(e.events, uwsgi::kIoTimeout);
  EXPECT_GE(ms_since(t0), 29);
  io->cancel_timer(i10);  // already fired: harmless
  IoReady out[4];
  EXPECT_EQ(io->wait(30, out, 4), 0) << "a cancelled timer fired";
}

TEST_P(IoTest, TimerDoesNotFireEarlyAndWaitHonoursTimeout) {
  int tag = 0;
  IoReady out[4];
  auto t0 = Clock::now();
  EXPECT_EQ(io->wait(30, out, 4), 0);
  EXPECT_GE(ms_since(t0), 28);
  t0 = Clock::now();
  io->add_timer(50, &tag);
  auto got = collect(2000, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, &tag);
  EXPECT_GE(ms_since(t0), 48);
  EXPECT_LT(ms_since(t0), 1000);
}

TEST_P(IoTest, TimerAlreadyDueWhenWaitStartsIsReturnedAtOnce) {
  // A busy or descheduled worker enters wait() after a timer's deadline. libuv 1.44 ran such a
  // timer before polling and then blocked anyway, until the next timer (here 3 s) or forever.
  int tag = 0, later = 0;
  io->add_timer(3000, &later);
  io->add_timer(10, &tag);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  IoReady out[4];
  auto t0 = Clock::now();
  int n = io->wait(-1, out, 4);
  EXPECT_LT(ms_since(t0), 1500) << "wait() blocked with a timer already due";
  ASSERT_EQ(n, 1);
  EXPECT_EQ(out[0].data, &tag);
}

TEST_P(IoTest, WakeupFromAnotherThread) {
  IoReady out[4];
  auto t0 = Clock::now();
  std::thread th([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    io->wakeup();
  });
  int n = io->wait(5000, out, 4);
  th.join();
  EXPECT_EQ(n, 0);
  EXPECT_GE(ms_since(t0), 40);
  EXPECT_LT(ms_since(t0), 2500) << "wakeup() did not interrupt wait()";
  // A wakeup before wait() makes that wait return at once.
  io->wakeup();
  t0 = Clock::now();
  io->wait(5000, out, 4);
  EXPECT_LT(ms_since(t0), 2500);
}

IoEngine* g_signal_io = nullptr;
void wake_from_signal(int) { g_signal_io->wakeup(); }

TEST_P(IoTest, WakeupFromASignalHandler) {
  // The signal is blocked in this thread and handled in a helper thread, so wait() cannot just
  // return on EINTR: only the handler's wakeup() can end it.
  g_signal_io = io.get();
  struct sigaction sa {}, old {};
  sa.sa_handler = wake_from_signal;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  sigset_t set, prev;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &prev), 0);
  std::atomic<bool> ready{false};
  std::thread th([&] {
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    ready = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pthread_kill(pthread_self(), SIGUSR2);  // the handler runs here, on this thread
  });
  IoReady out[4];
  auto t0 = Clock::now();
  int n = io->wait(5000, out, 4);
  th.join();
  pthread_sigmask(SIG_SETMASK, &prev, nullptr);
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_TRUE(ready);
  EXPECT_EQ(n, 0);
  EXPECT_LT(ms_since(t0), 2500) << "wakeup() from a signal handler did not interrupt wait()";
}

// What the async loop does with its listening sockets when its cores run out (unwatch) and when one
// frees (watch again, often within the same loop iteration), while accepted fds close and their
// numbers come back: the listening socket must keep being reported until its backlog is empty.
TEST_P(IoTest, ListeningSocketReportedAgainAfterUnwatchRewatchCycles) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(ls, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  ASSERT_EQ(bind(ls, (sockaddr*)&a, sizeof a), 0);
  ASSERT_EQ(listen(ls, 1024), 0);
  ASSERT_EQ(getsockname(ls, (sockaddr*)&a, &alen), 0);
  constexpr int kConns = 300, kCores = 8;
  std::vector<int> clients;
  for (int i = 0; i < kConns; i++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(c, 0);
    int rc = connect(c, (sockaddr*)&a, sizeof a);
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
    clients.push_back(c);
  }
  int ltag = 0;
  std::deque<int> held;  // accepted connections, each holding a "core"
  int accepted = 0, rounds = 0;
  bool watching = io->watch(ls, uwsgi::kIoRead, &ltag);
  ASSERT_TRUE(watching);
  auto t0 = Clock::now();
  while (accepted < kConns && ms_since(t0) < 10000) {
    IoReady out[4];
    int n = io->wait(200, out, 4);
    for (int i = 0; i < n; i++) {
      if (out[i].data != &ltag) continue;
      while ((int)held.size() < kCores) {
        int fd = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        held.push_back(fd);
        accepted++;
      }
    }
    if ((int)held.size() >= kCores && watching) {
      io->unwatch(ls);
      watching = false;
    }
    // A core frees every round (two on odd rounds): its fd number is reused by the next accept.
    for (int k = 0; k < 1 + (rounds & 1) && !held.empty(); k++) {
      close(held.front());
      held.pop_front();
    }
    if (!watching) {
      watching = io->watch(ls, uwsgi::kIoRead, &ltag);
      ASSERT_TRUE(watching);
    }
    rounds++;
  }
  EXPECT_EQ(accepted, kConns) << "after " << rounds << " rounds";
  io->unwatch(ls);
  for (int fd : held) close(fd);
  for (int c : clients) close(c);
  close(ls);
}

TEST_P(IoTest, MoreReadyThanMaxAreNotLost) {
  constexpr int kPipes = 10, kTimers = 5, kMax = 3;
  std::vector<std::unique_ptr<Pipe>> pipes;
  int ptag[kPipes], ttag[kTimers];
  for (int i = 0; i < kPipes; i++) {
    pipes.push_back(std::make_unique<Pipe>());
    pipes.back()->put();
    ASSERT_TRUE(io->watch(pipes.back()->r, uwsgi::kIoRead, &ptag[i]));
  }
  for (int i = 0; i < kTimers; i++) io->add_timer(0, &ttag[i]);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::map<void*, int> seen;
  IoReady out[kMax];
  int calls = 0;
  auto t0 = Clock::now();
  // Every ready fd and every timer must come out within a fair number of calls, none dropped;
  // consumers drain what they are told about, as a scheduler's fibers would.
  while (seen.size() < kPipes + kTimers && ms_since(t0) < 2000) {
    int n = io->wait(100, out, kMax);
    ASSERT_LE(n, kMax);
    calls++;
    for (int i = 0; i < n; i++) {
      seen[out[i].data]++;
      for (int j = 0; j < kPipes; j++) {
        if (out[i].data == &ptag[j]) {
          char c;
          EXPECT_EQ(read(pipes[j]->r, &c, 1), 1) << "pipe " << j << " reported twice";
        }
      }
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kPipes + kTimers));
  for (auto& [d, c] : seen) EXPECT_EQ(c, 1);
  EXPECT_LE(calls, (kPipes + kTimers) / kMax + 3);
  for (auto& p : pipes) io->unwatch(p->r);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoTest, testing::Values("epoll", "libev", "libuv"), param_name);

// ---------------------------------------------------------------------------------------------
// Every suspend engine with every I/O engine: a miniature async scheduler.
// ---------------------------------------------------------------------------------------------
struct Task {
  Fiber* fiber = nullptr;
  IoEngine* io = nullptr;
  int index = 0;
  int rfd = -1, wfd = -1;  // pipe waiters
  int rounds = 0;
  int woke_events = 0;     // set by the scheduler before resume
  int done_rounds = 0;
  bool bad = false;
};

void task_entry(void* p) {
  auto* t = static_cast<Task*>(p);
  for (int r = 0; r < t->rounds; r++) {
    if (t->rfd >= 0) {
      if (!t->io->watch(t->rfd, uwsgi::kIoRead, t)) t->bad = true;
      t->fiber->suspend();
      char c;
      if (!(t->woke_events & uwsgi::kIoRead) || read(t->rfd, &c, 1) != 1) t->bad = true;
    } else {
      t->io->add_timer(1 + (t->index * 7 + r) % 15, t);
      t->fiber->suspend();
      if (t->woke_events != uwsgi::kIoTimeout) t->bad = true;
    }
    t->done_rounds++;
  }
  if (t->rfd >= 0) t->io->unwatch(t->rfd);
}

using Combo = std::tuple<std::string, std::string>;
class MatrixTest : public testing::TestWithParam<Combo> {};

TEST_P(MatrixTest, HundredFibersWaitingOnPipesAndTimersAllComplete) {
  auto [sname, iname] = GetParam();
  auto se = make_suspend(sname);
  auto io = make_io(iname);
  ASSERT_TRUE(se && io);
  constexpr int kTasks = 100, kRounds = 3;
  std::vector<Task> tasks(kTasks);
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::string err;
  for (int i = 0; i < kTasks; i++) {
    Task& t = tasks[i];
    t.io = io.get();
    t.index = i;
    t.rounds = kRounds;
    if (i % 2 == 0) {
      pipes.push_back(std::make_unique<Pipe>());
      t.rfd = pipes.back()->r;
      t.wfd = pipes.back()->w;
    }
    fibers.push_back(se->create(task_entry, &t, &err));
    ASSERT_TRUE(fibers.back()) << err;
    t.fiber = fibers.back().get();
  }
  for (auto& f : fibers) f->resume();  // each registers its first wait

  int finished = 0, writes = 0;
  auto t0 = Clock::now();
  IoReady out[16];
  while (finished < kTasks && ms_since(t0) < 10000) {
    // Feed the pipes a little at a time so fd and timer wake-ups interleave.
    for (int k = 0; k < 10 && writes < (kTasks / 2) * kRounds; k++, writes++) {
      Task& t = tasks[(writes % (kTasks / 2)) * 2];
      ASSERT_EQ(write(t.wfd, "x", 1), 1);
    }
    int n = io->wait(100, out, 16);
    for (int i = 0; i < n; i++) {
      auto* t = static_cast<Task*>(out[i].data);
      ASSERT_GE(t, tasks.data());
      ASSERT_LT(t, tasks.data() + kTasks);
      if (t->rfd >= 0) t->io->unwatch(t->rfd);  // the fiber re-arms if it wants more
      t->woke_events = out[i].events;
      t->fiber->resume();
      if (t->fiber->finished()) finished++;
    }
  }
  EXPECT_EQ(finished, kTasks);
  for (auto& t : tasks) {
    EXPECT_EQ(t.done_rounds, kRounds) << "task " << t.index;
    EXPECT_FALSE(t.bad) << "task " << t.index << " woke for the wrong reason";
    EXPECT_TRUE(t.fiber->finished());
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, MatrixTest,
                         testing::Combine(testing::Values("ugreen", "fcontext"),
                                          testing::Values("epoll", "libev", "libuv")),
                         [](const testing::TestParamInfo<Combo>& i) {
                           return std::get<0>(i.param) + "_" + std::get<1>(i.param);
                         });

}  // namespace
