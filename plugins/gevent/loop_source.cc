// The Python half of the gevent loop engine: watchers and greenlets on gevent's hub. The C++ half
// (gevent_loop.cc) hands it `api`, a namespace of C callables into the worker.
#include "gevent_plugin.h"

namespace uwsgi_gevent {

const char* const kLoopSource = R"PY(
from collections import deque

import gevent
from greenlet import greenlet
from gevent.event import Event

_READ, _WRITE = 1, 2
_MAX_INCOMING = 4096  # connections waiting for a whole request head, per worker
_RECHECK = 0.05       # how often heads that arrive in pieces are looked at again


class ConnectionGreenlet(greenlet):
    """A raw greenlet per connection. gevent's hub looks up `switch_out` on the greenlet leaving
    for the hub (every blocking call): a plain greenlet has none, which costs an AttributeError
    per switch. The class attribute answers that lookup."""
    switch_out = None


class WorkerLoop:
    """Accepts on every listening fd and serves each connection in its own greenlet.

    At most `ncores` connections are served at once: each takes a core id (the core keeps one
    connection buffer per id), and the accept watchers stop while none is free. An idle
    keep-alive connection gives its id back and is parked on a read watcher until it is readable.

    As in the core's async loop, a connection (new, or woken from parking) gets a core (a
    greenlet) only once its whole request head has arrived (api.peek_head), except while more
    than a quarter of the cores are free: clients that trickle a head (slowloris) wait in
    `incoming`, re-checked every 50 ms, and are closed when the head is not complete within
    --socket-timeout of their accept or wake-up, or as soon as they close.
    """

    def __init__(self, api, listen_fds, signal_fd, ncores, wait_for_hub, idle_timeout):
        self.api = api
        self.hub = gevent.get_hub()
        self.loop = self.hub.loop
        self.run_callback = self.loop.run_callback
        self.serve_fn = api.serve
        self.ncores = ncores
        self.free = list(range(ncores - 1, -1, -1))
        self.active = 0
        self.listeners = [(fd, self.loop.io(fd, _READ)) for fd in listen_fds]
        self.accepting = False
        self.signal_fd = signal_fd
        # fd -> (listen fd, loop time parked at). Insertion order is parking order, so the
        # sweeper finds the expired ones at the front.
        self.parked = {}
        # fd -> read watcher of the connection on that fd, kept while it lives: parking and
        # waking a connection does not create or free watchers (see watcher()).
        self.watchers = {}
        self.serving = set()  # fds of the connections a greenlet serves now
        self.idle_timeout = idle_timeout  # --socket-timeout: an idle keep-alive connection closes
        # One timer sweeps the parked connections (instead of a timer each); an idle connection
        # closes between idle_timeout and 1.25 x idle_timeout after its last request.
        period = max(0.25, idle_timeout / 4.0)
        self.sweeper = self.loop.timer(period, period, ref=False)
        self.pending = deque()    # readable parked connections waiting for a core id
        # fd -> [listen fd, head deadline (loop time), watched for its first bytes]
        self.incoming = {}
        self.peek_head = api.peek_head
        self.rechecker = self.loop.timer(_RECHECK, _RECHECK, ref=False)
        self.draining = False
        self.grace = None         # while stopping: the parked connections are still served
        self.grace_over = False
        self.done = Event()
        self.wait_for_hub = wait_for_hub
        self.signal_busy = False

    # -- running ----------------------------------------------------------------------------
    def run(self):
        sig = None
        if self.signal_fd >= 0:
            sig = self.loop.io(self.signal_fd, _READ)
            sig.start(self.on_signal)
        self.set_accepting(True)
        self.sweeper.start(self.sweep)
        if self.api.stopping():
            self.drain()
        self.done.wait()
        self.sweeper.close()
        self.rechecker.close()
        if sig is not None:
            sig.stop()
        for _fd, w in self.listeners:
            w.close()
        if self.wait_for_hub:
            gevent.wait()  # greenlets spawned by requests run to their end

    def on_signal(self):
        # uWSGI signal handlers run from here and may block cooperatively (gevent.sleep), which
        # the hub itself must never do: give them a greenlet. Spawned greenlets start before the
        # loop polls again, so the level-triggered watcher does not fire twice for one wake-up.
        if not self.signal_busy:
            self.signal_busy = True
            gevent.spawn(self.run_signals)

