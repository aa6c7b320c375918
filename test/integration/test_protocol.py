#!/usr/bin/env python3
"""test_protocol.py - the uvfib executable's reading of HTTP/1.1 and of the
Fibonacci route's number, over raw sockets: trailer fields of a chunked body
(never headers, never body, counted against the header limits) and n beyond
2^64 - 1. Regression tests of reviewed defects, each named for what must hold.

Each test starts its own server on 127.0.0.1 port 0 and ends with it stopped
by tearDown's SIGTERM, which must give a clean drain and exit status 0.

Environment:
  UVFIB_BIN   the executable (default build/src/uvfib)
  UVFIB_WRAP  a command prefix, e.g. "valgrind --error-exitcode=99 ..."; every
              deadline is then multiplied by 10
Arguments: -k PATTERN (repeatable) runs only the matching test methods.

Output: TAP on stdout (1..N, ok / not ok per test method); unittest's usual
diagnostics and the server's stderr of failed tests on stderr. Exit 1 if any
test failed. Python 3 standard library only.
"""
import sys
import unittest

import tap
from uvfibtest import ClientTest, request

# ---------------------------------------------------------------- chunked trailers


def chunked(path, chunks, trailers, host="test", extra=()):
    """A GET of `path` whose body is `chunks` in chunked coding, ended by the trailer lines."""
    head = request("GET", path, host=host, headers=["Transfer-Encoding: chunked", *extra])
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return head + body + b"0\r\n" + b"".join(t + b"\r\n" for t in trailers) + b"\r\n"


def trailer_lines(n, size):
    """n trailer lines of `size` bytes each, CRLF included."""
    return [(b"X%02d: " % (i % 100)).ljust(size - 2, b"v") for i in range(n)]


class Trailers(ClientTest):
    """Trailer fields went through the header path into the message buffer: past the end of
    the body (uncounted against --max-body-bytes), and as headers of the request."""

    def test_host_trailer_does_not_stand_in_for_a_missing_host(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(chunked("/healthz", [], [b"Host: test"], host=None))
        r = c.read_response()
        self.assert_json_error(r.status, r.body, 400, "HTTP/1.1 with Host only as a trailer")
        self.assertIn("Host", r.json()["error"])
        self.assertEqual(r.headers["connection"], "close")

    def test_trailers_are_dropped_and_the_next_request_is_whole(self):
        # 90 trailers of 100 bytes fit the default header limits (16384 bytes, 100 fields)
        # and would be 9000 bytes of body against a limit of 16.
        server = self.start("--port", "0", "--max-body-bytes", "16")
        c = self.raw(server)
        c.send(chunked("/healthz", [b"hello"], [b"X-T: smuggled"] + trailer_lines(90, 100))
               + request("GET", "/fibonacci/10"))
        for want in ({"status": "ok"}, {"success": True, "result": 55}):
            r = c.read_response()
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json(), want)
            self.assertEqual(r.headers["connection"], "keep-alive")
        self.assertFalse(c.readable_now(), "bytes after the second response")

    def test_trailer_bytes_over_max_header_bytes_are_431(self):
        server = self.start("--port", "0", "--max-header-bytes", "256")
        c = self.raw(server)
        # Host (4 + 4 + 4) and Transfer-Encoding (17 + 7 + 4) leave 216 bytes.
        c.send(chunked("/healthz", [b"hi"], trailer_lines(2, 108)))
        self.assertEqual(c.read_response().status, 200)
        c.send(chunked("/healthz", [b"hi"], trailer_lines(2, 109)))
        r = c.read_response()
        self.assert_json_error(r.status, r.body, 431, "trailers over --max-header-bytes")
        self.assertEqual(r.headers["connection"], "close")
        self.assert_closed_by_server(c)

    def test_trailer_fields_over_max_headers_are_431(self):
        server = self.start("--port", "0", "--max-headers", "4")
        c = self.raw(server)
        c.send(chunked("/healthz", [b"hi"], trailer_lines(2, 20)))
        self.assertEqual(c.read_response().status, 200)
        c.send(chunked("/healthz", [b"hi"], trailer_lines(3, 20)))
        r = c.read_response()
        self.assert_json_error(r.status, r.body, 431, "trailers over --max-headers")
        self.assertEqual(r.headers["connection"], "close")
        self.assert_closed_by_server(c)


# ---------------------------------------------------------------- n beyond 2^64 - 1


