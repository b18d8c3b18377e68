# Wall time and peak RSS of one command, measured from outside it: GNU time's -v report (/usr/bin/time), or the
# kernel's rusage of the waited-for child where GNU time is missing.
import os
import re
import subprocess
import sys
import time

from . import procs

GNU_TIME = "/usr/bin/time"


def timer_name():
    """What wall_and_peak_rss measures with on this machine, as a report names it."""
    return "GNU time -v" if os.path.exists(GNU_TIME) else "wait4 rusage"


def timed(cmd):
    """Runs cmd under /usr/bin/time -v; returns (wall seconds, peak RSS bytes, output)."""
    procs.echo(cmd)
    p = subprocess.run([GNU_TIME, "-v"] + cmd, capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        procs.fail(cmd, p, limit=3000)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) * 1024
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", p.stderr)
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return wall, rss, p.stdout + p.stderr


def wall_and_peak_rss(cmd):
    """(wall s, peak RSS bytes) of one command: GNU time -v (timed()) if present, else wait4. Stops the script
    (SystemExit) if the command fails."""
    if os.path.exists(GNU_TIME):
        wall, rss, _ = timed(cmd)
        return wall, rss
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{out[-3000:].decode(errors='replace')}")
    return time.monotonic() - t0, ru.ru_maxrss * 1024
