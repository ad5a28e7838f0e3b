// --offload-threads: threads of a worker process that send file bodies to clients (epoll and
// non-blocking sendfile), so the worker's core takes its next request at once while a slow client
// downloads. A handed-over connection is closed by its offload thread once the body is out (the
// response said Connection: close).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace uwsgi {

// Bodies smaller than this are sent by the core itself: they fit the socket buffer, and keeping
// the connection alive is worth more than freeing the core for a moment.
constexpr size_t kOffloadMinBytes = 128 * 1024;

// --offload-threads > 0 in this process.
bool offload_enabled();

// The offload threads own sock and file_fd from here (both are closed when done, on error, or
// after --socket-timeout without progress). Starts the threads on first use in this process.
// false: not handed over (threads could not start); the caller still owns both fds.
bool offload_send_file(int sock, int file_fd, off_t offset, size_t len);

// A stopping worker calls this after its last request: the downloads it handed over finish
// before the process exits (a graceful reload or --max-requests loses none).
void offload_drain();

}  // namespace uwsgi