    def run_signals(self):
        try:
            self.api.on_signal()
        finally:
            self.signal_busy = False
        if self.api.stopping():
            self.drain()

    def drain(self):
        # Accept no more (the other workers take the listen queue), but for the grace keep
        # serving the parked connections whose client sends its next request (a busy client
        # sends it as soon as a response is complete; the answers say Connection: close). Then
        # the ones still idle are closed without a reset (api.close_idle).
        if self.draining:
            return
        self.draining = True
        self.set_accepting(False)
        self.sweeper.stop()
        self.grace = self.loop.timer(self.api.stop_grace, 0.0)
        self.grace.start(self.end_grace)
        self.check_done()

    def end_grace(self):
        self.grace_over = True
        # Parked connections and half-sent heads still idle now: closed without a reset.
        fds = list(self.parked) + list(self.incoming)
        for fd in fds:
            self.drop_watcher(fd)
        self.parked.clear()
        self.incoming.clear()
        self.rechecker.stop()
        if fds:
            self.api.close_idle(fds)
        self.check_done()

    def check_done(self):
        if self.active == 0 and not self.pending and (self.grace_over or not (self.parked or self.incoming)):
            if self.grace is not None:
                self.grace.stop()
            self.done.set()

    # -- accepting --------------------------------------------------------------------------
    def set_accepting(self, on):
        if on == self.accepting:
            return
        self.accepting = on
        for lfd, w in self.listeners:
            if on:
                w.start(self.on_accept, lfd)
            else:
                w.stop()

    def on_accept(self, lfd):
        # Runs in the hub: never blocks (accept is non-blocking, spawn only schedules).
        if self.api.stopping():
            self.drain()
            return
        while self.free and len(self.incoming) < _MAX_INCOMING:
            fd = self.api.accept(lfd)
            if fd < 0:
                break
            self.admit(fd, lfd)
        if not self.free or len(self.incoming) >= _MAX_INCOMING:
            self.set_accepting(False)

    def admit(self, fd, lfd):
        # With cores to spare a new or woken connection goes straight to one (no peek); the
        # whole-head check guards the last quarter of the cores.
        if len(self.free) * 4 > self.ncores and not self.incoming:
            self.start(fd, lfd)
        else:
            self.consider(fd, lfd, True)

    def consider(self, fd, lfd, fresh):
        """Give fd a core once its request head is complete; until then keep it in incoming."""
        st = self.peek_head(fd)
        entry = self.incoming.get(fd)
        if st == 1 or st == -2:
            if entry is not None:
                del self.incoming[fd]
                if entry[2]:
                    self.watchers[fd].stop()
            if st == -2:  # the peer left: nothing to serve
                self.close(fd)
            elif self.free:
                self.start(fd, lfd)
            else:
                self.pending.append((fd, lfd))
            return
        if entry is None:
            entry = self.incoming[fd] = [lfd, self.loop.now() + self.idle_timeout, False]
            if not self.rechecker.active:
                self.rechecker.start(self.recheck)
        if st == -1 and fresh and not entry[2]:  # nothing yet: wake when the first bytes arrive
            entry[2] = True
            self.watcher(fd).start(self.on_incoming, fd)
        elif st == 0 and entry[2]:  # part of a head: level-triggered readiness would spin
            entry[2] = False
            self.watchers[fd].stop()

    def on_incoming(self, fd):
        entry = self.incoming.get(fd)
        if entry is not None:
            self.consider(fd, entry[0], False)

    def recheck(self):
        now = self.loop.now()
        for fd, entry in list(self.incoming.items()):
            if now >= entry[1]:
                del self.incoming[fd]
                self.drop_watcher(fd)
                self.api.head_timeout(fd, self.idle_timeout)
            elif not entry[2]:
                self.consider(fd, entry[0], False)
        if not self.incoming:
            self.rechecker.stop()
        if self.draining:
            self.check_done()
        elif self.free and not self.accepting and len(self.incoming) < _MAX_INCOMING:
            self.set_accepting(True)

    def watcher(self, fd):
        w = self.watchers.get(fd)
        if w is None:
            w = self.watchers[fd] = self.loop.io(fd, _READ)
        return w

