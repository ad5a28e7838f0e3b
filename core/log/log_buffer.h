// Each process's log output: lines are queued in a bounded buffer and written by a thread of the
// process, so a slow or stalled log destination (a full pipe, a stopped terminal, a busy master)
// never stalls the loop that serves requests. Lines that do not fit in the buffer are dropped
// and counted; one line says how many once the destination takes lines again.
//
// The thread writes what gathered in a batch (one write() for many request lines). Before a
// process exits, execs or forks, log_flush() waits (bounded) until everything is written.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uwsgi {

// Queue complete lines (data ends with '\n'); never blocks.
void log_enqueue(const char* data, size_t n);
// The server's own lines: written at once when nothing is queued (so they keep their order with
// what the app writes to stderr), else queued behind the rest.
void log_write_now(const char* data, size_t n);
// Wait up to timeout_ms until every queued line is written.
void log_flush(int timeout_ms = 2000);
// Bytes of lines a process keeps for a slow destination before dropping (--log-buffer-size).
void set_log_buffer_limit(size_t bytes);
// --log-master: this process's lines go to the master as datagrams on fd (at most max_dgram
// bytes each: a longer line is cut).
void set_log_datagram_target(int fd, size_t max_dgram);
// Called by the writer before each write to the log file (--touch-logreopen).
void set_log_before_write(void (*fn)());
// Lines dropped so far in this process (tests, stats).
uint64_t log_dropped_total();

}  // namespace uwsgi
