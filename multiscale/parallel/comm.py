"""A thin communicator: the few collective operations msim's distributed engine needs.

Two implementations with one interface:

- `SerialComm` (one process, no MPI, no mpi4py import): every operation is the identity.
- `MPIComm` over mpi4py's ``COMM_WORLD`` (``mpiexec -n P`` / ``srun``).

`get_comm()` picks MPI only when the process was started by an MPI launcher (environment variables of
MPICH/Hydra, Open MPI, PMIx or SLURM with more than one task); a serial ``msim`` never imports mpi4py, so it
keeps working without it. Under a launcher without mpi4py installed, `get_comm` raises `MPIUnavailable`
with the install command (a silent fall-back to P independent serial runs would write the same files P
times).

Failure handling: `run_guarded(comm, fn)` runs fn; an exception on ANY rank prints
``msim: rank r/P: <message>`` on that rank's stderr, waits until the launcher has read it from the rank's
pipe (`wait_stdio_read`, at most 10 s: Hydra's mpiexec exits when the abort reaches it, dropping output
it has not received yet) and calls ``MPI_Abort`` (`Comm.abort`), which stops every rank of the job (a rank
blocked in a collective cannot otherwise learn that a peer died).

Operations (arrays are numpy, C-contiguous float64/int64 unless said):

``allreduce(value, op="sum"|"max"|"min")`` scalar or array (elementwise); ``allreduce_array`` the same for
  arrays into a new array; ``gather(obj, root=0)`` list on root, None elsewhere; ``allgather(obj)``;
  ``bcast(obj, root=0)``; ``exchange(sends: {dest: obj}) -> {source: obj}`` (all-to-all of picklable
  objects, only ranks that send something; for rare, irregular traffic);
  ``sendrecv(send (m,...), dest, recv (k,...), source, tag)`` buffer (no pickling) point-to-point pair;
  ``sendrecv_many([(send, dest, recv, source, tag), ...])`` several at once, one wait (the per-step ghost
  traffic); ``sendrecv_rows([(send (m, w), dest, source, tag), ...]) -> [(k, w), ...]`` the same for float64
  rows whose counts the receiver does not know (matched probe: no message of counts first — the ghost set-up
  of a rebuild); ``channel([(send, dest, recv, source, tag), ...])`` the same messages bound to fixed buffers
  (set up once per neighbour rebuild), then ``start(ch)`` / ``wait(ch)`` every step (the caller packs
  ``send`` in place before `start`; between `start` and `wait` it may compute on data the messages do not
  touch: the ghost exchange overlapped with the interior forces); ``start_allreduce(a, out, op)`` a
  non-blocking buffer Allreduce of ``a`` into ``out``, completed by ``wait(ch, req)`` together with a
  channel (one rendezvous for both: the rebuild check rides on the ghosts' position exchange);
  ``barrier()``; ``abort(message, code)``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

_LAUNCHER_VARS = ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS")


class MPIUnavailable(RuntimeError):
    """Started by an MPI launcher with more than one rank, but mpi4py cannot be imported."""


def launched_with_mpi() -> bool:
    """True when an MPI launcher started this process with more than one task (env variables only)."""
    for var in _LAUNCHER_VARS:
        val = os.environ.get(var)
        if val is not None:
            try:
                if int(val.split("(")[0]) > 1:
                    return True
            except ValueError:
                continue
    return False


class SerialComm:
    """One process: rank 0 of 1. No MPI."""

    rank = 0
    size = 1
    is_mpi = False

    def allreduce(self, value: Any, op: str = "sum") -> Any:  # noqa: ARG002
        return value

    def allreduce_array(self, a: np.ndarray, op: str = "sum") -> np.ndarray:  # noqa: ARG002
        return np.array(a, copy=True)

    def gather(self, obj: Any, root: int = 0) -> list:  # noqa: ARG002
        return [obj]

    def allgather(self, obj: Any) -> list:
        return [obj]

    def bcast(self, obj: Any, root: int = 0) -> Any:  # noqa: ARG002
        return obj

    def exchange(self, sends: dict[int, Any]) -> dict[int, Any]:
        return {0: sends[0]} if 0 in sends else {}

    def sendrecv(self, send: np.ndarray, dest: int, recv: np.ndarray, source: int, tag: int = 0) -> None:  # noqa: ARG002
        if dest != 0 or source != 0:
            raise ValueError("serial communicator: only rank 0 exists")
        recv[...] = send

    def sendrecv_many(self, msgs: list) -> None:
        for send, dest, recv, source, tag in msgs:
            self.sendrecv(send, dest, recv, source, tag)

    def sendrecv_rows(self, msgs: list) -> list:
        out = []
        for send, dest, source, _ in msgs:
            if dest != 0 or source != 0:
                raise ValueError("serial communicator: only rank 0 exists")
            out.append(np.array(send, dtype=np.float64, copy=True))
        return out

    def channel(self, msgs: list) -> list:
        for _, dest, _, source, _ in msgs:
            if dest != 0 or source != 0:
                raise ValueError("serial communicator: only rank 0 exists")
        return list(msgs)

    def start(self, ch: list) -> None:
        for send, _, recv, _, _ in ch:
            recv[...] = send

    def start_allreduce(self, a: np.ndarray, out: np.ndarray, op: str = "sum") -> None:  # noqa: ARG002
        out[...] = a

    def wait(self, ch: list, *reqs: Any) -> None:  # noqa: ARG002
        return None

    def free(self, ch: list) -> None:  # noqa: ARG002
        return None

    def barrier(self) -> None:
        return None

    def abort(self, message: str, code: int = 1) -> None:
        print(f"msim: rank 0/1: {message}", file=sys.stderr, flush=True)
        raise SystemExit(code)

    # communication counters (bytes and messages sent by this rank), see MPIComm
    bytes_sent = 0
    messages = 0


class MPIComm:
    """``COMM_WORLD`` of mpi4py. Counts the bytes and messages this rank sends point-to-point
    (``bytes_sent``, ``messages``) so that benchmarks can report the communication volume."""

    is_mpi = True

    def __init__(self, comm: Any = None) -> None:
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        self.bytes_sent = 0
        self.messages = 0
        self._open: dict[int, list] = {}      # channels not freed yet (persistent requests)
        self._atexit_registered = False         # `_free_open` registered with atexit

    def _op(self, op: str) -> Any:
        try:
            return self._ops[op]
        except KeyError:
            raise ValueError(f"unknown reduction {op!r} (sum, max, min)") from None

    def allreduce(self, value: Any, op: str = "sum") -> Any:
        if isinstance(value, np.ndarray):
            return self.allreduce_array(value, op)
        return self.comm.allreduce(value, op=self._op(op))

    def allreduce_array(self, a: np.ndarray, op: str = "sum") -> np.ndarray:
        a = np.ascontiguousarray(a)
        out = np.empty_like(a)
        self.comm.Allreduce(a, out, op=self._op(op))
        return out

    def gather(self, obj: Any, root: int = 0) -> list | None:
        return self.comm.gather(obj, root=root)

    def allgather(self, obj: Any) -> list:
        return self.comm.allgather(obj)

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return self.comm.bcast(obj, root=root)

    def exchange(self, sends: dict[int, Any]) -> dict[int, Any]:
        out = [sends.get(r) for r in range(self.size)]
        got = self.comm.alltoall(out)
        return {r: v for r, v in enumerate(got) if v is not None}

    def sendrecv(self, send: np.ndarray, dest: int, recv: np.ndarray, source: int, tag: int = 0) -> None:
        self.comm.Sendrecv(np.ascontiguousarray(send), dest=dest, sendtag=tag, recvbuf=recv,
                           source=source, recvtag=tag)
        self.bytes_sent += send.nbytes
        self.messages += 1

    def sendrecv_many(self, msgs: list) -> None:
        """Several (send, dest, recv, source, tag) exchanges at once: all receives and sends posted
        non-blocking, then one wait (one synchronisation instead of one per message)."""
        reqs = [self.comm.Irecv(recv, source=source, tag=tag) for _, _, recv, source, tag in msgs]
        sends = [np.ascontiguousarray(send) for send, *_ in msgs]
        reqs += [self.comm.Isend(buf, dest=dest, tag=tag) for buf, (_, dest, _, _, tag) in zip(sends, msgs,
                                                                                                  strict=True)]
        self.MPI.Request.Waitall(reqs)
        self.bytes_sent += sum(b.nbytes for b in sends)
        self.messages += len(msgs)

    def sendrecv_rows(self, msgs: list) -> list:
        """Several (send (m, w) float64, dest, source, tag) exchanges of rows whose number the receiver does
        not know: all sends posted non-blocking, each receive sized by a matched probe (MPI_Mprobe +
        MPI_Mrecv), one wait for the sends. Returns the (k, w) rows received per message (w of its own
        send; a ``MPI.PROC_NULL`` source gives (0, w)). One rendezvous where counts-then-rows take two."""
        MPI = self.MPI
        sends = [np.ascontiguousarray(send, dtype=np.float64) for send, *_ in msgs]
        reqs = [self.comm.Isend(buf, dest=dest, tag=tag) for buf, (_, dest, _, tag) in zip(sends, msgs,
                                                                                          strict=True)]
        out = []
        status = MPI.Status()
        for buf, (_, _, source, tag) in zip(sends, msgs, strict=True):
            w = buf.shape[1] if buf.ndim == 2 else 1
            if source == MPI.PROC_NULL:
                out.append(np.empty((0, w)))
                continue
            msg = self.comm.Mprobe(source=source, tag=tag, status=status)
            rows = np.empty((status.Get_count(MPI.DOUBLE) // w, w))
            msg.Recv(rows)
            out.append(rows)
        MPI.Request.Waitall(reqs)
        self.bytes_sent += sum(b.nbytes for b in sends)
        self.messages += len(msgs)
        return out

    def channel(self, msgs: list) -> list:
        """A handle for start/wait/free of the (send, dest, recv, source, tag) messages; the buffers must
        stay allocated and in place until `free`. Persistent requests (MPI_Recv_init / MPI_Send_init, set
        up once per neighbour rebuild): each `start` is one MPI_Startall (receives first, then sends),
        `wait` one MPI_Waitall; `free` releases them (channels still open at exit are freed by an atexit
        hook, before mpi4py's MPI_Finalize)."""
        for send, *_ in msgs:
            if not send.flags.c_contiguous:
                raise ValueError("channel: send buffers must be C-contiguous")
        reqs = [self.comm.Recv_init(recv, source=source, tag=tag) for _, _, recv, source, tag in msgs]
        reqs += [self.comm.Send_init(send, dest=dest, tag=tag) for send, dest, _, _, tag in msgs]
        ch = [reqs, sum(m[0].nbytes for m in msgs), len(msgs), False]
        if not self._atexit_registered:     # one hook per communicator, not one per rebuild (review rev25)
            import atexit
            atexit.register(self._free_open)
            self._atexit_registered = True
        self._open[id(ch)] = ch
        return ch

    def start(self, ch: list) -> None:
        if ch[3]:
            raise RuntimeError("channel started twice without a wait")
        self.MPI.Prequest.Startall(ch[0])
        ch[3] = True
        self.bytes_sent += ch[1]
        self.messages += ch[2]

    def start_allreduce(self, a: np.ndarray, out: np.ndarray, op: str = "sum") -> Any:
        """Non-blocking buffer Allreduce (MPI_Iallreduce) of the C-contiguous ``a`` into ``out`` (same
        shape); the returned request is completed by `wait` (with a channel) — neither array may be
        touched before."""
        return self.comm.Iallreduce(a, out, op=self._op(op))

    def wait(self, ch: list, *reqs: Any) -> None:
        """Complete a started channel, and the extra requests ``reqs`` (`start_allreduce`) in the same
        MPI_Waitall."""
        self.MPI.Request.Waitall(ch[0] + list(reqs) if reqs else ch[0])
        ch[3] = False

    def free(self, ch: list) -> None:
        if ch[3]:
            self.wait(ch)
        for r in ch[0]:
            r.Free()
        ch[0] = []
        self._open.pop(id(ch), None)

    def _free_open(self) -> None:
        for ch in list(self._open.values()):
            if not self.MPI.Is_finalized():
                self.free(ch)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, message: str, code: int = 1) -> None:
        """Print the message on this rank's stderr and stop EVERY rank (MPI_Abort).

        The message is written, then `wait_stdio_read` waits until the launcher has read this rank's
        stdout/stderr pipes, and only then is MPI_Abort called: Hydra's mpiexec exits as soon as the abort
        reaches it, and its proxy forwards a rank's output and its PMI commands over one socket in the order
        it reads them, so output still in the rank's pipe when the proxy reads the abort was lost (a
        stopped job with an empty stderr). MPICH 5.0.2's MPI_Abort returns to the caller (the launcher
        kills the ranks a moment later): this rank then exits at once with ``code`` instead of running
        Python on (a second traceback, atexit hooks calling MPI)."""
        sys.stderr.write(f"msim: rank {self.rank}/{self.size}: {message}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        wait_stdio_read(fds=_stream_fds())
        self.comm.Abort(code)
        os._exit(code)


def _unread_bytes(fd: int) -> int:
    """Bytes written to the pipe ``fd`` and not yet read by its reader (FIONREAD); 0 on any error."""
    import array
    import fcntl
    import termios

    n = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, n, True)
    except OSError:
        return 0
    return int(n[0])