    def drop_watcher(self, fd):
        # A watcher must not outlive its connection: libev re-registers an fd with the kernel
        # only for a new watcher (or a changed event mask), so an old watcher restarted for a
        # new socket on a reused fd number, with no loop iteration between the close and the
        # accept, would never fire (the connection hung until --socket-timeout).
        w = self.watchers.pop(fd, None)
        if w is not None:
            w.close()

    def close(self, fd):
        self.drop_watcher(fd)
        self.api.close(fd)

    def start(self, fd, lfd):
        core = self.free.pop()
        self.active += 1
        self.serving.add(fd)
        # A raw greenlet (what gevent.spawn_raw makes) straight on the C serve call: nobody
        # joins a connection's greenlet, and no Python frame of ours sits under the app's (each
        # suspended greenlet keeps a copy of its C stack, and every Python frame level costs
        # memory per in-flight request).
        # api.serve calls self.served() when the connection is done or idle.
        self.run_callback(ConnectionGreenlet(self.serve_fn, self.hub).switch, fd, lfd, core)

    def served(self, fd, lfd, core, idle):
        self.free.append(core)
        self.active -= 1
        self.serving.discard(fd)
        if idle:
            self.park(fd, lfd)
        else:  # the core closed it
            self.drop_watcher(fd)
        self.core_freed()

    def park(self, fd, lfd):
        # (A stop that came without a signal is noticed by core_freed, which runs right after
        # this and starts the grace.)
        if self.grace_over:
            self.drop_watcher(fd)
            self.api.close_idle([fd])
            return
        self.parked[fd] = (lfd, self.loop.now())
        self.watcher(fd).start(self.on_parked, fd)

    def sweep(self):
        limit = self.loop.now() - self.idle_timeout
        expired = []
        for fd, (_lfd, since) in self.parked.items():
            if since > limit:
                break
            expired.append(fd)
        for fd in expired:
            del self.parked[fd]
            self.close(fd)

    def on_parked(self, fd):
        entry = self.parked.pop(fd, None)
        self.watchers[fd].stop()
        if entry is None:
            return
        self.admit(fd, entry[0])

    def core_freed(self):
        stopping = self.draining or self.api.stopping()
        if stopping:
            self.drain()
        while self.free and self.pending:  # also while stopping: they sent a request
            fd, lfd = self.pending.popleft()
            self.start(fd, lfd)
        if stopping:
            self.check_done()
        elif self.free and not self.accepting and len(self.incoming) < _MAX_INCOMING:
            self.set_accepting(True)


def make_wait(wl):
    """wait(fd, events, timeout_ms) for the core's socket I/O: 1 ready, 0 timeout, -1 error,
    -2 when called outside a greenlet that may block (the caller then polls).
    Raw watchers whose callbacks switch straight back, not gevent.Timeout + hub.wait(): a
    websocket waits once per message, and the Timeout object and Waiter cost a third of it.
    A read wait on a connection being served reuses the connection's read watcher (started and
    stopped, not made and freed per wait; dropped with the connection, see drop_watcher)."""
    hub = wl.hub
    loop = hub.loop
    getcurrent = gevent.getcurrent
    hub_switch = hub.switch
    watchers = wl.watchers
    serving = wl.serving
    make_watcher = wl.watcher

    def wait(fd, events, timeout_ms):
        g = getcurrent()
        if g is hub:
            return -2
        w = None
        if events == 1 and fd in serving:
            w = watchers.get(fd) or make_watcher(fd)
            if w.active:  # another greenlet waits on it (request_context=): one of our own
                w = None
        own = w is None
        if own:
            w = loop.io(fd, (_READ if events & 1 else 0) | (_WRITE if events & 2 else 0))
        t = loop.timer(timeout_ms / 1000.0) if timeout_ms > 0 else None
        try:
            w.start(g.switch, 1)
            if t is not None:
                t.start(g.switch, 0)
            r = hub_switch()
            return r if r == 1 or r == 0 else -1
        except BaseException:
            # Killed (GreenletExit) or another greenlet's exception: the core closes the
            # connection; the exception cannot cross the C++ frames above.
            return -1
        finally:
            if own:
                w.close()
            else:
                w.stop()
            if t is not None:
                t.close()

    return wait
)PY";

}  // namespace uwsgi_gevent
