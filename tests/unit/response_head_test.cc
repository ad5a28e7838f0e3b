// uwsgi::parse_response_head (core/router/response_head.h): what the HTTP router reads of a
// worker's answer to decide framing and keep-alive.
#include "router/response_head.h"

#include <gtest/gtest.h>

namespace {

using uwsgi::ResponseHead;

TEST(ResponseHead, IncompleteUntilTheBlankLine) {
  ResponseHead h;
  EXPECT_EQ(uwsgi::parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", &h), 0);
  EXPECT_EQ(uwsgi::parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &h), 1);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.content_length, 5);
  EXPECT_FALSE(h.chunked);
  EXPECT_EQ(h.head_len, sizeof("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") - 1);
  EXPECT_EQ(h.lines.size(), 2u);
}

TEST(ResponseHead, FramingAndConnection) {
  ResponseHead h;
  ASSERT_EQ(uwsgi::parse_response_head("HTTP/1.1 404 Not Found\r\ntransfer-encoding: gzip, chunked\r\n"
                                       "Connection: close\r\n\r\n", &h), 1);
  EXPECT_EQ(h.status, 404);
  EXPECT_TRUE(h.chunked);
  EXPECT_TRUE(h.conn_close);
  EXPECT_EQ(h.content_length, -1);
  ASSERT_EQ(uwsgi::parse_response_head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", &h), 1);
  EXPECT_EQ(h.status, 101);
}

TEST(ResponseHead, NotAResponseIsAnError) {
  ResponseHead h;
  EXPECT_EQ(uwsgi::parse_response_head("garbage\r\n\r\n", &h), -1);
  EXPECT_EQ(uwsgi::parse_response_head("HTTP/1.1 2x0 OK\r\n\r\n", &h), -1);
  EXPECT_EQ(uwsgi::parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &h), -1);
  EXPECT_EQ(uwsgi::parse_response_head("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", &h), -1);
  EXPECT_EQ(uwsgi::parse_response_head("nope!", &h), -1);
}

TEST(ResponseHead, HeaderNamed) {
  EXPECT_TRUE(uwsgi::header_named("Content-Length: 3", "content-length"));
  EXPECT_FALSE(uwsgi::header_named("Content-Lengthy: 3", "content-length"));
  EXPECT_FALSE(uwsgi::header_named("Content", "content-length"));
}

}  // namespace
