"""Kernels for notebook runs: which kernel, starting it safely, and pre-imported kernels.

* :func:`resolve_kernel` picks the kernel a run uses: ``--kernel`` when given; else the
  notebook's own (``clusterstats``) when it is installed; else it registers this interpreter as
  the ``clusterstats`` kernel in the environment's prefix (saying so), or uses an installed kernel
  that runs this interpreter. If none can be had, :class:`KernelNotFound` says the one command
  that fixes it.
* :func:`start_kernel` starts a kernel with its **own connection file in its own runtime folder**
  and retries when it dies on start-up: parallel kernels race for TCP ports (jupyter_client picks a
  free port, closes it and the kernel binds it later; papermill #511, snakemake #3689).
* :class:`Zygote`: a helper process that has already imported the heavy stack (pandas, numpy,
  scipy, statsmodels, matplotlib, clusterstats, ipykernel) and **forks** one fresh kernel process
  per run. Each run still gets its own process (own globals, ``sys.modules``, options, open
  figures, working folder, environment), copied on write from a zygote that never runs user code,
  so nothing leaks between runs; only the import time is shared. This is the Android "zygote"
  / ``multiprocessing`` forkserver pattern applied to Jupyter kernels; jupyter_client offers no
  such provisioner, so :class:`ZygoteProvisioner` is written here (a ``LocalProvisioner`` whose
  process is forked by the zygote instead of ``Popen``). The zygote is used only when the
  kernel's spec runs this same interpreter with ``ipykernel``; otherwise kernels start as usual.
  ``CLUSTERSTATS_PRELOAD=0`` (or ``--no-preload``) turns it off.

  Forking after importing is what ``multiprocessing``'s default start method does with the same
  libraries: the zygote runs no thread of its own (OpenBLAS' and Arrow's worker threads are shut
  down and re-created across ``fork`` by their at-fork handlers), and the forked kernel reseeds
  ``random`` and numpy's global generator so runs do not share a random stream.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

log = logging.getLogger(__name__)

__all__ = ["KernelNotFound", "KernelStartError", "resolve_kernel", "start_kernel", "kill_kernel",
           "shutdown_quietly", "runtime_folder", "clean_stale_runtime_folders", "Zygote",
           "get_zygote", "zygote_for", "preload_enabled", "DEFAULT_KERNEL", "FIX_KERNEL_COMMAND"]

DEFAULT_KERNEL = "clusterstats"
FIX_KERNEL_COMMAND = (f"{Path(sys.executable).name} -m ipykernel install --sys-prefix "
                      f"--name {DEFAULT_KERNEL} --display-name 'Python (clusterstats)'")
RUNTIME_PREFIX = "clusterstats-kernel-"

#: modules the zygote imports once; a missing one is skipped
PRELOAD_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
                   "ipykernel.debugger", "matplotlib_inline.backend_inline", "comm", "IPython",
                   "numpy", "pandas",
                   "scipy.stats", "scipy.optimize", "statsmodels.api", "matplotlib",
                   "matplotlib.pyplot", "seaborn", "clusterstats", "clusterstats.hypothesis",
                   "clusterstats.analysis", "clusterstats.figures", "clusterstats.results",
                   "clusterstats.display", "clusterstats.stats")


class KernelNotFound(RuntimeError):
    """No usable Jupyter kernel; the message ends with the command that fixes it."""


class KernelStartError(RuntimeError):
    """A kernel did not start (after the retries the port race allows)."""


# --------------------------------------------------------------------------------------------
# which kernel
# --------------------------------------------------------------------------------------------
def _specs() -> dict[str, Any]:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().get_all_specs()


def _ipykernel_options(argv: list[str]) -> tuple[str, ...] | None:
    """The interpreter options of a kernel command ``[python, *options, -m, ipykernel..., ...]``
    when it runs this interpreter with ipykernel; None otherwise."""
    if "-m" not in argv or not argv:
        return None
    at = argv.index("-m")
    if at + 1 >= len(argv) or not argv[at + 1].startswith("ipykernel"):
        return None
    exe = argv[0]
    if exe in ("python", "python3", "{python}"):
        return None  # whichever python is first on PATH: not necessarily this one
    if os.path.abspath(exe) != os.path.abspath(sys.executable):
        return None
    return tuple(argv[1:at])


def _runs_this_interpreter(spec: Mapping[str, Any]) -> bool:
    return _ipykernel_options((spec.get("spec") or {}).get("argv") or []) is not None


def resolve_kernel(requested: str | None = None, notebook_kernel: str | None = None, *,
                   register: bool = True, say: Callable[[str], None] | None = None) -> str:
    """The kernel name a run uses (see the module docstring for the order).

    Raises :class:`KernelNotFound` naming the fix when nothing works.
    """
    say = say or (lambda msg: print(msg, file=sys.stderr))
    specs = _specs()
    if requested:
        if requested in specs:
            return requested
        raise KernelNotFound(f"no Jupyter kernel named {requested!r} (installed: "
                             f"{', '.join(sorted(specs)) or 'none'}); fix: {FIX_KERNEL_COMMAND}"
                             if requested == DEFAULT_KERNEL else
                             f"no Jupyter kernel named {requested!r} (installed: "
                             f"{', '.join(sorted(specs)) or 'none'}); list them with "
                             "`jupyter kernelspec list`")
    wanted = notebook_kernel or DEFAULT_KERNEL
    if wanted in specs:
        return wanted
    if register and _register_own_kernel(say):
        return DEFAULT_KERNEL
    for name, spec in sorted(specs.items()):
        if _runs_this_interpreter(spec):
            say(f"kernel {wanted!r} is not installed; using kernel {name!r} (this Python)")
            return name
    raise KernelNotFound(f"no Jupyter kernel {wanted!r} and none that runs this Python "
                         f"({sys.executable}); fix: {FIX_KERNEL_COMMAND}")


def _register_own_kernel(say: Callable[[str], None]) -> bool:
    """Install this interpreter as kernel ``clusterstats`` in ``sys.prefix`` (first use)."""
    try:
        from ipykernel.kernelspec import install
    except ImportError:
        return False
    try:
        where = install(kernel_name=DEFAULT_KERNEL, display_name="Python (clusterstats)",
                        prefix=sys.prefix)
    except OSError as exc:
        log.debug("cannot register a kernel in %s: %s", sys.prefix, exc)
        return False
    say(f"registered Jupyter kernel {DEFAULT_KERNEL!r} for this Python in {where} (first use)")
    return True


# --------------------------------------------------------------------------------------------
# runtime folders (connection files, kernel stderr): removed on every exit, stale ones at start
# --------------------------------------------------------------------------------------------
@contextmanager
def runtime_folder() -> Iterator[str]:
    """A private temp folder for one kernel; its name carries this process id so that
    :func:`clean_stale_runtime_folders` can remove what a killed process left behind."""
    path = tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{os.getpid()}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_runtime_folders(tmp: str | os.PathLike | None = None) -> list[Path]:
    """Remove ``clusterstats-kernel-<pid>-*`` folders whose process is gone (after SIGKILL);
    folders of the old unnumbered form older than a day go too. Returns what was removed."""
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*"):
        pid_text = path.name[len(RUNTIME_PREFIX):].split("-", 1)[0]
        try:
            stale = not _alive(int(pid_text))
        except ValueError:
            try:
                stale = time.time() - path.stat().st_mtime > 86400
            except OSError:
                continue
        if stale and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# --------------------------------------------------------------------------------------------
# the zygote: one pre-imported process that forks a fresh kernel per run
# --------------------------------------------------------------------------------------------
def preload_enabled() -> bool:
    return os.environ.get("CLUSTERSTATS_PRELOAD", "1").strip().lower() not in ("0", "false", "no", "off")


def _zygote_main() -> None:  # pragma: no cover - runs in the zygote process
    """The zygote: import the stack, then fork a kernel per request read from stdin.

    Protocol, one JSON line each way: ``{"argv", "env", "cwd", "stderr"}`` -> ``{"pid"}``.
    On end of input (the runner exited, even by SIGKILL) the kernels still alive are killed.
    """
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    import importlib

    for name in json.loads(sys.argv[1]) if len(sys.argv) > 1 else PRELOAD_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that cannot be imported is just not preloaded
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the runner's to handle
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    children: list[int] = []
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _become_kernel(request)
        children.append(pid)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)


def _become_kernel(request: Mapping[str, Any]) -> None:  # pragma: no cover - forked child
    """In the forked child: a new session, the run's environment/folder/stderr, then ipykernel."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        log_fd = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.stdin = open(os.devnull)  # noqa: SIM115
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        # the parent's global random state would otherwise be shared by every run
        import random as _random

        _random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        # pyplot was imported in the zygote before any IPython shell existed, so the inline
        # backend never hooked its figure display into one: ask the kernel to set it up, as a
        # freshly started kernel does, so executed notebooks keep their figures as images
        argv = list(request["argv"])
        if not any(a.startswith(("--matplotlib", "--IPKernelApp.matplotlib")) for a in argv):
            argv.append("--matplotlib=inline")
        sys.argv = ["ipykernel_launcher", *argv]
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


