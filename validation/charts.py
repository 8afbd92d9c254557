"""Small inline SVGs (no ORM): the PR curve with the routing thresholds marked, and the
reliability plot (predicted vs observed precision)."""

from __future__ import annotations

from html import escape

import numpy as np

from validation.routing import PRCurve

W, H, PAD = 420, 300, 40


def _xy(recall: float, precision: float) -> tuple[float, float]:
    return PAD + recall * (W - 2 * PAD), H - PAD - precision * (H - 2 * PAD)


def thinned_points(recall, precision, *, step: float = 1.0) -> list[tuple[float, float]]:
    """The curve's points in SVG coordinates, at most four per ``step``-pixel column of recall:
    the first, the highest, the lowest and the last point of each run of points in that column
    (in curve order), so the drawn line looks the same while a curve of 90,000 thresholds
    becomes at most ``4 * width / step`` points. Consecutive points in the same cell are merged.
    """
    r = np.asarray(recall, dtype=float)
    p = np.asarray(precision, dtype=float)
    if len(r) == 0:
        return []
    x = PAD + r * (W - 2 * PAD)
    y = H - PAD - p * (H - 2 * PAD)
    col = np.round(x / step).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], len(col)] - 1
    idx = np.arange(len(y))
    lows = np.minimum.reduceat(y, starts)
    highs = np.maximum.reduceat(y, starts)
    # index of the first min / max inside each run
    run_of = np.repeat(np.arange(len(starts)), ends - starts + 1)
    first_low = np.full(len(starts), len(y))
    first_high = np.full(len(starts), len(y))
    np.minimum.at(first_low, run_of[y == lows[run_of]], idx[y == lows[run_of]])
    np.minimum.at(first_high, run_of[y == highs[run_of]], idx[y == highs[run_of]])
    keep = np.unique(np.concatenate([starts, ends, first_low, first_high]))
    xk, yk = x[keep], y[keep]
    cells = np.stack([np.round(xk / step), np.round(yk / step)], axis=1)
    same = np.zeros(len(keep), dtype=bool)
    same[1:] = np.all(cells[1:] == cells[:-1], axis=1)
    same[-1] = False
    return list(zip(xk[~same].tolist(), yk[~same].tolist(), strict=True))


def pr_curve_svg(*, curve: PRCurve | None, accept: float | None, review: float | None) -> str:
    if curve is None:
        return '<p class="muted">This run has no precision–recall curve (no ground truth).</p>'
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in thinned_points(curve.recall, curve.precision))
    parts = [
        f'<svg class="pr-curve" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        'aria-label="precision-recall curve">',
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" '
        'fill="#fff" stroke="#ccc"/>',
    ]
    for v in (0, 0.25, 0.5, 0.75, 1):
        x, _ = _xy(v, 0)
        _, y = _xy(0, v)
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD + 14}" font-size="10" text-anchor="middle">{v:g}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{v:g}</text>'
        )
    parts.append(
        f'<text x="{W / 2}" y="{H - 6}" font-size="11" text-anchor="middle">recall (k=1)</text>'
    )
    parts.append(
        f'<text x="12" y="{H / 2}" font-size="11" transform="rotate(-90 12 {H / 2})" '
        'text-anchor="middle">precision</text>'
    )
    parts.append(f'<polyline points="{pts}" fill="none" stroke="#0a66c2" stroke-width="2"/>')
    for label, thr, colour in (("accept", accept, "#1a7f37"), ("review", review, "#d4a017")):
        if thr is None:
            continue
        r, p = curve.point_at(thr)
        x, y = _xy(r, p)
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD}" x2="{x:.1f}" y2="{H - PAD}" stroke="{colour}" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" font-size="11" fill="{colour}">'
            f"{escape(label)} ≥ {thr:.3f}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def reliability_svg(*, bins: list[dict]) -> str:
    """Observed vs predicted top-1 precision per bin (matching.ml.calibration.reliability_bins);
    the diagonal is perfect calibration; a dot's area grows with its number of rows."""
    if not bins:
        return '<p class="muted">No decided rows yet: the reliability plot appears with them.</p>'
    parts = [
        f'<svg class="reliability" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        'aria-label="reliability plot">',
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" '
        'fill="#fff" stroke="#ccc"/>',
    ]
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    parts.append(
        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
    )
    for v in (0, 0.25, 0.5, 0.75, 1):
        x, _ = _xy(v, 0)
        _, y = _xy(0, v)
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD + 14}" font-size="10" text-anchor="middle">{v:g}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{v:g}</text>'
        )
    parts.append(
        f'<text x="{W / 2}" y="{H - 6}" font-size="11" text-anchor="middle">'
        "predicted (model calibration)</text>"
    )
    parts.append(
        f'<text x="12" y="{H / 2}" font-size="11" transform="rotate(-90 12 {H / 2})" '
        'text-anchor="middle">observed (verdicts)</text>'
    )
    n_max = max(b["n"] for b in bins)
    for b in bins:
        x, y = _xy(float(b["predicted"]), float(b["observed"]))
        r = 3 + 6 * (b["n"] / n_max) ** 0.5
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="#0a66c2" fill-opacity="0.6">'
            f"<title>{int(b['n'])} rows</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
