#!/usr/bin/env python3
"""gen_llhttp_corpus.py - writes test/corpus/{valid,hostile}/*.http, index.tsv and README.md
from request examples of llhttp's own test suite (nodejs/llhttp test/request/*.md).

Each case below holds the text of one ```http block exactly as the .md file has it (llhttp's
notation: one line per line, `\\r` `\\n` `\\t` `\\f` `\\xHH` `\\OOO` escapes, a trailing `\\`
joins two lines). to_bytes() turns it into the bytes llhttp's test runner feeds its parser,
step by step as test/md-test.ts does, and encodes the result as UTF-8 like the runner.

Run it from anywhere: python3 test/corpus/gen_llhttp_corpus.py
It rewrites every file it owns and leaves any other file in the corpus alone.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Where each .md file was read (nodejs/llhttp, 9.x line). "newer copy" marks a case that the
# stored copy at that commit lacks; it was read from a later copy whose commit is not recorded.
SOURCES = {
    'invalid': ('test/request/invalid.md', '07fb6df69262'),
    'sample': ('test/request/sample.md', '11ceb694c3a6'),
    'connection': ('test/request/connection.md', '311e81465d4d'),
    'content-length': ('test/request/content-length.md', 'b9d46bcbe5a0'),
    'transfer-encoding': ('test/request/transfer-encoding.md', '0ebaea78ee4f'),
    'uri': ('test/request/uri.md', '07fb6df69262'),
    'method': ('test/request/method.md', '11f16293bc41'),
    'lenient-headers': ('test/request/lenient-headers.md', '015e155358f0'),
    'lenient-header-value-relaxed': ('test/request/lenient-header-value-relaxed.md',
                                     '7fdb003e0836'),
    'pausing': ('test/request/pausing.md', '11ceb694c3a6'),
    'pipelining': ('test/request/pipelining.md', '7094b9798fa3'),
}


def to_bytes(block):
    """The conversion of llhttp test/md-test.ts, in its order. `block` is the text between
    the ```http line and the closing ``` line, with the newline that ends the last line."""
    s = block
    s = re.sub(r'\n\Z', '', s)                       # Remove trailing newline (JS `$`)
    s = re.sub(r'\\(\r\n|\r|\n)', '', s)             # Remove escaped newlines
    s = re.sub(r'\r\n|\r|\n', '\r\n', s)             # Normalize all newlines
    s = s.replace('\\r', '\r')                       # Replace escaped CRLF, tabs, form-feed
    s = s.replace('\\n', '\n')
    s = s.replace('\\t', '\t')
    s = s.replace('\\f', '\f')
    s = re.sub(r'\\x([0-9a-fA-F]+)', lambda m: chr(int(m.group(1), 16)), s)
    s = re.sub(r'\\([0-7]{1,3})', lambda m: chr(int(m.group(1), 8)), s)
    if re.search(r'\$\{(.+?)\}', s):
        raise ValueError('inline JavaScript is not supported here')
    return s.encode('utf-8')


def blk(text):
    """Drops the newline right after the opening triple quote of a case."""
    assert text.startswith('\n')
    return text[1:]


# (source, short name, heading in the .md, expect, layer, note, block)
#   expect: valid   -> the head is well-formed; the strict check must end it (DONE)
#           hostile -> uvfib must refuse it (400; 501/505 for a method or version it does
#                      not implement) and close
#   layer:  strict  -> src/strict.c rejects it (ERROR), whatever llhttp version is linked
#           llhttp  -> the head is well-formed; llhttp rejects the message (CL/TE semantics,
#                      chunked body, method or version llhttp does not know)
#           -       -> valid
CASES = []


def case(src, name, heading, expect, layer, note, block):
    CASES.append((src, name, heading, expect, layer, note, blk(block)))


# ---------------------------------------------------------------------------------------------
# invalid.md
# ---------------------------------------------------------------------------------------------
case('invalid', 'ice-protocol-get', 'ICE protocol and GET method', 'hostile', 'strict',
     'version must be HTTP/D.D', r'''
GET /music/sweet/music ICE/1.0
Host: example.com


''')
case('invalid', 'ihttp-protocol', 'ICE protocol, but not really', 'hostile', 'strict',
     '', r'''
GET /music/sweet/music IHTTP/1.0
Host: example.com


''')
case('invalid', 'rtsp-protocol-put', 'RTSP protocol and PUT method', 'hostile', 'strict',
     '', r'''
PUT /music/sweet/music RTSP/1.0
Host: example.com


''')
case('invalid', 'announce-over-http', 'HTTP protocol and ANNOUNCE method', 'hostile', 'llhttp',
     'ANNOUNCE is a token; llhttp refuses it for HTTP/x.x', r'''
ANNOUNCE /music/sweet/music HTTP/1.0
Host: example.com


''')
case('invalid', 'headers-separated-by-cr', 'Headers separated by CR', 'hostile', 'strict',
     '', r'''
GET / HTTP/1.1
Foo: 1\rBar: 2


''')
case('invalid', 'headers-separated-by-lf', 'Headers separated by LF', 'hostile', 'strict',
     '', r'''
POST / HTTP/1.1
Host: localhost:5000
x:x\nTransfer-Encoding: chunked

1
A
0

''')
case('invalid', 'headers-separated-by-dummy', 'Headers separated by dummy characters',
     'hostile', 'strict', '', r'''
GET / HTTP/1.1
Connection: close
Host: a
\rZGET /evil: HTTP/1.1
Host: a

''')
case('invalid', 'empty-header-then-cr', 'Empty headers separated by CR', 'hostile', 'strict',
     '', r'''
POST / HTTP/1.1
Connection: Close
Host: localhost:5000
x:\rTransfer-Encoding: chunked

1
A
0

''')
case('invalid', 'empty-header-then-lf', 'Empty headers separated by LF', 'hostile', 'strict',
     '', r'''
POST / HTTP/1.1
Host: localhost:5000
x:\nTransfer-Encoding: chunked

1
A
0

''')
case('invalid', 'header-token-at', 'Invalid header token #1', 'hostile', 'strict', '', r'''
GET / HTTP/1.1
Fo@: Failure


''')
case('invalid', 'header-token-ctl', 'Invalid header token #2', 'hostile', 'strict', '', r'''
GET / HTTP/1.1
Foo\01\test: Bar


''')
case('invalid', 'header-token-empty', 'Invalid header token #3', 'hostile', 'strict', '', r'''
GET / HTTP/1.1
: Bar


''')
case('invalid', 'method-mkcola', 'Invalid method', 'hostile', 'llhttp',
     'MKCOLA is a token; llhttp knows no such method', r'''
MKCOLA / HTTP/1.1


''')
case('invalid', 'name-line-folding', 'Illegal header field name line folding', 'hostile',
     'strict', '', r'''
GET / HTTP/1.1
name
 : value


''')
case('invalid', 'corrupted-connection', 'Corrupted Connection header', 'hostile', 'strict',
     '', r'''
GET / HTTP/1.1
Host: www.example.com
Connection\r\033\065\325eep-Alive
Accept-Encoding: gzip


''')
case('invalid', 'corrupted-header-name', 'Corrupted header name', 'hostile', 'strict', '', r'''
GET / HTTP/1.1
Host: www.example.com
X-Some-Header\r\033\065\325eep-Alive
Accept-Encoding: gzip


''')
case('invalid', 'missing-cr-between-headers', 'Missing CR between headers', 'hostile',
     'strict', '', r'''
GET / HTTP/1.1
Host: localhost
Dummy: x\nContent-Length: 23

GET / HTTP/1.1
Dummy: GET /admin HTTP/1.1
Host: localhost


''')
case('invalid', 'http-version-5-6', 'Invalid HTTP version', 'hostile', 'llhttp',
     'HTTP/5.6 has the HTTP/D.D shape; the head is also unfinished (no CRLF)', r'''
GET / HTTP/5.6
''')
case('invalid', 'space-after-start-line', 'Invalid space after start line', 'hostile',
     'strict', '', r'''
GET / HTTP/1.1
 Host: foo
''')
case('invalid', 'only-lfs', 'Only LFs present', 'hostile', 'strict', '', r'''
POST / HTTP/1.1\n\
Transfer-Encoding: chunked\n\
Trailer: Baz
Foo: abc\n\
Bar: def\n\
\n\
1\n\
A\n\
1;abc\n\
B\n\
1;def=ghi\n\
C\n\
1;jkl="mno"\n\
D\n\
0\n\
\n\
Baz: ghi\n\
\n\
''')
case('invalid', 'spaces-before-headers', 'Spaces before headers', 'hostile', 'strict',
     'obs-fold smuggling a Content-Length', r'''
POST /hello HTTP/1.1
Host: localhost
Foo: bar
 Content-Length: 38

GET /bye HTTP/1.1
Host: localhost


''')

# ---------------------------------------------------------------------------------------------
# sample.md
# ---------------------------------------------------------------------------------------------
case('sample', 'simple-request', 'Simple request', 'valid', '-', '', r'''
OPTIONS /url HTTP/1.1
Header1: Value1
Header2:\t Value2


''')
case('sample', 'head', 'Request with method starting with `H`', 'valid', '-', '', r'''
HEAD /url HTTP/1.1


''')
case('sample', 'curl-get', 'curl GET', 'valid', '-', '', r'''
GET /test HTTP/1.1
User-Agent: curl/7.18.0 (i486-pc-linux-gnu) libcurl/7.18.0 OpenSSL/0.9.8g zlib/1.2.3.3 libidn/1.1
Host: 0.0.0.0=5000
Accept: */*


''')
case('sample', 'firefox-get', 'Firefox GET', 'valid', '-', '', r'''
GET /favicon.ico HTTP/1.1
Host: 0.0.0.0=5000
User-Agent: Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9) Gecko/2008061015 Firefox/3.0
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8
Accept-Language: en-us,en;q=0.5
Accept-Encoding: gzip,deflate
Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7
Keep-Alive: 300
Connection: keep-alive


''')
case('sample', 'dumbpack', 'DUMBPACK', 'valid', '-', '', r'''
GET /dumbpack HTTP/1.1
aaaaaaaaaaaaa:++++++++++


''')
case('sample', 'no-headers-no-body', 'No headers and no body', 'valid', '-', '', r'''
GET /get_no_headers_no_body/world HTTP/1.1


''')
case('sample', 'one-header-no-body', 'One header and no body', 'valid', '-', '', r'''
GET /get_one_header_no_body HTTP/1.1
Accept: */*


''')
case('sample', 'apache-bench-get', 'Apache bench GET', 'valid', '-', '', r'''
GET /test HTTP/1.0
Host: 0.0.0.0:5000
User-Agent: ApacheBench/2.3
Accept: */*


''')
case('sample', 'prefix-newline', 'Prefix newline', 'valid', '-', '', r'''
\r\nGET /test HTTP/1.1


''')
case('sample', 'no-http-version', 'No HTTP version', 'hostile', 'strict',
     'llhttp accepts it as HTTP/0.9; uvfib serves HTTP/1.x only', r'''
GET /


''')
case('sample', 'line-folding-crlf', 'Line folding in header value with CRLF', 'hostile',
     'strict', 'llhttp 9 accepts obs-fold; RFC 9112 5.2 lets a server reject it', r'''
GET / HTTP/1.1
Line1:   abc
\tdef
 ghi
\t\tjkl
  mno 
\t \tqrs
Line2: \t line2\t
Line3:
 line3
Line4: 
 
Connection:
 close


''')
case('sample', 'line-folding-lf', 'Line folding in header value with LF', 'hostile', 'strict',
     '', r'''
GET / HTTP/1.1\n\
Line1:   abc\n\
\tdef\n\
 ghi\n\
\t\tjkl\n\
  mno \n\
\t \tqrs\n\
Line2: \t line2\t\n\
Line3:\n\
 line3\n\
Line4: \n\
 \n\
Connection:\n\
 close\n\
\n
''')
case('sample', 'request-starting-with-crlf', 'Request starting with CRLF', 'valid', '-', '', r'''
\r\nGET /url HTTP/1.1
Header1: Value1


''')
case('sample', 'extended-characters', 'Extended Characters', 'valid', '-',
     'obs-text (UTF-8) in a field value', '''
GET / HTTP/1.1
Test: D\u00fcsseldorf


''')
case('sample', '255-in-header-value', '255 ASCII in header value', 'valid', '-',
     'the runner sends U+00FF as UTF-8 (C3 BF): obs-text', r'''
OPTIONS /url HTTP/1.1
Header1: Value1
Header2: \xffValue2


''')

# ---------------------------------------------------------------------------------------------
# connection.md
# ---------------------------------------------------------------------------------------------
case('connection', 'keep-alive', 'Setting flag', 'valid', '-', '', r'''
PUT /url HTTP/1.1
Connection: keep-alive


''')
case('connection', 'keep-alive-restart', 'Restarting when keep-alive is explicitly', 'valid',
     '-', 'two pipelined requests', r'''
PUT /url HTTP/1.1
Connection: keep-alive

PUT /url HTTP/1.1
Connection: keep-alive


''')
case('connection', 'crlf-between-requests', 'CRLF between requests, implicit `keep-alive`',
     'valid', '-', 'body, CRLF, then an unfinished second request', r'''
POST / HTTP/1.1
Host: www.example.com
Content-Type: application/x-www-form-urlencoded
Content-Length: 4

q=42

GET / HTTP/1.1
''')
case('connection', 'cr-as-dash', 'Not treating `\\r` as `-`', 'hostile', 'strict', '', r'''
PUT /url HTTP/1.1
Connection: keep\ralive


''')
case('connection', 'close', 'Setting flag on `close`', 'valid', '-', '', r'''
PUT /url HTTP/1.1
Connection: close


''')
case('connection', 'multiple-tokens', 'Sample', 'valid', '-', '', r'''
PUT /url HTTP/1.1
Connection: close, token, upgrade, token, keep-alive


''')
case('connection', 'tokens-with-folding', 'Multiple tokens with folding', 'hostile', 'strict',
     'llhttp 9 accepts obs-fold; uvfib rejects it', r'''
GET /demo HTTP/1.1
Host: example.com
Connection: Something,
 Upgrade, ,Keep-Alive
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00
Sec-WebSocket-Protocol: sample
Upgrade: WebSocket
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5
Origin: http://example.com

Hot diggity dogg
''')
case('connection', 'tokens-with-lws', 'Multiple tokens with folding and LWS', 'valid', '-',
     'Upgrade request; body bytes follow the head', r'''
GET /demo HTTP/1.1
Connection: keep-alive, upgrade
Upgrade: WebSocket

Hot diggity dogg
''')
case('connection', 'tokens-with-lws-crlf', 'Multiple tokens with folding, LWS, and CRLF',
     'hostile', 'strict', 'obs-fold', r'''
GET /demo HTTP/1.1
Connection: keep-alive, \r\n upgrade
Upgrade: WebSocket

Hot diggity dogg
''')
case('connection', 'space-before-colon', 'Invalid whitespace token with `Connection` header field',
     'hostile', 'strict', '', r'''
PUT /url HTTP/1.1
Connection : upgrade
Content-Length: 4
Upgrade: ws

abcdefgh
''')
case('connection', 'upgrade', 'Setting a flag and pausing', 'valid', '-', '', r'''
PUT /url HTTP/1.1
Connection: upgrade
Upgrade: ws


''')
case('connection', 'upgrade-with-body', 'Emitting part of body and pausing', 'valid', '-', '',
     r'''
PUT /url HTTP/1.1
Connection: upgrade
Content-Length: 4
Upgrade: ws

abcdefgh
''')
case('connection', 'upgrade-get', 'Upgrade GET request', 'valid', '-', '', r'''
GET /demo HTTP/1.1
Host: example.com
Connection: Upgrade
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00
Sec-WebSocket-Protocol: sample
Upgrade: WebSocket
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5
Origin: http://example.com

Hot diggity dogg
''')
case('connection', 'upgrade-post', 'Upgrade POST request', 'valid', '-', '', r'''
POST /demo HTTP/1.1
Host: example.com
Connection: Upgrade
Upgrade: HTTP/2.0
Content-Length: 15

sweet post body\
Hot diggity dogg
''')

# ---------------------------------------------------------------------------------------------
# content-length.md
# ---------------------------------------------------------------------------------------------
case('content-length', 'zeroes', '`Content-Length` with zeroes', 'valid', '-', '', r'''
PUT /url HTTP/1.1
Content-Length: 003

abc
''')
case('content-length', 'follow-up-headers', '`Content-Length` with follow-up headers', 'valid',
     '-', '', r'''
PUT /url HTTP/1.1
Content-Length: 003
Ohai: world

abc
''')
case('content-length', 'overflow', 'Error on `Content-Length` overflow', 'hostile', 'llhttp',
     '', r'''
PUT /url HTTP/1.1
Content-Length: 1000000000000000000000

''')
case('content-length', 'duplicate', 'Error on duplicate `Content-Length`', 'hostile', 'llhttp',
     '', r'''
PUT /url HTTP/1.1
Content-Length: 1
Content-Length: 2

''')
case('content-length', 'with-te-identity',
     'Error on simultaneous `Content-Length` and `Transfer-Encoding: identity`', 'hostile',
     'llhttp', '', r'''
PUT /url HTTP/1.1
Content-Length: 1
Transfer-Encoding: identity


''')
case('content-length', 'space-before-colon',
     'Invalid whitespace token with `Content-Length` header field', 'hostile', 'strict',
     'newer copy', r'''
PUT /url HTTP/1.1
Connection: upgrade
Content-Length : 4
Upgrade: ws

abcdefgh
''')
case('content-length', 'funky-with-body', 'Funky `Content-Length` with body', 'valid', '-', '',
     r'''
GET /get_funky_content_length_body_hello HTTP/1.0
conTENT-Length: 5

HELLO
''')
case('content-length', 'spaces-inside-1', 'Spaces in `Content-Length` #2', 'hostile', 'llhttp',
     '', r'''
POST / HTTP/1.1
Content-Length: 4 2


''')
case('content-length', 'spaces-inside-2', 'Spaces in `Content-Length` #3', 'hostile', 'llhttp',
     '', r'''
POST / HTTP/1.1
Content-Length: 13 37


''')
case('content-length', 'empty', 'Empty `Content-Length`', 'hostile', 'llhttp', '', r'''
POST / HTTP/1.1
Content-Length:


''')
case('content-length', 'cr-instead-of-dash', '`Content-Length` with CR instead of dash',
     'hostile', 'strict', '', r'''
PUT /url HTTP/1.1
Content\rLength: 003

abc
''')

# ---------------------------------------------------------------------------------------------
# transfer-encoding.md
# ---------------------------------------------------------------------------------------------
case('transfer-encoding', 'empty-with-cl', 'Empty `Transfer-Encoding` with `Content-Length`',
     'hostile', 'strict', 'empty Transfer-Encoding: llhttp 8.1 frames by Content-Length', r'''
POST /first HTTP/1.1
Transfer-Encoding:
Content-Length: 5

hello
''')
case('transfer-encoding', 'chunks-lowercase', 'Parse chunks with lowercase size', 'valid', '-',
     '', r'''
PUT /url HTTP/1.1
Transfer-Encoding: chunked

a
0123456789
0


''')
case('transfer-encoding', 'chunks-uppercase', 'Parse chunks with uppercase size', 'valid', '-',
     '', r'''
PUT /url HTTP/1.1
Transfer-Encoding: chunked

A
0123456789
0


''')
case('transfer-encoding', 'post-chunked', 'POST with `Transfer-Encoding: chunked`', 'valid',
     '-', '', r'''
POST /post_chunked_all_your_base HTTP/1.1
Transfer-Encoding: chunked

1e
all your base are belong to us
0


''')
case('transfer-encoding', 'two-chunks-000', 'Two chunks and triple zero prefixed end chunk',
     'valid', '-', '', r'''
POST /two_chunks_mult_zero_end HTTP/1.1
Transfer-Encoding: chunked

5
hello
6
 world
000


''')
case('transfer-encoding', 'trailing-headers', 'Trailing headers', 'valid', '-', '', r'''
POST /chunked_w_trailing_headers HTTP/1.1
Transfer-Encoding: chunked

5
hello
6
 world
0
Vary: *
Content-Type: text/plain


''')
case('transfer-encoding', 'no-semicolon-before-ext', 'No semicolon before chunk extensions',
     'hostile', 'llhttp', 'chunked body', r'''
POST /chunked_w_unicorns_after_length HTTP/1.1
Host: localhost
Transfer-encoding: chunked

2 erfrferferf
aa
0 rrrr


''')
case('transfer-encoding', 'no-ext-after-semicolon', 'No extension after semicolon', 'hostile',
     'llhttp', 'chunked body', r'''
POST /chunked_w_unicorns_after_length HTTP/1.1
Host: localhost
Transfer-encoding: chunked

2;
aa
0


''')
case('transfer-encoding', 'unbalanced-ext-quote', 'Unbalanced chunk extensions quoting',
     'hostile', 'llhttp', 'chunked body', r'''
POST /chunked_w_unicorns_after_length HTTP/1.1
Transfer-Encoding: chunked

5;ilovew3="abc";somuchlove="def; ghi
hello
6;blahblah;blah
 world
0

''')
case('transfer-encoding', 'pigeons', 'Ignoring `pigeons`', 'hostile', 'llhttp', '', r'''
PUT /url HTTP/1.1
Transfer-Encoding: pigeons


''')
case('transfer-encoding', 'te-and-cl', 'POST with `Transfer-Encoding` and `Content-Length`',
     'hostile', 'llhttp', '', r'''
POST /post_identity_body_world?q=search#hey HTTP/1.1
Accept: */*
Transfer-Encoding: identity
Content-Length: 5

World
''')
case('transfer-encoding', 'empty-te-and-cl',
     'POST with empty `Transfer-Encoding` and `Content-Length` (lenient)', 'hostile', 'strict',
     'meta type is plain "request" despite the heading; empty Transfer-Encoding', r'''
POST / HTTP/1.1
Host: foo
Content-Length: 10
Transfer-Encoding:
Transfer-Encoding:
Transfer-Encoding:

2
AA
0
''')
case('transfer-encoding', 'chunked-before-other',
     'POST with `chunked` before other transfer coding names', 'hostile', 'llhttp', '', r'''
POST /post_identity_body_world?q=search#hey HTTP/1.1
Accept: */*
Transfer-Encoding: chunked, deflate

World
''')
case('transfer-encoding', 'chunked-then-deflate',
     'POST with `chunked` and duplicate transfer-encoding', 'hostile', 'llhttp', '', r'''
POST /post_identity_body_world?q=search#hey HTTP/1.1
Accept: */*
Transfer-Encoding: chunked
Transfer-Encoding: deflate

World
''')
case('transfer-encoding', 'chunked-last', 'POST with `chunked` as last transfer-encoding',
     'valid', '-', '', r'''
POST /post_identity_body_world?q=search#hey HTTP/1.1
Accept: */*
Transfer-Encoding: deflate, chunked

5
World
0


''')
case('transfer-encoding', 'chunked-last-two-headers',
     'POST with `chunked` as last transfer-encoding (multiple headers)', 'valid', '-', '', r'''
POST /post_identity_body_world?q=search#hey HTTP/1.1
Accept: */*
Transfer-Encoding: deflate
Transfer-Encoding: chunked

5
World
0


''')
case('transfer-encoding', 'chunkedchunked', 'POST with `chunkedchunked` as transfer-encoding',
     'hostile', 'llhttp', '', r'''
POST /post_identity_body_world?q=search#hey HTTP/1.1
Accept: */*
Transfer-Encoding: chunkedchunked

5
World
0


''')
case('transfer-encoding', 'missing-last-chunk', 'Missing last-chunk', 'hostile', 'llhttp',
     'chunked body', r'''
PUT /url HTTP/1.1
Transfer-Encoding: chunked

3
foo


''')
case('transfer-encoding', 'chunk-size-lf', 'Validate chunk parameters', 'hostile', 'llhttp',
     'chunked body', r'''
PUT /url HTTP/1.1
Transfer-Encoding: chunked

3 \n  \r\n\
foo


''')
case('transfer-encoding', 'chunk-header-cr-cr', 'Chunk header not terminated by CRLF', 'hostile',
     'llhttp', 'chunked body', r'''
GET / HTTP/1.1
Host: a
Connection: close 
Transfer-Encoding: chunked 

5\r\r;ABCD
34
E
0

GET / HTTP/1.1 
Host: a
Content-Length: 5

0

''')
case('transfer-encoding', 'chunk-data-no-crlf', 'Chunk data not terminated by CRLF', 'hostile',
     'llhttp', 'chunked body', r'''
GET / HTTP/1.1
Host: a
Connection: close 
Transfer-Encoding: chunked 

5
ABCDE0

''')
case('transfer-encoding', 'space-after-chunk-size', 'Space after chunk header', 'hostile',
     'llhttp', 'chunked body', r'''
PUT /url HTTP/1.1
Transfer-Encoding: chunked

a \r\n0123456789
0


''')

# ---------------------------------------------------------------------------------------------
# uri.md
# ---------------------------------------------------------------------------------------------
case('uri', 'quotes', 'Quotes in URI', 'valid', '-', '', r'''
GET /with_"lovely"_quotes?foo=\"bar\" HTTP/1.1


''')
case('uri', 'query-question-mark', 'Query URL with question mark', 'valid', '-', '', r'''
GET /test.cgi?foo=bar?baz HTTP/1.1


''')
case('uri', 'host-query', 'Host terminated by a query string', 'valid', '-',
     'an extra CRLF follows the head', r'''
GET http://hypnotoad.org?hail=all HTTP/1.1\r\n


''')
case('uri', 'host-port-query', '`host:port` terminated by a query string', 'valid', '-', '', r'''
GET http://hypnotoad.org:1234?hail=all HTTP/1.1


''')
case('uri', 'vertical-bar', 'Query URL with vertical bar character', 'valid', '-', '', r'''
GET /test.cgi?query=| HTTP/1.1


''')
case('uri', 'host-port-space', '`host:port` terminated by a space', 'valid', '-', '', r'''
GET http://hypnotoad.org:1234 HTTP/1.1


''')
case('uri', 'utf8-path', 'Disallow UTF-8 in URI path in strict mode', 'hostile', 'strict', '', '''
GET /\u03b4\u00b6/\u03b4t/pope?q=1#narf HTTP/1.1
Host: github.com


''')
case('uri', 'fragment', 'Fragment in URI', 'valid', '-', '', r'''
GET /forums/1/topics/2375?page=1#posts-17408 HTTP/1.1


''')
case('uri', 'underscore-host', 'Underscore in hostname', 'valid', '-', 'CONNECT', r'''
CONNECT home_0.netscape.com:443 HTTP/1.0
User-agent: Mozilla/1.1N
Proxy-authorization: basic aGVsbG86d29ybGQ=


''')
case('uri', 'basic-auth', '`host:port` and basic auth', 'valid', '-', '', r'''
GET http://a%12:b!&*$@hypnotoad.org:1234/toto HTTP/1.1


''')
case('uri', 'space-in-uri', 'Space in URI', 'hostile', 'strict', '', r'''
GET /foo bar/ HTTP/1.1


''')

# ---------------------------------------------------------------------------------------------
# method.md
# ---------------------------------------------------------------------------------------------
case('method', 'report', 'REPORT request', 'valid', '-', '', r'''
REPORT /test HTTP/1.1


''')
case('method', 'connect', 'CONNECT request', 'valid', '-', 'tunnel data follows the head', r'''
CONNECT 0-home0.netscape.com:443 HTTP/1.0
User-agent: Mozilla/1.1N
Proxy-authorization: basic aGVsbG86d29ybGQ=

some data
and yet even more data
''')
case('method', 'm-search', 'M-SEARCH request', 'valid', '-', '', r'''
M-SEARCH * HTTP/1.1
HOST: 239.255.255.250:1900
MAN: "ssdp:discover"
ST: "ssdp:all"


''')
case('method', 'patch', 'PATCH request', 'valid', '-', '', r'''
PATCH /file.txt HTTP/1.1
Host: www.example.com
Content-Type: application/example
If-Match: "e0023aa4e"
Content-Length: 10

cccccccccc
''')
case('method', 'link', 'LINK request', 'valid', '-', '', r'''
LINK /images/my_dog.jpg HTTP/1.1
Host: example.com
Link: <http://example.com/profiles/joe>; rel="tag"
Link: <http://example.com/profiles/sally>; rel="tag"


''')
case('method', 'source-ice', 'SOURCE request with ICE', 'hostile', 'strict',
     'newer copy; llhttp accepts ICE/1.0, uvfib serves HTTP only', r'''
SOURCE /music/sweet/music ICE/1.0
Host: example.com


''')
case('method', 'options-rtsp', 'OPTIONS request with RTSP', 'hostile', 'strict',
     'newer copy; llhttp accepts RTSP/1.0', r'''
OPTIONS /music/sweet/music RTSP/1.0
Host: example.com


''')
case('method', 'announce-rtsp', 'ANNOUNCE request with RTSP', 'hostile', 'strict',
     'newer copy; llhttp accepts RTSP/1.0', r'''
ANNOUNCE /music/sweet/music RTSP/1.0
Host: example.com


''')

# ---------------------------------------------------------------------------------------------
# lenient-headers.md, lenient-header-value-relaxed.md (only their non-lenient cases)
# ---------------------------------------------------------------------------------------------
case('lenient-headers', 'form-feed-value', 'Header value without lenient', 'hostile', 'strict',
     '', r'''
GET /url HTTP/1.1
Header1: \f



''')
case('lenient-header-value-relaxed', 'form-feed-in-value',
     'Control char in header value (strict)', 'hostile', 'strict', '', r'''
GET /url HTTP/1.1
Header1: hello\fworld


''')

# ---------------------------------------------------------------------------------------------
# pausing.md, pipelining.md
# ---------------------------------------------------------------------------------------------
case('pausing', 'content-length', 'on_message_begin', 'valid', '-', '', r'''
POST / HTTP/1.1
Content-Length: 3

abc
''')
case('pausing', 'chunked', 'on_chunk_header', 'valid', '-', '', r'''
PUT / HTTP/1.1
Transfer-Encoding: chunked

a
0123456789
0


''')
case('pipelining', 'three-requests', 'Should parse multiple events', 'valid', '-',
     'three pipelined requests with bodies', r'''
POST /aaa HTTP/1.1
Content-Length: 3

AAA
PUT /bbb HTTP/1.1
Content-Length: 4

BBBB
PATCH /ccc HTTP/1.1
Content-Length: 5

CCCC
''')


# Hostile files that Debian 12's llhttp 8.1.0 (/usr/share/llhttp, default build, no lenient
# flag) parses without an error: run through llhttp_execute() when the corpus was made. The
# three marked * are rejected when llhttp.c is compiled with LLHTTP_STRICT_MODE=1.
ACCEPTED_BY_LLHTTP_81 = {
    'hostile/invalid-headers-separated-by-dummy.http',  # *
    'hostile/invalid-empty-header-then-cr.http',  # *
    'hostile/invalid-header-token-empty.http',
    'hostile/invalid-spaces-before-headers.http',
    'hostile/sample-no-http-version.http',
    'hostile/sample-line-folding-crlf.http',
    'hostile/connection-tokens-with-folding.http',
    'hostile/connection-tokens-with-lws-crlf.http',
    'hostile/uri-utf8-path.http',  # *
    'hostile/method-source-ice.http',
    'hostile/method-options-rtsp.http',
    'hostile/method-announce-rtsp.http',
    'hostile/transfer-encoding-empty-with-cl.http',
    'hostile/transfer-encoding-empty-te-and-cl.http',
}


README_HEAD = """\
# Parser corpus