class LargeNumbers(ClientTest):
    """A 20-digit n above 2^64 - 1 was a 400 "digits 0-9 only, at most 20 of them", which it
    is; every other n over --max-n is a 422."""

    def test_20_digit_n_over_2_64_is_422_like_any_n_too_large(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        for n in ("18446744073709551615", "18446744073709551616", "99999999999999999999",
                  "00000000000000000046"):
            with self.subTest(n=n):
                c.send(request("GET", "/fibonacci/" + n))
                r = c.read_response()
                doc = self.assert_json_error(r.status, r.body, 422, n)
                self.assertEqual(doc["error"], "number too large: this server accepts n from 0 "
                                 "to 45")

    def test_more_than_20_digits_is_still_400(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        for n in ("100000000000000000000", "1" * 25, "000000000000000000001"):
            with self.subTest(n=n):
                c.send(request("GET", "/fibonacci/" + n))
                r = c.read_response()
                self.assert_json_error(r.status, r.body, 400, n)


class ExpectContinue(ClientTest):
    """A client that sends "Expect: 100-continue" waits for 100 Continue before its body (curl
    for a second, then sends it anyway); the server said nothing, so each such request lost
    the client's whole wait."""

    def head(self, version="HTTP/1.1", expect="100-continue", length=5):
        return request("POST", "/healthz", version=version,
                       headers=["Content-Length: %d" % length, "Expect: " + expect])

    def test_100_continue_comes_before_the_body_is_sent(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        for expect in ("100-continue", "100-Continue", " 100-continue "):
            with self.subTest(expect=expect):
                c.send(self.head(expect=expect))
                interim = c.read_response(head=True)  # the server's answer to the head alone
                self.assertEqual((interim.version, interim.status), ("HTTP/1.1", 100))
                self.assertEqual(interim.headers, {})
                c.send(b"hello")
                r = c.read_response()
                self.assert_json_error(r.status, r.body, 405, "POST to a GET route")
                self.assertEqual(r.headers["connection"], "keep-alive")
        c.send(request("GET", "/fibonacci/10"))
        self.assertEqual(c.read_response().json(), {"success": True, "result": 55})

    def test_no_100_when_the_body_came_with_the_head_or_none_is_due(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        # The body in the same write: nothing to wait for, the final answer only.
        c.send(self.head() + b"hello")
        self.assertEqual(c.read_response().status, 405)
        # No body: nothing to continue; HTTP/1.0 does not know 100.
        c.send(self.head(length=0))
        self.assertEqual(c.read_response().status, 405)
        c.send(self.head(version="HTTP/1.0") + b"hello")
        r = c.read_response()
        self.assertEqual((r.version, r.status), ("HTTP/1.1", 405))
        self.assert_closed_by_server(c)

    def test_a_body_over_the_limit_gets_413_not_100(self):
        server = self.start("--port", "0", "--max-body-bytes", "4")
        c = self.raw(server)
        c.send(self.head(length=5))
        r = c.read_response()
        self.assert_json_error(r.status, r.body, 413, "declared body over the limit")
        self.assertEqual(r.headers["connection"], "close")


class NotImplemented_(ClientTest):
    """Well-formed requests uvfib does not implement were served as HTTP/1.1 (HTTP/2.0 and 0.9
    request lines), refused as malformed (an unknown method, 400), or handed on with their
    bytes still coded (gzip before chunked)."""

    def refused(self, c, status, words):
        r = c.read_response()
        self.assert_json_error(r.status, r.body, status, words)
        self.assertIn(words, r.json()["error"])
        self.assertEqual(r.headers["connection"], "close")
        self.assert_closed_by_server(c)

    def test_another_http_version_is_505(self):
        server = self.start("--port", "0")
        for version in ("HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0"):
            with self.subTest(version=version):
                c = self.raw(server)
                c.send(request("GET", "/fibonacci/10", version=version))
                self.refused(c, 505, "HTTP version not supported")

    def test_an_unknown_method_is_501(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(request("BREW", "/fibonacci/10"))
        self.refused(c, 501, "method not implemented")

    def test_a_coding_besides_chunked_is_501_after_the_body(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(request("GET", "/healthz", headers=["Transfer-Encoding: gzip, chunked"])
               + b"2\r\n\x1f\x8b\r\n0\r\n\r\n" + request("GET", "/fibonacci/10"))
        self.refused(c, 501, "transfer coding not supported")
        # chunked alone is decoded, and the connection goes on.
        c = self.raw(server)
        c.send(chunked("/healthz", [b"hi"], []) + request("GET", "/fibonacci/10"))
        self.assertEqual(c.read_response().status, 200)
        self.assertEqual(c.read_response().json(), {"success": True, "result": 55})


if __name__ == "__main__":
    sys.exit(tap.main(sys.modules[__name__], sys.argv[1:]))
