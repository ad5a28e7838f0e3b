// bind_listener: TCP_DEFER_ACCEPT by default, off with ListenOptions::defer_accept = false
// (--no-defer-accept); TCP_NODELAY always; the buffer sizes, send timeout and IP_FREEBIND asked for.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/listener.h"

namespace uwsgi {
namespace {

int defer_of(const ListenOptions& opt) {
  Listener l;
  std::string err;
  EXPECT_TRUE(bind_listener("127.0.0.1:0", Protocol::kHttp, opt, &l, &err)) << err;
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(l.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len), 0);
  int nodelay = 0;
  len = sizeof nodelay;
  EXPECT_EQ(getsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_NE(nodelay, 0);
  close(l.fd);
  return v;
}

TEST(Listener, DeferAcceptByDefaultAndOffWhenAsked) {
  ListenOptions opt;
  EXPECT_GT(defer_of(opt), 0);
  opt.defer_accept = false;
  EXPECT_EQ(defer_of(opt), 0);
}

int sockopt_int(int fd, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(fd, SOL_SOCKET, name, &v, &len), 0);
  return v;
}

// --socket-sndbuf, --socket-rcvbuf, --so-send-timeout: on the listening socket (the kernel doubles
// the buffer sizes it is given), TCP and unix alike.
TEST(Listener, BufferSizesAndSendTimeoutWhenAsked) {
  for (std::string spec : {std::string("127.0.0.1:0"), "/tmp/uwsgi-listener-test-" + std::to_string(getpid()) + ".sock"}) {
    ListenOptions opt;
    opt.sndbuf = 65536;
    opt.rcvbuf = 32768;
    opt.send_timeout_s = 7;
    Listener l;
    std::string err;
    ASSERT_TRUE(bind_listener(spec, Protocol::kHttp, opt, &l, &err)) << err;
    EXPECT_EQ(sockopt_int(l.fd, SO_SNDBUF), 2 * 65536) << spec;
    EXPECT_EQ(sockopt_int(l.fd, SO_RCVBUF), 2 * 32768) << spec;
    timeval tv{};
    socklen_t len = sizeof tv;
    EXPECT_EQ(getsockopt(l.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
    EXPECT_EQ(tv.tv_sec, 7) << spec;
    close(l.fd);
    if (!l.unix_path.empty()) unlink(l.unix_path.c_str());
  }
}

// --freebind: an address this host does not have (TEST-NET-1) binds only with IP_FREEBIND.
TEST(Listener, FreebindBindsAForeignAddress) {
  ListenOptions opt;
  Listener l;
  std::string err;
  EXPECT_FALSE(bind_listener("192.0.2.1:0", Protocol::kHttp, opt, &l, &err));
  opt.freebind = true;
  ASSERT_TRUE(bind_listener("192.0.2.1:0", Protocol::kHttp, opt, &l, &err)) << err;
  EXPECT_EQ(l.addr, "192.0.2.1");
  close(l.fd);
}

}  // namespace
}  // namespace uwsgi
