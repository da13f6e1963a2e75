#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kio from asyncio: copy a file, or serve TCP echo.

  kio_demo.py copy SRC DST          copy SRC to DST with kio reads and writes
  kio_demo.py echo [--bind ADDR] [--port N]
                                    echo server on ADDR (127.0.0.1: loopback
                                    only; ::1, 0.0.0.0, :: work too), port N
                                    (7777; 0: the kernel picks); Ctrl-C stops it
  kio_demo.py echo --port 0 --once  serve one connection from a client this
                                    program runs itself, print what happened
  kio_demo.py [COMMAND] --help      usage, exit status 0

kio does the I/O (kio_openat, kio_read, kio_write, kio_accept, kio_recv,
kio_send, kio_close); asyncio drives kio through kio_ctx_fd, in one thread.
Exit status: 0 done, 1 an error, 2 a bad option or argument, 130 Ctrl-C.
"""
import argparse
import asyncio
import ipaddress
import os
import socket
import sys

kio_asyncio = None  # imported once the arguments are known: --help needs no libkio


def load_kio():
    global kio_asyncio
    try:
        import kio_asyncio as mod
    except ImportError:  # run from a source tree
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        os.pardir, os.pardir, 'bindings', 'python'))
        import kio_asyncio as mod
    kio_asyncio = mod

CHUNK = 128 * 1024


async def copy(kl, src, dst):
    """Reads and writes at explicit offsets, two chunks in flight: while one
    chunk is written the next one is read."""
    fd_in = await kl.openat(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd_out = await kl.openat(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                                 0o644)
    except BaseException:
        await kl.close(fd_in)
        raise
    try:
        bufs = [bytearray(CHUNK), bytearray(CHUNK)]
        offset, pending_write, turn = 0, None, 0
        while True:
            buf = bufs[turn % 2]  # the other one may still be being written
            turn += 1
            n = await kl.read(fd_in, buf, offset)
            if pending_write is not None:
                await pending_write
            if n == 0:
                break
            pending_write = asyncio.ensure_future(write_all(kl, fd_out, buf, n, offset))
            offset += n
        await kl.fsync(fd_out)
        return offset
    finally:
        await kl.close(fd_out)
        await kl.close(fd_in)


async def write_all(kl, fd, buf, n, offset):
    view, done = memoryview(buf)[:n], 0
    while done < n:
        done += await kl.write(fd, view[done:], offset + done)


async def serve_connection(kl, fd, peer, log):
    buf, total = bytearray(64 * 1024), 0
    try:
        while True:
            n = await kl.recv(fd, buf)
            if n == 0:
                break
            await kl.sendall(fd, memoryview(buf)[:n])
            total += n
    finally:
        await kl.close(fd)
    log('server: %s sent %d bytes, echoed them all' % (show(peer[0], peer[1]), total))
    return total


def show(host, port):
    """'127.0.0.1:7777', '[::1]:7777'."""
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


async def echo(kl, bind, port, once, log):
    ip = ipaddress.ip_address(bind)
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    with lsock:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        lsock.bind((str(ip), port))
        lsock.listen(64)
        port = lsock.getsockname()[1]
        log('server: listening on %s' % show(str(ip), port))
        if once:
            # The built-in client goes to the bound address (loopback for a
            # wildcard one).
            target = str(ip)
            if ip.is_unspecified:
                target = '::1' if ip.version == 6 else '127.0.0.1'
            client = asyncio.ensure_future(echo_client(target, port, log))
            fd, peer = await kl.accept(lsock.fileno(), socket.SOCK_CLOEXEC)
            served = await serve_connection(kl, fd, peer, log)
            sent = await client
            return 0 if served == sent else 1
        tasks = set()
        while True:
            fd, peer = await kl.accept(lsock.fileno(), socket.SOCK_CLOEXEC)
            task = asyncio.ensure_future(serve_connection(kl, fd, peer, log))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


async def echo_client(host, port, log):
    """asyncio's own streams talking to the kio server."""
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0
    for line in (b'hello from asyncio\n', b'kio echoes every byte\n', b'x' * 100000 + b'\n'):
        writer.write(line)
        await writer.drain()
        back = await reader.readexactly(len(line))
        if back != line:
            raise RuntimeError('echo mismatch')
        sent += len(line)
        shown = line[:40].decode().rstrip() + ('...' if len(line) > 40 else '')
        log('client: sent %d bytes (%s), got the same back' % (len(line), shown))
    writer.close()
    await writer.wait_closed()
    return sent


def port_number(text):
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError('not a port number: %r' % text)
    return port


def ip_literal(text):
    try:
        return str(ipaddress.ip_address(text[1:-1] if text.startswith('[') and
                                        text.endswith(']') else text))
    except ValueError:
        raise argparse.ArgumentTypeError('not an IPv4 or IPv6 address: %r' % text) from None


def parse_args(argv):
    """Usage errors exit 2 with the usage on stderr; --help exits 0."""
    parser = argparse.ArgumentParser(prog='kio_demo.py',
                                     description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True, metavar='COMMAND')
    cp = sub.add_parser('copy', help='copy SRC to DST')
    cp.add_argument('src')
    cp.add_argument('dst')
    ec = sub.add_parser('echo', help='TCP echo server (loopback unless --bind)')
    ec.add_argument('--bind', type=ip_literal, default='127.0.0.1', metavar='ADDR',
                    help='IPv4 or IPv6 address to listen on; 0.0.0.0 or :: for every '
                         'interface (default 127.0.0.1: loopback only)')
    ec.add_argument('--port', type=port_number, default=7777, metavar='N',
                    help='port; 0 lets the kernel choose (default 7777)')
    ec.add_argument('--once', action='store_true',
                    help='serve one connection from a built-in client, then exit')
    return parser.parse_args(argv)


async def main(args):
    def log(msg):
        print(msg, flush=True)

    async with kio_asyncio.KioLoop() as kl:
        try:
            if args.cmd == 'copy':
                n = await copy(kl, args.src, args.dst)
                log('copied %d bytes from %s to %s' % (n, args.src, args.dst))
                return 0
            return await echo(kl, args.bind, args.port, args.once, log)
        except OSError as exc:
            print('kio_demo: %s' % exc, file=sys.stderr)
            return 1


if __name__ == '__main__':
    ARGS = parse_args(sys.argv[1:])
    load_kio()
    try:
        sys.exit(asyncio.run(main(ARGS)))
    except KeyboardInterrupt:
        sys.exit(130)