def _stream_fds() -> tuple[int, ...]:
    """The file descriptors under ``sys.stdout`` and ``sys.stderr`` (1 and 2 in an msim process)."""
    fds = []
    for stream in (sys.stdout, sys.stderr):
        try:
            fds.append(stream.fileno())
        except (AttributeError, OSError, ValueError):     # no stream, or not backed by a descriptor
            continue
    return tuple(fds)


def wait_stdio_read(timeout: float = 10.0, fds: tuple[int, ...] = (1, 2)) -> bool:
    """Wait until the reader of each of ``fds`` that is a pipe (an MPI launcher's proxy reading a rank's
    stdout/stderr) has read everything written to it, at most ``timeout`` s (a reader that stopped
    reading delays an abort by that much, never forever). Files and terminals hold what was written once
    `write` returns: nothing to wait for. Returns True when every pipe was read empty."""
    import stat
    import time

    pipes = []
    for fd in fds:
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                pipes.append(fd)
        except OSError:
            continue
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while True:
        pipes = [fd for fd in pipes if _unread_bytes(fd) > 0]
        if not pipes:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(2 * pause, 0.02)


def get_comm(mpi: bool | None = None) -> SerialComm | MPIComm:
    """The communicator of this process. ``mpi`` None: MPI iff `launched_with_mpi()`; True: MPI (also
    for one rank, e.g. ``mpiexec -n 1``); False: serial."""
    if mpi is None:
        mpi = launched_with_mpi()
    if not mpi:
        return SerialComm()
    try:
        import mpi4py  # noqa: F401
    except ImportError as exc:
        raise MPIUnavailable("this process was started by an MPI launcher but mpi4py is not installed: "
                             "pip install 'msim[mpi]' (or build mpi4py against the cluster's MPI: "
                             "MPICC=mpicc pip install --no-binary mpi4py mpi4py)") from exc
    return MPIComm()


