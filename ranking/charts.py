"""Server-drawn SVG charts for the dashboard: this module works out the geometry, the
templates under templates/ranking/ draw it (so every label is escaped by the template
engine). No chart library and no build step."""

from datetime import date

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 14, 30


def _y(value: float, low: float = 0.0, high: float = 1.0) -> float:
    value = min(max(value, low), high)
    return round(TOP + (HEIGHT - TOP - BOTTOM) * (high - value) / (high - low), 1)


def _frame() -> dict:
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "y_ticks": [
            {"y": _y(v), "label": f"{v:.2f}".rstrip("0").rstrip(".")}
            for v in (0, 0.25, 0.5, 0.75, 1)
        ],
    }


def time_chart(series: list[dict], versions: list[dict]) -> dict | None:
    """Agreement by day (a line), with the day each guideline version was published."""
    points = [p for p in series if p["agreement"] is not None]
    if not points:
        return None
    days = [date.fromisoformat(p["day"]).toordinal() for p in points]
    first, last = min(days), max(days)
    span = max(last - first, 1)

    def x(day: int) -> float:
        if first == last:
            return round((LEFT + WIDTH - RIGHT) / 2, 1)
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (day - first) / span, 1)

    dots = [
        {
            "x": x(d),
            "y": _y(p["agreement"]),
            "day": p["day"],
            "value": p["agreement"],
            "n": p["prompts"],
        }
        for d, p in zip(days, points, strict=True)
    ]
    markers = [
        {"x": x(day), "label": f"v{v['version']}"}
        for v in versions
        if v["version"] > 1 and first <= (day := date.fromisoformat(v["day"]).toordinal()) <= last
    ]
    return {
        **_frame(),
        "dots": dots,
        "path": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "markers": markers,
        # The first and last day, anchored so that neither runs off the chart.
        "x_labels": (
            [{**dots[0], "anchor": "start"}, {**dots[-1], "anchor": "end"}]
            if len(dots) > 1
            else [{**dots[0], "anchor": "middle"}]
        ),
    }


def version_chart(rows: list[dict]) -> dict | None:
    """Per guideline version: pairwise agreement and alpha on ranks, with intervals."""
    rows = [r for r in rows if r["pairwise_agreement"] is not None]
    if not rows:
        return None
    slot = (WIDTH - LEFT - RIGHT) / len(rows)
    bar = min(40.0, slot / 3)
    groups = []
    for i, row in enumerate(rows):
        centre = LEFT + slot * (i + 0.5)
        bars = []
        for j, (key, css) in enumerate(
            [("pairwise_agreement", "bar-agreement"), ("alpha_rank", "bar-alpha")]
        ):
            value = row[key]
            if value is None:
                continue
            bx = round(centre - bar + j * bar, 1)
            low, high = row.get(f"{key}_interval") or [None, None]
            bars.append(
                {
                    "x": bx,
                    "y": _y(value),
                    "width": round(bar - 2, 1),
                    "height": round(_y(0) - _y(value), 1),
                    "mid": round(bx + (bar - 2) / 2, 1),
                    "low": _y(low) if low is not None else None,
                    "high": _y(high) if high is not None else None,
                    "value": value,
                    "interval": [low, high],
                    "css": css,
                    "key": key,
                }
            )
        groups.append(
            {
                "label": f"v{row['version']}",
                "x": round(centre, 1),
                "bars": bars,
                "n": row["n_prompts"],
            }
        )
    return {**_frame(), "groups": groups}


def leaderboard_chart(models: list[dict]) -> dict | None:
    """Each model's rating as a dot on its 95% interval, best on top."""
    if not models:
        return None
    low = min(m["lower"] for m in models)
    high = max(m["upper"] for m in models)
    pad = max((high - low) * 0.08, 5.0)
    low, high = low - pad, high + pad
    name_width = 130
    row = 26
    height = TOP + row * len(models) + BOTTOM

    def x(value: float) -> float:
        return round(name_width + (WIDTH - name_width - RIGHT) * (value - low) / (high - low), 1)

    step = _nice_step((high - low) / 5)
    first_tick = step * (int(low // step) + 1)
    ticks = []
    tick = first_tick
    while tick < high:
        ticks.append({"x": x(tick), "label": f"{tick:.0f}"})
        tick += step
    return {
        "width": WIDTH,
        "height": height,
        "name_x": name_width - 8,
        "left": name_width,
        "right": WIDTH - RIGHT,
        "bottom": height - BOTTOM,
        "ticks": ticks,
        "rows": [
            {
                "y": TOP + row * i + row / 2,
                "model": m["model"],
                "x": x(m["rating"]),
                "x_low": x(m["lower"]),
                "x_high": x(m["upper"]),
                "rating": m["rating"],
                "lower": m["lower"],
                "upper": m["upper"],
            }
            for i, m in enumerate(models)
        ],
    }


def _nice_step(raw: float) -> float:
    magnitude = 10 ** len(str(int(max(raw, 1)))) / 10
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
