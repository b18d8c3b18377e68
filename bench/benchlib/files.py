# Outputs on disk: removing them before a run, hashing a file to tell whether what it produced is current.
import hashlib
import os
import shutil


def rm(*paths):
    """Removes each path that exists: a folder with its contents, or a file."""
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.remove(p)


def sha256(path):
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
