# The pare binary as the benchmarks use it: found in a build folder, identified by its hash (a work folder keeps one
# cache per binary, so a rebuilt pare starts afresh), run with retries while it is being rebuilt, its options read
# from --help, and its commands shown as reports record them.
import os
import re
import subprocess
import time

from . import files
from .paths import rel
from .procs import run_or_exit


def binary(build_dir):
    """The pare executable of a build folder."""
    return os.path.join(build_dir, "pare")


def binary_id(path):
    """The first 12 hex digits of the binary's SHA-256: the name of its cache in a work folder (pare-ID/)."""
    return files.sha256(path)[:12]


class Pare:
    def __init__(self, bin_path, threads=None):
        self.bin = bin_path
        self.threads = threads
        self.id = binary_id(bin_path)

    def text(self, cmd):
        """stdout and stderr of `pare CMD`, whatever its exit code."""
        p = subprocess.run([self.bin] + cmd, capture_output=True, text=True, errors="replace")
        return p.stdout + p.stderr

    def options(self, cmd):
        """The --options `pare CMD --help` lists."""
        return set(re.findall(r"(--[a-z][a-z0-9-]*)", self.text(cmd + ["--help"])))

    def thread_flags(self):
        return ["--threads", str(self.threads)] if self.threads is not None else []

    def run(self, cmd):
        """Runs pare with cmd; returns (ok, seconds, output tail)."""
        for attempt in range(20):
            try:
                t0 = time.monotonic()
                p = subprocess.run([self.bin] + cmd, capture_output=True, text=True, errors="replace")
                break
            except OSError as e:  # the binary is being rebuilt: wait for it
                if attempt == 19:
                    raise
                print(f"cannot run {self.bin} ({e}); retrying in 30 s", flush=True)
                time.sleep(30)
        secs = time.monotonic() - t0
        out = (p.stdout + p.stderr).strip()
        return p.returncode == 0, secs, "\n".join(out.splitlines()[-12:])


def first_error(out):
    """The line of pare's output that says what went wrong (its first line mentioning an error)."""
    for line in out.splitlines():
        if "error" in line.lower():
            return line.strip()
    return out.splitlines()[0].strip() if out else "failed"


def command_string(cmd):
    """`pare ARGS` as a report shows it: absolute paths inside the repository made relative to its root."""
    return "pare " + " ".join(rel(x) if os.path.isabs(x) else x for x in cmd)


def text_file(pare, spec, work):
    """A plain text file for a text spec: brown:SPLIT written by `pare text brown` into `work`, else `spec` itself."""
    if not spec.startswith("brown:"):
        return spec
    path = os.path.join(work, "text.txt")
    run_or_exit([pare, "text", "brown", "--split", spec.split(":", 1)[1], "--out", path])
    return path
