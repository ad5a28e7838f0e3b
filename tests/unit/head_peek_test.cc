// uwsgi::peek_request_head (include/uwsgi/head_peek.h): what the async and gevent loops see of a
// connection before giving it a core, on a unix stream pair (it has POLLRDHUP, as TCP does).
#include <uwsgi/head_peek.h>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace {

using uwsgi::HeadPeek;

// A connected pair: client (what a test writes to) and server (what is peeked).
struct Pair {
  int client = -1, server = -1;
  Pair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
      client = sv[0];
      server = sv[1];
    }
  }
  ~Pair() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
  void send(const std::string& s) { ASSERT_EQ(::write(client, s.data(), s.size()), (ssize_t)s.size()); }
};

TEST(HeadPeek, HttpHeadComplete) {
  EXPECT_TRUE(uwsgi::request_head_complete("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27));
  EXPECT_TRUE(uwsgi::request_head_complete("GET / HTTP/1.1\nHost: a\n\n", 24));
  EXPECT_FALSE(uwsgi::request_head_complete("GET / HTTP/1.1\r\nHost: a\r\n", 25));
  EXPECT_FALSE(uwsgi::request_head_complete("GE", 2));
}

TEST(HeadPeek, States) {
  Pair p;
  ASSERT_GE(p.server, 0);
  EXPECT_EQ(uwsgi::peek_request_head(p.server), HeadPeek::kNothing);
  p.send("GET / HTTP/1.1\r\nHo");
  EXPECT_EQ(uwsgi::peek_request_head(p.server), HeadPeek::kPartial);
  p.send("st: a\r\n\r\n");
  EXPECT_EQ(uwsgi::peek_request_head(p.server), HeadPeek::kComplete);
  // a peek consumes nothing
  char buf[64];
  EXPECT_EQ(recv(p.server, buf, sizeof buf, MSG_DONTWAIT), 27);
}

TEST(HeadPeek, PeerLeavesBeforeOrInsideAHead) {
  {
    Pair p;
    close(p.client);
    p.client = -1;
    EXPECT_EQ(uwsgi::peek_request_head(p.server), HeadPeek::kGone);
  }
  {
    Pair p;
    p.send("GET / HTTP/1.1\r\nHo");
    shutdown(p.client, SHUT_WR);
    EXPECT_EQ(uwsgi::peek_request_head(p.server), HeadPeek::kAbandoned);
  }
  {
    // a whole head followed by the client's half-close is still served (HTTP/1.0 style)
    Pair p;
    p.send("GET / HTTP/1.0\r\n\r\n");
    shutdown(p.client, SHUT_WR);
    EXPECT_EQ(uwsgi::peek_request_head(p.server), HeadPeek::kComplete);
  }
}

}  // namespace
