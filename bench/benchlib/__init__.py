# Shared helpers of the bench/ scripts, one idea per module (the scripts import them as `from benchlib import ...`;
# a script run as `python3 bench/NAME.py` has bench/ on its path):
#
#   paths     the repository root and bench/ folder; rel(): a path relative to the root, for reports
#   files     removing outputs (files, folders, .partial leftovers); a file's SHA-256
#   procs     running a command: echoed and stopped on failure, or its last stdout line read as JSON
#   pare      the pare binary: located in a build folder, its hash (the key of a work-folder cache), run with
#             retries while it is being rebuilt, its options, its first error line, a command as a report shows it
#   timing    wall time and peak RSS of one command, from GNU time's -v report (or wait4's rusage without it)
#   results   the metadata a results JSON records (date, machine, CPU, command, git commit) and its atomic write
#   markdown  Markdown tables, cell formatting and generated docs
#   svg       scatter plots with an optional line series, hand-written SVG with a legend
