# Running commands the benchmarks depend on: echoed to stderr and fatal on failure, or read as JSON.
import json
import os
import subprocess
import sys


def echo(cmd):
    """Prints `$ CMD` to stderr, so a long benchmark shows what it runs."""
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)


def fail(cmd, p, limit=None):
    """Stops the script with the command, its exit code and its output (the last `limit` characters of each)."""
    out, err = (p.stdout, p.stderr) if limit is None else (p.stdout[-limit:], p.stderr[-limit:])
    sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{out}\n{err}")


def run_or_exit(cmd, **kw):
    """Runs cmd (echoed); stops the script if it fails; returns its stdout and stderr together."""
    echo(cmd)
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)
    if p.returncode != 0:
        fail(cmd, p)
    return p.stdout + p.stderr


def last_json_line(stdout):
    """The JSON object a tool prints as its last line of output."""
    return json.loads(stdout.strip().splitlines()[-1])


def run_json(cmd, env_extra=None):
    """Runs cmd with extra environment variables; returns its last stdout line as JSON; raises if it fails."""
    env = dict(os.environ, **(env_extra or {}))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}{res.stderr}")
    return last_json_line(res.stdout)


def tail(text, n=800):
    """The last n characters of a command's output, stripped: what an error record keeps."""
    text = (text or "").strip()
    return text[-n:]
