// A cache in front of CPython's arena allocator for the "data stack" chunks Python frames live in.
//
// CPython 3.11 keeps frames in per-thread-state chunks of 16 KiB taken from the arena allocator
// (an mmap each), and greenlet gives every greenlet a chunk of its own, handed back when the
// greenlet ends. A worker serving one greenlet per request (gevent, --greenlet) therefore paid an
// mmap, a page fault and a munmap per request (seen with perf: one of each per request). Chunks of
// that size are kept here and handed out again; everything else goes to the allocator that was
// installed before (pymalloc's arenas included). Called only with the GIL held, like the
// allocator it wraps.
#include "py_plugin.h"

#include <vector>

namespace uwsgi::py {
namespace {

constexpr size_t kChunkSize = 16 * 1024;  // CPython's DATA_STACK_CHUNK_SIZE (3.11, 3.12)
// Enough to absorb the churn of thousands of greenlets starting and ending per second; each kept
// chunk holds the pages its frames touched (usually one) resident.
constexpr size_t kMaxKept = 512;

PyObjectArenaAllocator g_base;
std::vector<void*>* g_kept = nullptr;

void* cached_alloc(void*, size_t size) {
  if (size == kChunkSize && !g_kept->empty()) {
    void* p = g_kept->back();
    g_kept->pop_back();
    return p;
  }
  return g_base.alloc(g_base.ctx, size);
}

void cached_free(void*, void* p, size_t size) {
  if (p && size == kChunkSize && g_kept->size() < kMaxKept) {
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
  g_kept = new std::vector<void*>();  // lives as long as the interpreter may free into it
  g_kept->reserve(kMaxKept);
  PyObjectArenaAllocator mine{nullptr, cached_alloc, cached_free};
  PyObject_SetArenaAllocator(&mine);
}

}  // namespace uwsgi::py
