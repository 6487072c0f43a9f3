"""Serving the virtual pen on a pty or a TCP port until interrupted.

The loops only move bytes between the transport and :meth:`VirtualPen.feed`;
they block in ``select`` with a short timeout so that a stop request (Ctrl-C,
SIGTERM, or a test's event) is noticed promptly, and tell the pen how long the
line was silent (its watchdog).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import tty

from sim.virtual_pen import VirtualPen

POLL_S = 0.05


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def open_pty() -> tuple[int, int, str]:
    """A raw pty pair: (master fd, slave fd, slave path for the host to open)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


def serve_fd(pen: VirtualPen, fd: int, stop: threading.Event) -> None:
    """Serve on a file descriptor (the pty master) until ``stop`` is set."""
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if not ready:
            alarm = pen.on_idle(POLL_S)
            if alarm:
                _write_all(fd, alarm)
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            continue  # no host has the slave open (EIO): keep waiting
        reply = pen.feed(data)
        if reply:
            _write_all(fd, reply)


def listen_tcp(port: int, host: str = "127.0.0.1") -> socket.socket:
    server = socket.create_server((host, port))
    server.settimeout(POLL_S)
    return server


def serve_tcp(pen: VirtualPen, server: socket.socket, stop: threading.Event) -> None:
    """Serve one client at a time on a listening socket until ``stop`` is set."""
    while not stop.is_set():
        try:
            client, _ = server.accept()
        except TimeoutError:
            continue
        with client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not stop.is_set():
                ready, _, _ = select.select([client], [], [], POLL_S)
                if not ready:
                    alarm = pen.on_idle(POLL_S)
                    if alarm:
                        client.sendall(alarm)
                    continue
                data = client.recv(65536)
                if not data:
                    break
                reply = pen.feed(data)
                if reply:
                    client.sendall(reply)
