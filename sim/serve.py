"""Serving the virtual pen on a pty or a TCP port until interrupted.

The loops only move bytes between the transport and :meth:`VirtualPen.feed`; they
block in ``select`` with a short timeout so that a stop request (Ctrl-C, SIGTERM,
or a test's event) is noticed promptly, and they poll the pen's watchdog after
every read and every quiet interval. A pen has one host at a time: on TCP a second
connection is answered ``NAK BUSY`` to each request and closed (a pty is one line,
like a serial cable). When the host goes away the pen retracts and drops any service
unlock. With a :class:`~sim.clock.WireLine` of a baud rate (``penctl serve --baud N``) the bytes
move at that line's rate both ways, so link timings mean what they would on a UART.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import tty
from dataclasses import dataclass, field

from hal.protocol import ESTOP, ErrorCode, FrameDecoder, Msg, encode_frame, pack_nak
from sim.clock import WireLine
from sim.virtual_pen import VirtualPen

POLL_S = 0.05
REFUSE_AFTER_S = 2.0
"""How long a second connection is kept to hear its request before it is closed."""
BUSY_TEXT = "another host is connected to this pen: one host at a time"


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


def serve_fd(pen: VirtualPen, fd: int, stop: threading.Event, line: WireLine | None = None) -> None:
    """Serve on a file descriptor (the pty master) until ``stop`` is set; ``line`` paces the bytes."""
    line = line or WireLine()
    connected = False
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], line.wait_s(POLL_S))
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # no host has the slave open (EIO): it went away, or none came yet
                if connected:
                    pen.disconnect()
                    line.drop()
                    connected = False
                stop.wait(POLL_S)
                data = b""
            if data:
                connected = True
                line.received(data)
        arrived = line.arrived()
        line.send((pen.feed(arrived) if arrived else b"") + pen.poll())
        reply = line.sendable()
        if reply:
            try:
                _write_all(fd, reply)
            except OSError:  # the host closed the line mid-reply: the pen goes on without it
                if connected:
                    pen.disconnect()
                    line.drop()
                    connected = False


def listen_tcp(port: int, host: str = "127.0.0.1") -> socket.socket:
    server = socket.create_server((host, port))
    server.settimeout(POLL_S)
    return server


@dataclass(kw_only=True)
class _Refusal:
    """A second connection, answered NAK BUSY to each request and then closed."""

    sock: socket.socket
    waited_s: float = 0.0
    stopped: bytes = b""
    """Events the pen raised for an e-stop this connection sent (they go to the host)."""
    decoder: FrameDecoder = field(default_factory=FrameDecoder)

    def answer(self, pen: VirtualPen) -> bool:
        """Read what arrived and refuse it; True when this connection is done with.

        An e-stop byte is obeyed whoever sends it: stopping is always the safe direction.
        """
        try:
            data = self.sock.recv(65536)
        except OSError:
            return True
        items = list(self.decoder.feed(data))
        self.stopped += pen.feed(bytes([ESTOP])) if ESTOP in items else b""
        frames = [f for f in items if not isinstance(f, int)]
        for frame in frames:
            nak = encode_frame(frame.seq, Msg.NAK, pack_nak(ErrorCode.BUSY, 0, BUSY_TEXT))
            try:
                self.sock.sendall(nak)
            except OSError:
                return True
        return not data or bool(frames)


def serve_tcp(pen: VirtualPen, server: socket.socket, stop: threading.Event, line: WireLine | None = None) -> None:
    """Serve one host at a time on a listening socket until ``stop`` is set; ``line`` paces the host's bytes."""
    line = line or WireLine()
    client: socket.socket | None = None
    refusals: list[_Refusal] = []
    while not stop.is_set():
        waiting = [server, *(r.sock for r in refusals)] + ([client] if client else [])
        ready, _, _ = select.select(waiting, [], [], line.wait_s(POLL_S))
        if server in ready:
            incoming, _ = server.accept()
            incoming.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if client is None:
                client = incoming
            else:
                refusals.append(_Refusal(sock=incoming))
        refusals, events = _answer_refusals(pen, refusals, ready)
        if client is not None and client in ready:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                _hang_up(pen, client, line)
                client = None
            else:
                line.received(data)
        arrived = line.arrived()
        line.send(events + (pen.feed(arrived) if arrived else b"") + pen.poll())
        reply = line.sendable()
        if reply and client is not None:
            try:
                client.sendall(reply)
            except OSError:
                _hang_up(pen, client, line)
                client = None
    for sock in [*(r.sock for r in refusals), *([client] if client else [])]:
        sock.close()


def _hang_up(pen: VirtualPen, client: socket.socket, line: WireLine) -> None:
    """The host went away: close its socket, drop what was in flight, and let the pen react."""
    client.close()
    line.drop()
    pen.disconnect()


def _answer_refusals(
    pen: VirtualPen, refusals: list[_Refusal], ready: list[socket.socket]
) -> tuple[list[_Refusal], bytes]:
    kept, events = [], b""
    for refusal in refusals:
        refusal.waited_s += POLL_S if refusal.sock not in ready else 0.0
        done = refusal.sock in ready and refusal.answer(pen)
        events += refusal.stopped
        refusal.stopped = b""
        if done or refusal.waited_s >= REFUSE_AFTER_S:
            refusal.sock.close()
        else:
            kept.append(refusal)
    return kept, events