class Zygote:
    """A pre-imported process that forks kernels (see the module docstring). Thread-safe."""

    def __init__(self, modules: tuple[str, ...] = PRELOAD_MODULES, options: tuple[str, ...] = ()):
        self._lock = threading.Lock()
        self.options = tuple(options)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("CLUSTERSTATS_RUN_NAME", None)
        self.proc = subprocess.Popen(
            [sys.executable, *self.options, "-c",
             "from clusterstats.kernels import _zygote_main; _zygote_main()",
             json.dumps(list(modules))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=env, start_new_session=True)
        self._ready = False

    def _wait_ready(self) -> None:
        if not self._ready:
            line = self.proc.stdout.readline()
            if not line:
                raise KernelStartError("the pre-imported kernel process exited on start-up")
            self._ready = True

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: str, stderr: str) -> int:
        """Fork a kernel; returns its pid (the leader of its own process group)."""
        with self._lock:
            if self.proc.poll() is not None:
                raise KernelStartError("the pre-imported kernel process is gone")
            self._wait_ready()
            self.proc.stdin.write(json.dumps({"argv": argv, "env": dict(env), "cwd": cwd,
                                              "stderr": stderr}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise KernelStartError("the pre-imported kernel process exited")
        return int(json.loads(line)["pid"])

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with self._lock:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_ZYGOTES: dict[tuple[str, ...], Zygote] = {}
_ZYGOTE_LOCK = threading.Lock()


def get_zygote(options: tuple[str, ...] = (), start: bool = True) -> Zygote | None:
    """This process's zygote for these interpreter options (one per process: the CLI, or each
    Dask worker), started on first use."""
    with _ZYGOTE_LOCK:
        zygote = _ZYGOTES.get(tuple(options))
        if (zygote is None or not zygote.alive) and start:
            zygote = _ZYGOTES[tuple(options)] = Zygote(options=tuple(options))
            import atexit

            atexit.register(zygote.close)
        return zygote


def zygote_for(kernel_name: str) -> Zygote | None:
    """The zygote that can fork ``kernel_name`` (it runs this interpreter with ipykernel), or
    None (preloading off, or another interpreter: the kernel then starts as usual)."""
    if not preload_enabled():
        return None
    try:
        spec = _specs().get(kernel_name)
    except Exception:  # noqa: BLE001
        return None
    options = _ipykernel_options((spec or {}).get("spec", {}).get("argv") or [])
    return None if options is None else get_zygote(options)


class _ForkedProcess:
    """What ``LocalProvisioner`` needs of a ``Popen``, for a process forked by the zygote (not
    our child, so it is watched with ``kill(pid, 0)``; the zygote reaps it)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.05)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _provisioner_class():
    from jupyter_client.provisioning import LocalProvisioner

    class ZygoteProvisioner(LocalProvisioner):
        """Launch the kernel by asking the zygote to fork (instead of ``Popen``)."""

        zygote: Zygote | None = None
        stderr_path: str = os.devnull

        async def launch_kernel(self, cmd: list[str], **kwargs: Any):
            env = kwargs.get("env") or dict(os.environ)
            cwd = str(kwargs.get("cwd") or os.getcwd())
            at = cmd.index("-m") if "-m" in cmd else 0
            pid = self.zygote.fork(cmd[at + 2:], env, cwd, self.stderr_path)
            self.process = _ForkedProcess(pid)
            self.pid = self.pgid = pid
            self.cwd = cwd
            return self.connection_info

    return ZygoteProvisioner


def _preloaded_km_factory(zygote: Zygote, stderr_path: str):
    from jupyter_client.manager import AsyncKernelManager

    provisioner_cls = _provisioner_class()

    class PreloadedKernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw: Any):
            import uuid

            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            if self.provisioner is None:
                prov = provisioner_cls(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
                prov.zygote, prov.stderr_path = zygote, stderr_path
                self.provisioner = prov
            return await super()._async_pre_start_kernel(**kw)

    return PreloadedKernelManager


# --------------------------------------------------------------------------------------------
# starting and stopping
# --------------------------------------------------------------------------------------------
_PORT_RACE_MESSAGES = ("Address already in use", "Kernel died before replying",
                       "Kernel didn't respond")


def _is_start_race(exc: BaseException) -> bool:
    """True for the start-up failures that a fresh kernel on fresh ports can fix."""
    try:
        import zmq

        if isinstance(exc, zmq.ZMQError) and exc.errno == errno.EADDRINUSE:
            return True
    except ImportError:  # pragma: no cover - zmq comes with jupyter_client
        pass
    return any(m in str(exc) for m in _PORT_RACE_MESSAGES)


def kill_kernel(km: Any) -> None:
    """Kill a kernel's process group at once (it runs in its own session)."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


async def _ashutdown_quietly(km: Any) -> None:
    from jupyter_core.utils import ensure_async

    try:
        if km.has_kernel:
            await ensure_async(km.shutdown_kernel(now=True))
    except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
        kill_kernel(km)
    try:
        await ensure_async(km.cleanup_resources())
    except Exception:  # noqa: BLE001
        pass


def shutdown_quietly(km: Any) -> None:
    from jupyter_core.utils import run_sync

    run_sync(_ashutdown_quietly)(km)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(ln for ln in text.strip().splitlines()[-lines:] if ln.strip())


def start_kernel(kernel_name: str, *, runtime_dir: str | os.PathLike, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 60.0, attempts: int = 3,
                 km_factory: Callable[..., Any] | None = None,
                 zygote: Zygote | None = None) -> tuple[Any, int]:
    """Start a kernel that answers ``kernel_info``; retry on the parallel start-up port race.

    Each attempt gets a new connection file (fresh ports) in ``runtime_dir``, which belongs to
    this run only; the kernel also sees ``JUPYTER_RUNTIME_DIR=runtime_dir``. With ``zygote`` the
    kernel process is forked from it (pre-imported). Returns ``(kernel_manager, attempts_used)``.
    Failures that retrying cannot fix (unknown kernel, ...) are raised at once.

    The manager is jupyter_client's ``AsyncKernelManager``, the kind nbclient creates itself:
    with a blocking manager nbclient's output polling blocks its event loop, and cell time
    limits and dead-kernel checks never fire.
    """
    from jupyter_core.utils import run_sync

    return run_sync(_astart_kernel)(kernel_name, runtime_dir, cwd, env, timeout, attempts,
                                    km_factory, zygote)


async def _astart_kernel(kernel_name, runtime_dir, cwd, env, timeout, attempts, km_factory, zygote):
    import asyncio

    from jupyter_core.utils import ensure_async

    kernel_env = {**os.environ, **(env or {}), "JUPYTER_RUNTIME_DIR": str(runtime_dir)}
    for attempt in range(1, attempts + 1):
        log_path = Path(runtime_dir) / f"kernel-{attempt}.stderr"
        factory = km_factory
        if factory is None:
            if zygote is not None:
                factory = _preloaded_km_factory(zygote, str(log_path))
            else:
                from jupyter_client.manager import AsyncKernelManager as factory  # noqa: N813
        km = factory(kernel_name=kernel_name,
                     connection_file=os.path.join(runtime_dir, f"kernel-{attempt}.json"))
        # The kernel process's own stderr (not cell output, which travels over ZMQ) goes to a
        # file: it holds the ZMQError of a port race, and keeps start-up noise off the display.
        try:
            with open(log_path, "ab") as kernel_log:
                await ensure_async(km.start_kernel(cwd=cwd, env=kernel_env, stderr=kernel_log))
            kc = km.client()
            kc.start_channels()
            try:
                await ensure_async(kc.wait_for_ready(timeout=timeout))
            finally:
                kc.stop_channels()
            return km, attempt
        except Exception as exc:
            await _ashutdown_quietly(km)
            tail = _tail(log_path)
            if attempt == attempts or not (_is_start_race(exc) or _is_start_race(RuntimeError(tail))):
                if tail:
                    raise KernelStartError(f"{exc}; kernel stderr: {tail}") from exc
                raise
            log.warning("kernel start attempt %d failed (%s); retrying on new ports", attempt, exc)
            await asyncio.sleep(random.uniform(0.1, 0.4) * attempt)  # de-synchronise racing starts
    raise AssertionError("unreachable")  # pragma: no cover