Raw HTTP/1.x requests, one per file, exact bytes (real CR LF, no escapes), taken from the
request tests of llhttp itself (nodejs/llhttp `test/request/*.md`, 9.x line) and converted the
way llhttp's runner does it (`test/md-test.ts`: drop the last newline, join `\\`-continued lines,
every newline becomes CRLF, then `\\r \\n \\t \\f \\xHH \\OOO`, then UTF-8).

- `valid/`: the request head is well-formed. `src/strict.c` must end it (`UVFIB__STRICT_DONE`),
  fed whole or split anywhere. Bytes after the head (a body, a pipelined request, tunnel data)
  are kept as the test has them.
- `hostile/`: uvfib must answer 400 (or a limit's 413, 414, 431) and close; a well-formed
  method or version that llhttp does not implement gets 501 or 505 instead (the three files
  named in `test/integration/test_corpus.c`, which also ends the request line of the one that
  stops after its version). The layer says who rejects it:
  - `strict`: `src/strict.c` (`UVFIB__STRICT_ERROR`), whatever llhttp version uvfib is built
    with. Many of these pass llhttp 8.1 (Debian 12); see "llhttp 8.1" below.
  - `llhttp`: the head is well-formed and the strict check passes it; llhttp rejects the
    message (Content-Length / Transfer-Encoding semantics, chunked body, unknown method or
    version). Each one was checked to fail in Debian 12's llhttp 8.1.0 (`/usr/share/llhttp`).
- `index.tsv`: `file<TAB>expect<TAB>layer<TAB>source`, read by `test/unit/test_strict.c`
  (argument 1, or `UVFIB_CORPUS_DIR`, names this directory).

## llhttp 8.1

Files marked **llhttp 8.1 accepts it** parse without error in Debian 12's llhttp 8.1.0
(default build, no lenient flag): smuggling shapes such as a bare CR ending the header block,
obs-fold carrying a `Content-Length`, an empty header name, an empty `Transfer-Encoding` beside
`Content-Length`, non-ASCII in the target, and ICE/RTSP versions. With `LLHTTP_STRICT_MODE=1`
llhttp 8.1 also rejects `invalid-headers-separated-by-dummy`, `invalid-empty-header-then-cr` and
`uri-utf8-path`. Every other hostile file fails in llhttp 8.1 as well, so the strict check is
the only guard for the marked ones.

Left out: response tests, tests of lenient flags (except the non-lenient half of a pair), the
`X-SSL-Nonsense` obs-fold sample (long; covered by other obs-fold cases), `PRI * HTTP/1.1`
(well-formed head; HTTP/2 preface handling belongs to the connection code) and the
`Connection: close` / HTTP/1.0 restart tests (about what follows a complete message).

## Adding a case

1. Add a `case(...)` to `gen_llhttp_corpus.py` with the ```http block copied verbatim from the
   .md file (or your own bytes in the same notation), its heading, `valid`/`hostile` and the
   layer, then run `python3 test/corpus/gen_llhttp_corpus.py`. It rewrites the `.http` files it
   owns, `index.tsv` and this README.
2. A hand-made file needs its own line in `index.tsv` (and here): the unit test fails when a
   file under `valid/` or `hostile/` has no line in the index.
3. Run the strict unit test; a `strict` hostile case must fail with ERROR at the same offset
   however it is split.

## Files
"""


def main():
    os.makedirs(os.path.join(HERE, 'valid'), exist_ok=True)
    os.makedirs(os.path.join(HERE, 'hostile'), exist_ok=True)
    seen = set()
    index = ['# file\texpect\tlayer\tsource']
    lines = []
    counts = {}
    for rel in ACCEPTED_BY_LLHTTP_81:
        assert any(rel == '%s/%s-%s.http' % (c[3], c[0], c[1]) and c[4] == 'strict'
                   for c in CASES), rel
    for src, name, heading, expect, layer, note, block in CASES:
        rel = '%s/%s-%s.http' % (expect, src, name)
        assert rel not in seen, rel
        seen.add(rel)
        assert expect in ('valid', 'hostile')
        assert (layer == '-') == (expect == 'valid')
        data = to_bytes(block)
        with open(os.path.join(HERE, rel), 'wb') as f:
            f.write(data)
        path, commit = SOURCES[src]
        if note.startswith('newer copy'):
            cite = 'nodejs/llhttp (later 9.x copy, commit not recorded) %s "%s"' % (path, heading)
        else:
            cite = 'nodejs/llhttp@%s %s "%s"' % (commit, path, heading)
        index.append('\t'.join((rel, expect, layer, cite)))
        extra = ('; ' + note) if note else ''
        if rel in ACCEPTED_BY_LLHTTP_81:
            extra += '; **llhttp 8.1 accepts it**'
        lines.append('- `%s` (%s%s): %s%s' % (rel, expect, '' if layer == '-' else ', ' + layer,
                                              cite, extra))
        counts[(expect, layer)] = counts.get((expect, layer), 0) + 1
    with open(os.path.join(HERE, 'index.tsv'), 'w') as f:
        f.write('\n'.join(index) + '\n')
    summary = ', '.join('%s %s: %d' % (e, l, n) for (e, l), n in sorted(counts.items()))
    summary += ('; of the hostile strict files, llhttp 8.1 accepts %d'
                % len(ACCEPTED_BY_LLHTTP_81))
    with open(os.path.join(HERE, 'README.md'), 'w') as f:
        f.write(README_HEAD + '\n' + summary + '.\n\n' + '\n'.join(lines) + '\n'
                + README_TAIL)
    print(summary, file=sys.stderr)


README_TAIL = ''

if __name__ == '__main__':
    main()
