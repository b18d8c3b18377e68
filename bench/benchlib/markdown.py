# Generated Markdown: tables, their cells, and the file written whole.
import os


def fmt(v, spec, none="–"):
    """v in a format spec, or `none` for a missing value."""
    return none if v is None else format(v, spec)


def row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header, rows):
    """The lines of a table: the header row, the separator, then one line per row of cells (already formatted)."""
    return [row(header), "|" + "---|" * len(header)] + [row(r) for r in rows]


def write(path, lines):
    """Writes the lines as one document (creating its folder), ending in exactly one newline."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
