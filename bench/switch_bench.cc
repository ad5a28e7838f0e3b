// Context-switch cost of each suspend engine, through the real plugin .so and the Fiber interface
// (virtual calls included, as the async scheduler pays them). Build: bench/build_switch_bench.sh.
#include <benchmark/benchmark.h>
#include <boost/context/detail/fcontext.hpp>
#include <sys/mman.h>

#include <cstdio>
#include <memory>
#include <string>

#include "test_host.h"

namespace {

struct Loaded {
  uwsgi_test::LoadedPlugin lp;
  uwsgi_test::TestHost host;
  std::unique_ptr<uwsgi::SuspendEngine> engine;
};

std::unique_ptr<Loaded> load(const std::string& name) {
  auto l = std::make_unique<Loaded>();
  std::string err;
  if (!uwsgi_test::load_plugin(name, &l->lp, &err)) {
    fprintf(stderr, "switch_bench: %s\n", err.c_str());
    return nullptr;
  }
  l->lp.plugin->on_register(l->host);
  auto it = l->host.suspend_engines.find(name);
  if (it == l->host.suspend_engines.end()) return nullptr;
  l->engine = it->second(l->host);
  if (!l->engine || !l->engine->init(&err)) return nullptr;
  return l;
}

struct Looper {
  uwsgi::Fiber* fiber = nullptr;
};

void loop_entry(void* p) {
  auto* l = static_cast<Looper*>(p);
  for (;;) l->fiber->suspend();
}

// One iteration = resume() into the fiber + its suspend() back: two stack switches.
void BM_ResumeSuspend(benchmark::State& state, uwsgi::SuspendEngine* eng) {
  Looper l;
  std::string err;
  auto f = eng->create(loop_entry, &l, &err);
  if (!f) {
    state.SkipWithError(err.c_str());
    return;
  }
  l.fiber = f.get();
  f->resume();
  for (auto _ : state) f->resume();
  // The fiber never returns: dropping it abandons its (pooled) stack, which is fine here.
}

// One iteration = create a fiber, run it to completion, destroy it (stack from the pool).
void BM_CreateRunDestroy(benchmark::State& state, uwsgi::SuspendEngine* eng) {
  std::string err;
  int runs = 0;
  for (auto _ : state) {
    auto f = eng->create([](void* p) { ++*static_cast<int*>(p); }, &runs, &err);
    f->resume();
  }
  benchmark::DoNotOptimize(runs);
}

// Floor for comparison: a bare jump_fcontext round trip with no interface around it. The Fiber
// interface costs more mainly because resume()/suspend() are real calls that return on the other
// stack, which the CPU's return-address predictor always gets wrong (two mispredictions per trip).
namespace bctx = boost::context::detail;
void raw_entry(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}
void BM_RawJumpFcontext(benchmark::State& state) {
  const size_t size = 256 * 1024;
  void* stack = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bctx::fcontext_t f = bctx::make_fcontext(static_cast<char*>(stack) + size, size, raw_entry);
  for (auto _ : state) f = bctx::jump_fcontext(f, nullptr).fctx;
  munmap(stack, size);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<Loaded>> keep;
  for (const char* name : {"ugreen", "fcontext"}) {
    auto l = load(name);
    if (!l) return 1;
    uwsgi::SuspendEngine* eng = l->engine.get();
    benchmark::RegisterBenchmark((std::string("ResumeSuspend/") + name).c_str(), BM_ResumeSuspend, eng);
    benchmark::RegisterBenchmark((std::string("CreateRunDestroy/") + name).c_str(), BM_CreateRunDestroy, eng);
    keep.push_back(std::move(l));
  }
  benchmark::RegisterBenchmark("RawJumpFcontext", BM_RawJumpFcontext);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
