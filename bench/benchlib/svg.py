# Scatter plots written as SVG by hand (no plotting library on the benchmark machines): one or more panels side by
# side, each with linear or logarithmic y, a dashed reference line, an optional series joined by a line, a tooltip
# per point, and a legend of the series' markers.
#
# A panel is a dict: title, xlabel, ylabel; points, a list of (series, x, y, label); and optionally hline (y, text),
# a dashed horizontal line; logy, a logarithmic y axis; line, the series whose points are joined in x order; x_unit,
# what the tooltips write after x. `styles` maps each series to (colour, marker shape): circle, hollow-circle,
# square, triangle, triangle-down, diamond, plus or cross.
import math


def nice_ticks(lo, hi, n=6):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in [1, 2, 2.5, 5, 10] if s * mag >= raw)
    t0 = math.floor(lo / step) * step
    ticks = []
    v = t0
    while v <= hi + step * 1e-6:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def log_ticks(lo, hi):
    """1-2-5 ticks per decade inside [lo, hi], or 1..9 when that gives fewer than 5."""
    for mults in ([1, 2, 5], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]):
        ticks = []
        e = math.floor(math.log10(lo))
        while 10 ** e <= hi:
            ticks += [m * 10 ** e for m in mults if lo <= m * 10 ** e <= hi]
            e += 1
        if len(ticks) >= 5:
            break
    return ticks if len(ticks) >= 2 else [lo, hi]


