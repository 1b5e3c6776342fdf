"""What every ``deltaproof`` command shares: its one error type, checks made before the work starts, and
writing its outputs.

* :class:`CommandError` — a failure the toolkit foresees: the CLI prints its message as one line on stderr
  (``deltaproof simulate: error: --device: …``) and exits with its code; no traceback.
* Output paths are checked before any work (:func:`check_output`): a folder given as a file, a file
  extension the writer does not know, or a place that cannot be written (the nearest existing folder is
  not writable, or is a file) is refused at once, not after a long run. :func:`write_output` then creates
  the missing folders of that path (and says so on stderr) and turns any OSError (a full disk, a
  permission) into a :class:`CommandError` naming the option.
* JSON is always valid JSON (:func:`json_text`): non-finite numbers become the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"`` (JSON has no such numbers; Python's ``json`` would write bare ``NaN``),
  numpy scalars and arrays become numbers and lists.
* :func:`require_device` and :func:`require_backend` (both behind :func:`resolve_backend`) refuse a CUDA
  device without a GPU, fla without fla-core or without a GPU, and dtypes a backend cannot run, naming the
  option.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "CommandError",
    "check_output",
    "write_output",
    "json_text",
    "json_safe",
    "require_device",
    "require_backend",
    "resolve_backend",
    "one_line",
    "check_memory",
]


class CommandError(Exception):
    """A foreseen failure of a command: ``message`` (one line, naming the option) and the exit ``code``."""

    def __init__(self, message: str, code: int = 2, prog: str | None = None):
        super().__init__(one_line(message))
        self.code, self.prog = code, prog


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(text).split())


def check_output(option: str, path: Path, suffixes: tuple[str, ...] = ()) -> Path:
    """Refuse, before any work, an output ``path`` that cannot be written: a folder, a suffix not in
    ``suffixes`` (when given), an existing file that cannot be opened for writing, or a nearest existing
    ancestor that is not a folder taking a new file (tried with a temporary file, removed at once).
    Relative paths are relative to the working directory. Returns the path."""
    if suffixes and path.suffix.lower() not in suffixes:
        raise CommandError(f"{option}: expected a file name ending in {' or '.join(suffixes)}, got {str(path)!r}")
    if path.is_dir():
        raise CommandError(f"{option}: expected a file to write, got the folder {str(path)!r}")
    try:
        if path.exists():
            with path.open("a"):  # opened for appending: nothing is truncated or written
                pass
            return path
        ancestor = path.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise CommandError(f"{option}: cannot create a folder under {str(ancestor)!r}, which is a file")
        with tempfile.TemporaryFile(dir=ancestor):  # the folder takes a file (removed at once)
            pass
    except OSError as err:
        raise CommandError(f"{option}: cannot write {str(path)!r}: {err.strerror or err}") from None
    return path


def write_output(option: str, path: Path, write: str | Callable[[Path], None], note=None) -> None:
    """Write ``write`` (text, or a function that writes the file at the path it is given) to ``path``,
    creating its missing folders; ``note(message)`` reports the folders created. Any OSError becomes a
    :class:`CommandError` naming ``option``, and the file and folders this call created are removed again."""
    created = []
    folder = path.absolute().parent
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(write, str):
            with path.open("w", encoding="utf-8") as f:
                f.write(write)
        else:
            write(path)
    except OSError as err:
        if not existed and path.is_file():
            path.unlink()  # no partial file of ours is left behind
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise CommandError(f"{option}: cannot write {str(path)!r}: {err.strerror or err}") from None
    if note is not None:
        for folder in reversed(created):
            note(f"created folder {folder}")


def json_safe(x):
    """``x`` with non-finite floats as the strings "NaN", "Infinity", "-Infinity" and numpy values as Python
    ones (recursively through dicts, lists and tuples)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    if isinstance(x, np.generic):
        return json_safe(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


def json_text(x, indent: int | None = 1) -> str:
    """Valid JSON for ``x`` (see :func:`json_safe`; anything else JSON cannot hold is written with ``str``)."""
    return json.dumps(json_safe(x), indent=indent, allow_nan=False, default=str) + "\n"


def check_memory(option: str, need: float, what: str, remedy: str) -> None:
    """Refuse work that needs ``need`` bytes (an estimate) when less memory is free now: one line naming
    ``option``, ``what`` needs it, and the ``remedy``. Where the free memory cannot be read, nothing is refused."""
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if need > free:
        raise CommandError(f"{option}: {what} need about {need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} "
                           f"GiB free; {remedy}")  # fmt: skip


def require_device(device: str, option: str = "--device") -> None:
    """Refuse ``cuda`` where torch sees no CUDA GPU."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise CommandError(f"{option}: expected a CUDA GPU for 'cuda', but torch {torch.__version__} ({build}) sees "
                           "none on this machine; use --device cpu")  # fmt: skip


def resolve_backend(backend: str, device: str, dtype: str) -> str:
    """The backend a run uses (``auto``: triton on cuda, reference on the CPU), once the device and the
    backend are known to work here (:func:`require_device`, :func:`require_backend`)."""
    require_device(device)
    if backend == "auto":
        backend = "triton" if device == "cuda" else "reference"
    require_backend(backend, device, dtype)
    return backend


def require_backend(backend: str, device: str, dtype: str) -> None:
    """Refuse a backend that cannot run here: fla without fla-core, off the GPU or in a dtype its chunk op
    does not take; our Triton kernels on the CPU of a machine with a GPU (they compile for the GPU there),
    or with bfloat16 on the CPU (Triton's interpreter has no bfloat16)."""
    if backend == "fla":
        from kernels import fla_backend

        if not fla_backend.available():
            raise CommandError("--backend: fla needs fla-core, which is not installed here (pip install "
                               "'deltaproof[fla]'; fla's kernels also need a CUDA GPU)")  # fmt: skip
        if device != "cuda":
            raise CommandError("--backend: fla runs fla's Triton kernels, which need --device cuda")
        if dtype not in ("bfloat16", "float16"):
            raise CommandError(f"--dtype: fla's chunk_gated_delta_product takes bfloat16 or float16, got {dtype}; "
                               "use --backend triton or reference for this dtype")  # fmt: skip
    if backend == "triton" and device == "cpu":
        import torch

        from kernels import interpreting

        if torch.cuda.is_available() and not interpreting():
            raise CommandError("--device: --backend triton compiles its kernels for the GPU on this machine; use "
                               "--device cuda, or --backend reference on the CPU")  # fmt: skip
    if backend == "triton" and device == "cpu" and dtype == "bfloat16":
        raise CommandError("--dtype: bfloat16 with --backend triton on the CPU: Triton's interpreter does not "
                           "support bfloat16 (its results are NaN); use --dtype float32 or float16, or --backend "
                           "reference (op by op in bfloat16), or a GPU")  # fmt: skip
