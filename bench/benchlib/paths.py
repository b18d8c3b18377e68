# Where the repository is, and paths as reports show them.
import os

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
ROOT = os.path.dirname(BENCH)  # the repository root


def rel(path):
    """`path` relative to the repository root when it is an absolute path inside it, else unchanged."""
    return os.path.relpath(path, ROOT) if os.path.isabs(path) and path.startswith(ROOT) else path
