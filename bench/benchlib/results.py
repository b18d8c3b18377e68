# Results JSON: the metadata every benchmark records beside its numbers (when, on what machine, with which command,
# from which commit) and the file itself, written atomically so that an interrupted run never leaves half a file.
import datetime
import json
import os
import platform
import subprocess
import sys

from .paths import ROOT


def utc_now(fmt="%Y-%m-%d %H:%M UTC"):
    """The current UTC time in a strftime format."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(fmt)


def utc_iso():
    """The current UTC time as ISO 8601 to the second, with its +00:00 offset."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def machine():
    """The processor as Python's platform module names it, or the architecture."""
    return platform.processor() or platform.machine()


def cpu_name():
    """The CPU's model name from /proc/cpuinfo (platform.processor() where that is unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def command(script):
    """The command line that ran `script` (a path relative to the repository root), with its arguments."""
    return " ".join([script] + sys.argv[1:])


def git_commit(mark_src_modified=True):
    """The short commit hash of the repository, with " (src modified)" when src/ has uncommitted changes."""
    try:
        h = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
        if not mark_src_modified:
            return h.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "src"],
                               capture_output=True, text=True).stdout
        return h.strip() + (" (src modified)" if dirty.strip() else "")
    except OSError:
        return "?"


def header(script):
    """date, machine, cpus, command and pare_commit: the first keys of a results JSON."""
    return {"date": utc_now(), "machine": machine(), "cpus": os.cpu_count(), "command": command(script),
            "pare_commit": git_commit()}


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, doc, indent=2, final_newline=True):
    """Writes doc as JSON to path (creating its folder) through a temporary file renamed over it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=indent)
        if final_newline:
            f.write("\n")
    os.replace(tmp, path)
