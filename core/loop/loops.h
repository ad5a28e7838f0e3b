// The core's two loop engines: "sync" (one request at a time per thread, `threads` threads) and
// "async" (N cores on a suspend engine, waiting through an I/O engine).
#pragma once

#include <uwsgi/plugin.h>

#include <memory>

namespace uwsgi {

class HostImpl;

std::unique_ptr<LoopEngine> make_sync_loop(HostImpl& host, int threads);
std::unique_ptr<LoopEngine> make_async_loop(HostImpl& host, std::unique_ptr<SuspendEngine> suspend,
                                            std::unique_ptr<IoEngine> io, int cores);

}  // namespace uwsgi
