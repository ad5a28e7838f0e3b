// Memory for CPython's frame "data stack": a cache of its 16 KiB chunks, and small first chunks
// for the thread states and greenlets that serve requests.
//
// CPython 3.11 keeps frames in per-thread-state chunks of 16 KiB taken from the arena allocator
// (an mmap each), and greenlet gives every greenlet a chunk of its own, handed back when the
// greenlet ends. A worker serving one greenlet per request (gevent, --greenlet) therefore paid an
// mmap, a page fault and a munmap per request (seen with perf: one of each per request). Chunks of
// that size are kept here and handed out again; everything else goes to the allocator that was
// installed before (pymalloc's arenas included).
//
// A suspended request's frames (the app's and what it called: gevent.sleep, a few hundred bytes
// for a small app) sit at the start of such a chunk, which holds a whole 4 KiB page resident per
// in-flight request. give_small_frame_stack() starts an empty data stack with a chunk of
// kSmallSize bytes instead, cut from shared pages. CPython treats it like any chunk: deeper
// calls push a 16 KiB chunk on top of it (popped again on return), and the chunk comes back
// here through the arena allocator's free, with its size, when the greenlet or thread state
// ends.
//
// Everything here is called only with the GIL held, like the allocator it wraps.
#include "py_plugin.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace uwsgi::py {
namespace {

constexpr size_t kChunkSize = 16 * 1024;  // CPython's DATA_STACK_CHUNK_SIZE (3.11, 3.12)
// Enough to absorb the churn of thousands of greenlets starting and ending per second; each kept
// chunk holds the pages its frames touched (usually one) resident.
constexpr size_t kMaxKept = 512;

// Small first chunks, four to a page. A small app's suspended frames fit (a Flask view suspended
// in gevent.sleep too: RSS per in-flight request fell by the same 3 KiB as for a bare WSGI app);
// calls that go deeper take a 16 KiB chunk from the cache above for as long as they run. An app
// whose frames are deeper than that while it is suspended pays the 1 KiB on top of the page it
// would have paid anyway.
// Smaller than any size CPython asks the arena allocator for itself (16 KiB chunks and up, and
// its arenas), and freed here only when the pointer is from one of the slabs below.
constexpr size_t kSmallSize = 1024;
// Slabs are kept for the life of the process: their number follows the most requests ever in
// flight at once (256 small chunks each).
constexpr size_t kSlabSize = 256 * 1024;

PyObjectArenaAllocator g_base;
std::vector<void*>* g_kept = nullptr;
std::vector<void*>* g_small_free = nullptr;
std::vector<uintptr_t>* g_slabs = nullptr;  // sorted starts of the slabs small chunks come from

bool from_slab(void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  auto it = std::upper_bound(g_slabs->begin(), g_slabs->end(), a);
  return it != g_slabs->begin() && a - *(it - 1) < kSlabSize;
}

void* small_chunk() {
  if (g_small_free->empty()) {
    void* slab = g_base.alloc(g_base.ctx, kSlabSize);
    if (!slab) return nullptr;
    auto a = reinterpret_cast<uintptr_t>(slab);
    g_slabs->insert(std::upper_bound(g_slabs->begin(), g_slabs->end(), a), a);
    // Handed out from the start of the slab (pushed in reverse): the pages fill in order.
    for (size_t off = (kSlabSize / kSmallSize - 1) * kSmallSize;; off -= kSmallSize) {
      g_small_free->push_back(static_cast<char*>(slab) + off);
      if (off == 0) break;
    }
  }
  void* p = g_small_free->back();
  g_small_free->pop_back();
  return p;
}

void* cached_alloc(void*, size_t size) {
  if (size == kChunkSize && !g_kept->empty()) {
    void* p = g_kept->back();
    g_kept->pop_back();
    return p;
  }
  return g_base.alloc(g_base.ctx, size);
}

void cached_free(void*, void* p, size_t size) {
  if (!p) return;
  if (size == kSmallSize && from_slab(p)) {
    g_small_free->push_back(p);
    return;
  }
  if (size == kChunkSize && g_kept->size() < kMaxKept) {
    g_kept->push_back(p);
    return;
  }
  g_base.free(g_base.ctx, p, size);
}

}  // namespace

void install_frame_chunk_cache() {
  if (g_kept) return;
  PyObject_GetArenaAllocator(&g_base);
  if (!g_base.alloc || !g_base.free) return;
  // These live as long as the interpreter may free into them.
  g_kept = new std::vector<void*>();
  g_kept->reserve(kMaxKept);
  g_small_free = new std::vector<void*>();
  g_slabs = new std::vector<uintptr_t>();
  PyObjectArenaAllocator mine{nullptr, cached_alloc, cached_free};
  PyObject_SetArenaAllocator(&mine);
}

void give_small_frame_stack() {
// The data stack fields and the first-chunk convention below are those of CPython 3.11 and 3.12.
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
  PyThreadState* ts = PyThreadState_Get();
  if (ts->datastack_chunk || !g_small_free) return;
  auto* chunk = static_cast<_PyStackChunk*>(small_chunk());
  if (!chunk) return;  // CPython makes its own chunk at the first call
  chunk->previous = nullptr;
  chunk->size = kSmallSize;
  chunk->top = 0;
  ts->datastack_chunk = chunk;
  // As CPython does for a first chunk: frames start one slot in, so that popping the first
  // frame never looks like popping the chunk itself (a first chunk is never popped).
  ts->datastack_top = &chunk->data[1];
  ts->datastack_limit = reinterpret_cast<PyObject**>(reinterpret_cast<char*>(chunk) + kSmallSize);
#endif
}

}  // namespace uwsgi::py