def root_decides(comm: SerialComm | MPIComm, check: Callable[[], None]) -> None:
    """Run the deck check ``check()`` on rank 0 only and raise its `DeckError` on EVERY rank (collective:
    every rank must call this). For the set-up checks whose verdict one rank can reach alone (the time
    step, a restart's checkpoint against the deck): under `cli._agree` the message is printed once and
    every rank exits 2, and the other ranks skip the check's cost. Serially: ``check()``."""
    from ..errors import DeckError

    if comm.size == 1:
        check()
        return
    err: DeckError | str | None = None
    if comm.rank == 0:
        try:
            check()
        except DeckError as exc:
            err = exc
        except Exception as exc:    # noqa: BLE001 - the other ranks must not wait in bcast for ever
            comm.bcast(f"{type(exc).__name__} on rank 0: {exc}", 0)
            raise
    err = comm.bcast(err, 0)
    if isinstance(err, str):
        raise RuntimeError(err)
    if err is not None:
        raise err


def run_guarded(comm: SerialComm | MPIComm, fn: Callable[[], Any], code_of: Callable[[BaseException], int]
                | None = None) -> Any:
    """Run ``fn()``; on an exception print it (rank-prefixed) and stop all ranks (``comm.abort``).

    code_of(exc) -> exit status (default: `multiscale.errors` conventions — 2 for a deck error, 3 for a
    blow-up, 1 otherwise). With one serial process the exception is re-raised unchanged instead."""
    try:
        return fn()
    except BaseException as exc:   # noqa: BLE001 — every failure must stop every rank
        if not comm.is_mpi:
            raise
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            raise
        code = code_of(exc) if code_of is not None else _default_code(exc)
        msg = f"{type(exc).__name__}: {exc}"
        if code == 1:
            msg += "\n" + "".join(traceback.format_exception(exc)).rstrip()
        comm.abort(msg, code)
        raise   # not reached (Abort does not return)


def _default_code(exc: BaseException) -> int:
    from .. import errors

    if isinstance(exc, errors.DeckError):
        return 2
    if isinstance(exc, getattr(errors, "BlowUpError", ())):
        return 3
    if isinstance(exc, SystemExit) and isinstance(exc.code, int):
        return exc.code
    return 1
