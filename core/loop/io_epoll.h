// The core's default I/O engine, "epoll": level-triggered epoll, a timer heap, eventfd wakeup.
#pragma once

#include <memory>

#include <uwsgi/plugin.h>

namespace uwsgi {

std::unique_ptr<IoEngine> make_epoll_io_engine();

}  // namespace uwsgi