def marker(shape, x, y, colour, s=4.5):
    fill = f'fill="{colour}" stroke="{colour}"'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s * 0.9:.1f}" {fill}/>'
    if shape == "hollow-circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s * 0.9:.1f}" fill="white" stroke="{colour}" stroke-width="1.6"/>'
    if shape == "square":
        return f'<rect x="{x - s * 0.8:.1f}" y="{y - s * 0.8:.1f}" width="{1.6 * s:.1f}" height="{1.6 * s:.1f}" {fill}/>'
    if shape in ("triangle", "triangle-down"):
        d = 1 if shape == "triangle" else -1
        return (f'<polygon points="{x:.1f},{y - d * s:.1f} {x - s:.1f},{y + d * s * 0.8:.1f} '
                f'{x + s:.1f},{y + d * s * 0.8:.1f}" {fill}/>')
    if shape == "diamond":
        return f'<polygon points="{x:.1f},{y - s:.1f} {x + s:.1f},{y:.1f} {x:.1f},{y + s:.1f} {x - s:.1f},{y:.1f}" {fill}/>'
    if shape == "plus":
        return (f'<path d="M{x - s:.1f},{y:.1f}H{x + s:.1f}M{x:.1f},{y - s:.1f}V{y + s:.1f}" stroke="{colour}" '
                f'stroke-width="2" fill="none"/>')
    if shape == "cross":
        return (f'<path d="M{x - s:.1f},{y - s:.1f}L{x + s:.1f},{y + s:.1f}M{x - s:.1f},{y + s:.1f}L{x + s:.1f},'
                f'{y - s:.1f}" stroke="{colour}" stroke-width="2" fill="none"/>')
    raise ValueError(shape)


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel_svg(p, ox, oy, w, h, styles):
    """The SVG elements of one panel (see the top of this file) at (ox, oy), w by h pixels."""
    L, R, T, B = 62, 14, 30, 46
    pw, ph = w - L - R, h - T - B
    pts = p["points"]
    xs = [q[1] for q in pts] or [0, 1]
    ys = [q[2] for q in pts] + ([p["hline"][0]] if p.get("hline") else [])
    ys = ys or [0, 1]
    xt = nice_ticks(0, max(xs) * 1.03)
    logy = p.get("logy")
    if logy:
        lo, hi = min(ys) / 1.15, max(ys) * 1.15
        yt = log_ticks(lo, hi)
        fy = lambda v: oy + T + ph - (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) * ph  # noqa
    else:
        yt = nice_ticks(min(ys) - 0.5, max(ys) + 0.5)
        lo, hi = yt[0], yt[-1]
        fy = lambda v: oy + T + ph - (v - lo) / (hi - lo) * ph  # noqa: E731
    x0, x1 = xt[0], xt[-1]
    fx = lambda v: ox + L + (v - x0) / (x1 - x0) * pw  # noqa: E731
    o = [f'<text x="{ox + L + pw / 2:.1f}" y="{oy + 18}" text-anchor="middle" font-size="14" '
         f'font-weight="bold">{esc(p["title"])}</text>',
         f'<rect x="{ox + L}" y="{oy + T}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for v in xt:
        X = fx(v)
        o.append(f'<line x1="{X:.1f}" y1="{oy + T}" x2="{X:.1f}" y2="{oy + T + ph}" stroke="#e4e4e4"/>')
        o.append(f'<text x="{X:.1f}" y="{oy + T + ph + 15}" text-anchor="middle" font-size="11">{v:g}</text>')
    for v in yt:
        Y = fy(v)
        o.append(f'<line x1="{ox + L}" y1="{Y:.1f}" x2="{ox + L + pw}" y2="{Y:.1f}" stroke="#e4e4e4"/>')
        o.append(f'<text x="{ox + L - 5}" y="{Y + 4:.1f}" text-anchor="end" font-size="11">{v:.4g}</text>')
    o.append(f'<text x="{ox + L + pw / 2:.1f}" y="{oy + h - 8}" text-anchor="middle" font-size="12">'
             f'{esc(p["xlabel"])}</text>')
    o.append(f'<text x="{ox + 16}" y="{oy + T + ph / 2:.1f}" text-anchor="middle" font-size="12" '
             f'transform="rotate(-90 {ox + 16} {oy + T + ph / 2:.1f})">{esc(p["ylabel"])}</text>')
    if p.get("hline"):
        Y = fy(p["hline"][0])
        o.append(f'<line x1="{ox + L}" y1="{Y:.1f}" x2="{ox + L + pw}" y2="{Y:.1f}" stroke="#555" '
                 f'stroke-dasharray="6,4"/>')
        ty = Y - 5 if Y - (oy + T) > 18 else Y + 14  # below the line when it runs along the top
        o.append(f'<text x="{ox + L + 4}" y="{ty:.1f}" font-size="11" fill="#555">{esc(p["hline"][1])}</text>')
    line = sorted((q[1], q[2]) for q in pts if p.get("line") is not None and q[0] == p["line"])
    if len(line) > 1:
        o.append('<polyline fill="none" stroke="#222" stroke-width="1.2" points="' +
                 " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in line) + '"/>')
    unit = f" {p['x_unit']}" if p.get("x_unit") else ""
    for series, x, y, lab in pts:
        colour, shape = styles[series]
        o.append(f'<g><title>{esc(lab)}: {x:.3f}{unit}, {y:g}</title>{marker(shape, fx(x), fy(y), colour)}</g>')
    return o


def write_svg(path, panels, series, note, styles, legend_title, panel_size=(540, 380), legend_width=150):
    """Writes the panels side by side, a legend of `series` (in that order) titled `legend_title` on the right, and
    `note` along the bottom."""
    pw, ph = panel_size
    W, H = pw * len(panels) + legend_width, ph + 24
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="Helvetica, Arial, sans-serif">', f'<rect width="{W}" height="{H}" fill="white"/>']
    for i, p in enumerate(panels):
        o += panel_svg(p, i * pw, 0, pw, ph, styles)
    lx = pw * len(panels) + 8
    o.append(f'<text x="{lx}" y="44" font-size="12" font-weight="bold">{esc(legend_title)}</text>')
    for i, name in enumerate(series):
        colour, shape = styles[name]
        y = 64 + i * 20
        o.append(marker(shape, lx + 8, y - 4, colour))
        o.append(f'<text x="{lx + 20}" y="{y}" font-size="12">{esc(name)}</text>')
    o.append(f'<text x="8" y="{H - 6}" font-size="10" fill="#666">{esc(note)}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
