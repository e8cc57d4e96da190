"""`vpbench leaderboard`: tables, ranking and the md / csv / html pages, from result JSON only.

One table per (protocol, evaluation dataset). Rows are result files; each shows
top-1, class-wise F1 and cMAP with their bootstrap intervals, the change
relative to `raw`, its Pareto front, its rank under :data:`RANKING_RULE`, and,
beside paper-profile runs on the real suite with default options (:data:`PAPER_RULE`),
the paper's reported numbers where the method's model card holds them.

Everything written is a function of the result files and the model cards
only (sorted, no timestamps), so rebuilding on the same results gives
byte-identical files.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.atomic import atomic_write_bytes, atomic_write_text
from ..core.config import method_card
from ..core.errors import VPBenchError
from ..results import EvaluationResult, load_results

RANKING_RULE = (
    "Rows are ranked by Pareto front first, then by trade-off score. Front 1 (\u2605) is the Pareto front of "
    "(top-1 higher is better, cMAP lower is better): no other row has a top-1 at least as high and a cMAP at "
    "least as low, one of them strictly. Front 2 is the Pareto front of the rows left once front 1 is removed, "
    "and so on. Within a front, rows are ordered by the trade-off score = top-1 (%) \u2212 cMAP (%), higher "
    "first; ties go to the lower cMAP, then to the method name and run id. Fronts use the point estimates, "
    "not the intervals. F1 is shown but does not rank (it depends on the 0.5 threshold; cMAP does not)."
)

DELTA_RULE = (
    "\u0394 columns are relative to the `raw` run of the same profile and seed in the same table (else the first "
    "`raw` run by run id): top-1 and cMAP in percentage points, F1 in absolute units. No `raw` run, no \u0394."
)

PAPER_RULE = (
    "Paper columns are the numbers the STPrivacy paper (ICCV 2023) reports, read from the method's model card "
    "(`paper_reported.<protocol>.<dataset>`), shown only beside paper-profile runs on the real suite with the "
    "method's default options; a table with no such run has no paper column."
)

FROZEN_RULE = (
    "Frozen columns score recognizers trained once on the raw train videos and applied, unchanged, to the "
    "transformed test videos (the retrained columns train fresh recognizers on transformed videos). SSIM is the "
    "transformed test videos' mean SSIM against raw, with the level of uniform noise in brackets. A method that "
    "keeps a readable picture keeps some frozen top-1 and SSIM above noise; retrained top-1 high with frozen "
    "top-1 near chance and SSIM near noise means the method writes the action into a code that only a retrained "
    "recognizer reads. These columns do not rank; \u2014 marks results from before they existed."
)

# The columns of results that carry the frozen and fidelity scores (see vpbench.results); empty for older ones.
_EXTRA_CSV = (
    "top1_frozen",
    "top1_frozen_ci_low",
    "top1_frozen_ci_high",
    "f1_frozen",
    "cmap_frozen",
    "cmap_frozen_ci_low",
    "cmap_frozen_ci_high",
    "psnr",
    "psnr_noise",
    "ssim",
    "ssim_noise",
)

CSV_COLUMNS = (
    "protocol",
    "protocol_version",
    "dataset",
    "rank",
    "front",
    "pareto",
    "method",
    "method_version",
    "options",
    "run",
    "seed",
    "profile",
    "top1",
    "top1_ci_low",
    "top1_ci_high",
    "f1",
    "f1_ci_low",
    "f1_ci_high",
    "cmap",
    "cmap_ci_low",
    "cmap_ci_high",
    "delta_top1",
    "delta_f1",
    "delta_cmap",
    "tradeoff_score",
    "paper_top1",
    "paper_f1",
    "paper_cmap",
    *_EXTRA_CSV,
    "result",
)


@dataclass(eq=False)  # rows are compared by identity (a raw row is its own reference)
class Row:
    result: EvaluationResult
    label: str  # method plus its options, e.g. "stprivacy (keep_ratio=0.2)"
    top1: tuple[float, float, float]  # value, ci_low, ci_high in percent
    f1: tuple[float, float, float]  # fractions
    cmap: tuple[float, float, float]  # percent
    front: int = 0
    rank: int = 0
    reference: Row | None = None  # the raw row the deltas are taken against
    paper: dict | None = None  # {"top1": %, "f1": fraction, "cmap": %}
    sweep: str | None = None

    def frozen(self, name: str) -> tuple[float, float, float] | None:
        """A frozen score as shown (top-1 in percent), or None for a result from before frozen scores."""
        s = self.result.optional_score(f"{name}_frozen")
        if s is None:
            return None
        return tuple(100.0 * x for x in s) if name == "action_top1" else tuple(s)

    def fidelity(self, name: str) -> tuple[float, float] | None:
        """(value, noise floor) of ``psnr`` or ``ssim``, or None for a result from before fidelity scores."""
        s = self.result.scores.get(f"fidelity_{name}")
        return None if s is None else (float(s["value"]), float(s["noise"]))

    @property
    def tradeoff(self) -> float:
        return self.top1[0] - self.cmap[0]

    def delta(self, name: str) -> float | None:
        if self.reference is None:
            return None
        return getattr(self, name)[0] - getattr(self.reference, name)[0]


@dataclass
class Table:
    protocol: str
    protocol_version: object
    dataset: str
    rows: list[Row] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return _safe(f"{self.protocol}--{self.dataset}")

    @property
    def title(self) -> str:
        return f"{self.protocol} (v{self.protocol_version}) \u00b7 {self.dataset}"

    @property
    def has_paper(self) -> bool:
        return any(r.paper for r in self.rows)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _fmt_option(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _label(result: EvaluationResult) -> str:
    parts = [f"{k}={_fmt_option(v)}" for k, v in sorted(result.options.items())]
    if result.whole_frame:
        parts.append("whole frame")
    return f"{result.method_name} ({', '.join(parts)})" if parts else result.method_name


def _sweep_key(result: EvaluationResult) -> str:
    """Runs that differ only in deployment options (the result's ``method.deploy_options``) share this key."""
    rest = {k: v for k, v in sorted(result.options.items()) if k not in result.deploy_options}
    extra = "".join(f", {k}={_fmt_option(v)}" for k, v in rest.items())
    return f"{result.method_name} ({result.profile}, seed {result.seed}{extra})"


def pareto_fronts(points: list[tuple[float, float]]) -> list[int]:
    """Non-dominated sorting of (top-1 to maximize, cMAP to minimize): the front number of each point, from 1."""

    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    fronts = [0] * len(points)
    left = set(range(len(points)))
    level = 0
    while left:
        level += 1
        current = {i for i in left if not any(dominates(points[j], points[i]) for j in left if j != i)}
        for i in current:
            fronts[i] = level
        left -= current
    return fronts


def shows_paper_numbers(result: EvaluationResult) -> bool:
    """Whether a run is comparable with the paper's reported numbers: the paper profile (the published
    settings) on the real suite (the paper's datasets), with the method's default options. A cpu-profile
    run or a VP-Synth run is a different experiment, whatever dataset name it carries."""
    return result.profile == "paper" and result.suite == "real" and not result.options


def _paper_numbers(result: EvaluationResult, cards: dict, models_dir) -> dict | None:
    if not shows_paper_numbers(result):
        return None  # not the published settings on the published data (an ablation, a sweep point, a cpu or synth run)
    method = result.method_name
    if method not in cards:
        cards[method] = method_card(method, models_dir)
    card = cards[method] or {}
    reported = (card.get("paper_reported") or {}).get(result.protocol_name, {})
    entry = reported.get(result.dataset_name) if isinstance(reported, dict) else None
    if not isinstance(entry, dict) or not all(k in entry for k in ("top1", "f1", "cmap")):
        return None
    return {k: float(entry[k]) for k in ("top1", "f1", "cmap")}


def _pick_reference(row: Row, raws: list[Row]) -> Row | None:
    if not raws:
        return None
    res = row.result
    same = [r for r in raws if r.result.profile == res.profile and r.result.seed == res.seed]
    return min(same or raws, key=lambda r: r.result.run)


def build_tables(results: list[EvaluationResult], models_dir=None) -> list[Table]:
    """Group results into ranked tables, one per (protocol, evaluation dataset), sorted by both names."""
    cards: dict = {}
    tables: dict[tuple[str, str], Table] = {}
    for res in results:
        key = (res.protocol_name, res.dataset_name)
        table = tables.setdefault(key, Table(res.protocol_name, res.protocol_version, res.dataset_name))
        pct = lambda s: tuple(100.0 * x for x in s)  # noqa: E731 - top-1 is a fraction in the JSON, % on the page
        table.rows.append(
            Row(
                res,
                _label(res),
                pct(res.score("action_top1")),
                res.score("privacy_f1"),
                res.score("privacy_cmap"),
                paper=_paper_numbers(res, cards, models_dir),
            )
        )
    out = []
    for key in sorted(tables):
        table = tables[key]
        rows = table.rows
        for row, front in zip(rows, pareto_fronts([(r.top1[0], r.cmap[0]) for r in rows])):
            row.front = front
        raws = [r for r in rows if r.result.method_name == "raw"]
        for row in rows:
            row.reference = _pick_reference(row, raws)
        groups: dict[str, list[Row]] = {}
        for row in rows:
            groups.setdefault(_sweep_key(row.result), []).append(row)
        for name, members in groups.items():
            if len(members) > 1 and any(set(m.result.options) & set(m.result.deploy_options) for m in members):
                for m in members:
                    m.sweep = name
        rows.sort(key=lambda r: (r.front, -r.tradeoff, r.cmap[0], r.result.method_name, r.result.run, r.result.relpath))
        for i, row in enumerate(rows, 1):
            row.rank = i
        out.append(table)
    return out


# ---- formatting ---------------------------------------------------------------------------------


def _ci(s: tuple[float, float, float], digits: int) -> str:
    return f"{s[0]:.{digits}f} [{s[1]:.{digits}f}, {s[2]:.{digits}f}]"


def _delta(row: Row, name: str, digits: int) -> str:
    if row.reference is None:
        return "\u2014"
    if row.reference is row:
        return "ref"
    d = row.delta(name)
    # No sign on a change that rounds to nothing, so float noise never shows as "-0.000".
    return f"{0.0:.{digits}f}" if round(d, digits) == 0 else f"{d:+.{digits}f}"


def _front(row: Row) -> str:
    return "\u2605 1" if row.front == 1 else str(row.front)


def _paper(row: Row) -> str:
    p = row.paper
    return "\u2014" if p is None else f"{p['top1']:.2f} / {p['f1']:.3f} / {p['cmap']:.2f}"


def _ci_level(table: Table) -> str:
    levels = sorted({r.result.bootstrap_level for r in table.rows})
    return " / ".join(f"{100 * lv:g}%" for lv in levels)


def _frozen_text(row: Row, name: str) -> str:
    s = row.frozen(name)
    return "\u2014" if s is None else _ci(s, 1)


def _ssim_text(row: Row) -> str:
    f = row.fidelity("ssim")
    return "\u2014" if f is None else f"{f[0]:.3f} ({f[1]:.3f})"


def _cells(table: Table, row: Row) -> list[str]:
    cells = [
        str(row.rank),
        _front(row),
        row.label,
        row.result.run,
        _ci(row.top1, 1),
        _ci(row.f1, 3),
        _ci(row.cmap, 1),
        _delta(row, "top1", 1),
        _delta(row, "f1", 3),
        _delta(row, "cmap", 1),
        f"{row.tradeoff:.1f}",
        _frozen_text(row, "action_top1"),
        _frozen_text(row, "privacy_cmap"),
        _ssim_text(row),
    ]
    if table.has_paper:
        cells.append(_paper(row))
    return cells


def _headers(table: Table) -> list[str]:
    ci = _ci_level(table)
    heads = [
        "Rank",
        "Front",
        "Method",
        "Run",
        f"Top-1 % [{ci} CI]",
        f"F1 [{ci} CI]",
        f"cMAP % [{ci} CI]",
        "\u0394 top-1",
        "\u0394 F1",
        "\u0394 cMAP",
        "Score",
        "Frozen top-1 %",
        "Frozen cMAP %",
        "SSIM (noise)",
    ]
    if table.has_paper:
        heads.append("Paper top-1 / F1 / cMAP")
    return heads


def plot_name(table: Table) -> str:
    return f"tradeoff-{table.slug}.png"


def preview_name(table: Table, row: Row) -> str:
    return f"previews/{table.slug}--{_safe(row.result.method_name)}--{_safe(row.result.run)}.png"


def curves_name(table: Table, row: Row) -> str:
    return f"curves/{table.slug}--{_safe(row.result.method_name)}--{_safe(row.result.run)}.png"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(tables: list[Table], previews: dict, curves: dict | None = None) -> str:
    lines = [
        "# vpbench leaderboard",
        "",
        f"Generated by `vpbench leaderboard` from {sum(len(t.rows) for t in tables)} result file(s). "
        "Higher top-1 is better; lower F1 and cMAP are better.",
        "",
        f"**Ranking.** {RANKING_RULE}",
        "",
        f"**\u0394.** {DELTA_RULE}",
        "",
        f"**Frozen and SSIM.** {FROZEN_RULE}",
        "",
        f"**Paper.** {PAPER_RULE}",
        "",
    ]
    for table in tables:
        heads = _headers(table)
        lines += [f"## {table.title}", "", "| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
        for row in table.rows:
            lines.append("| " + " | ".join(_md_escape(c) for c in _cells(table, row)) + " |")
        lines += ["", f"![trade-off plot: {table.title}]({plot_name(table)})", ""]
        for title, files in (("Previews (raw above, transformed below)", previews), ("Training curves", curves or {})):
            linked = [(row, files[id(row)]) for row in table.rows if id(row) in files]
            if linked:
                names = ", ".join(f"[{_md_escape(row.label)} \u00b7 {row.result.run}]({name})" for row, name in linked)
                lines += [f"{title}: {names}.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _num(x: float | None) -> str:
    return "" if x is None else repr(round(float(x), 6))


def render_csv(tables: list[Table]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for table in tables:
        for row in table.rows:
            r = row.result
            # The CSV keeps the result files' units: top-1 and F1 fractions, cMAP percent.
            top1 = [x / 100.0 for x in row.top1]
            d_top1 = row.delta("top1")
            paper = row.paper or {}
            writer.writerow(
                [
                    table.protocol,
                    table.protocol_version,
                    table.dataset,
                    row.rank,
                    row.front,
                    str(row.front == 1).lower(),
                    r.method_name,
                    r.method_version,
                    ";".join(f"{k}={_fmt_option(v)}" for k, v in sorted(r.options.items())),
                    r.run,
                    r.seed,
                    r.profile,
                    *map(_num, top1),
                    *map(_num, row.f1),
                    *map(_num, row.cmap),
                    _num(None if d_top1 is None else d_top1 / 100.0),
                    _num(row.delta("f1")),
                    _num(row.delta("cmap")),
                    _num(row.tradeoff),
                    _num(paper["top1"] / 100.0) if paper else "",
                    _num(paper.get("f1")) if paper else "",
                    _num(paper.get("cmap")) if paper else "",
                    *_extra_csv(row),
                    r.relpath,
                ]
            )
    return buf.getvalue()


def _extra_csv(row: Row) -> list[str]:
    """The _EXTRA_CSV cells in the result files' units (top-1 a fraction); empty where the result lacks them."""
    top1, f1, cmap = row.frozen("action_top1"), row.frozen("privacy_f1"), row.frozen("privacy_cmap")
    psnr, ssim = row.fidelity("psnr"), row.fidelity("ssim")
    cells = [*(["", "", ""] if top1 is None else [_num(x / 100.0) for x in top1])]
    cells += ["" if f1 is None else _num(f1[0])]
    cells += ["", "", ""] if cmap is None else [_num(x) for x in cmap]
    cells += ["", ""] if psnr is None else [_num(x) for x in psnr]
    cells += ["", ""] if ssim is None else [_num(x) for x in ssim]
    return cells


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif;color:#1f2328;
  margin:0 auto;padding:24px 32px;max-width:1200px;line-height:1.45;background:#fff}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:19px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
p.rule{font-size:13px;color:#424a53;margin:6px 0}
table.lb{border-collapse:collapse;font-size:13px;margin:8px 0 14px;width:100%}
table.lb th{background:#f3f5f8;text-align:left;padding:6px 8px;border-bottom:2px solid #afb8c1;white-space:nowrap}
table.lb td{padding:5px 7px;border-bottom:1px solid #e3e7eb;white-space:nowrap;font-variant-numeric:tabular-nums}
table.lb tr.front td{background:#fff8e1}
table.lb td.num{text-align:right}
td.method{font-weight:600}span.run{font-weight:400;color:#6e7781;font-size:11px}
div.scroll{overflow-x:auto}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;background:#f3f5f8;padding:0 3px;
  border-radius:3px}
span.ci{color:#6e7781;font-size:12px}
span.up{color:#1a7f37}span.down{color:#cf222e}
figure{margin:6px 0 10px}figure img{max-width:100%;border:1px solid #e3e7eb}
figcaption{font-size:12px;color:#6e7781}
h3{font-size:14px;margin:14px 0 4px;color:#424a53}
.previews figure{display:inline-block;vertical-align:top;margin:6px 14px 6px 0}
.previews img{width:360px}
:target{outline:3px solid #f0b400;outline-offset:2px}
"""


def _html_ci(s: tuple[float, float, float], digits: int) -> str:
    return f'{s[0]:.{digits}f} <span class="ci">[{s[1]:.{digits}f}, {s[2]:.{digits}f}]</span>'


def _html_optional_ci(s: tuple[float, float, float] | None, digits: int) -> str:
    return "\u2014" if s is None else _html_ci(s, digits)


def _html_delta(row: Row, name: str, digits: int, higher_better: bool) -> str:
    text = _delta(row, name, digits)
    d = row.delta(name)
    if row.reference is None or row.reference is row or d is None or round(d, digits) == 0:
        return html.escape(text)
    good = (d > 0) == higher_better
    return f'<span class="{"up" if good else "down"}">{html.escape(text)}</span>'


def _html_text(text: str) -> str:
    """Escape, then turn markdown `code` spans into <code> (the rules are written once, for both pages)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(tables: list[Table], plots: dict[str, bytes], preview_pngs: dict, curves: dict | None = None) -> str:
    """The page; ``curves`` maps a row (by id) to its training-curves file, linked beside the method's name."""
    curves = curves or {}
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>vpbench leaderboard</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>vpbench leaderboard</h1>",
        f'<p class="rule">{sum(len(t.rows) for t in tables)} result file(s). Higher top-1 is better; lower F1 and '
        f"cMAP are better.</p>",
        f'<p class="rule" id="ranking"><b>Ranking.</b> {_html_text(RANKING_RULE)}</p>',
        f'<p class="rule"><b>\u0394.</b> {_html_text(DELTA_RULE)}</p>',
        f'<p class="rule"><b>Frozen and SSIM.</b> {_html_text(FROZEN_RULE)}</p>',
        f'<p class="rule"><b>Paper.</b> {_html_text(PAPER_RULE)}</p>',
    ]
    for table in tables:
        heads = [h for h in _headers(table) if h != "Run"]  # the run id sits under the method name
        parts.append(f'<h2 id="{esc(table.slug)}">{esc(table.title)}</h2>')
        parts.append(
            f'<div class="scroll"><table class="lb" id="table-{esc(table.slug)}"><thead><tr>'
            + "".join(f"<th>{esc(h)}</th>" for h in heads)
            + "</tr></thead><tbody>"
        )
        for row in table.rows:
            method = esc(row.label)
            key = id(row)
            if key in preview_pngs:
                method += (
                    f' <a href="#preview-{esc(table.slug)}-{row.rank}" title="raw and transformed frames">preview</a>'
                )
            if key in curves:
                method += f' <a href="{esc(curves[key])}" title="training curves of every fit stage">curves</a>'
            cells = [
                f'<td class="num">{row.rank}</td>',
                f"<td>{esc(_front(row))}</td>",
                f'<td class="method">{method}<br><span class="run">{esc(row.result.run)}</span></td>',
                f'<td class="num">{_html_ci(row.top1, 1)}</td>',
                f'<td class="num">{_html_ci(row.f1, 3)}</td>',
                f'<td class="num">{_html_ci(row.cmap, 1)}</td>',
                f'<td class="num">{_html_delta(row, "top1", 1, True)}</td>',
                f'<td class="num">{_html_delta(row, "f1", 3, False)}</td>',
                f'<td class="num">{_html_delta(row, "cmap", 1, False)}</td>',
                f'<td class="num">{row.tradeoff:.1f}</td>',
                f'<td class="num">{_html_optional_ci(row.frozen("action_top1"), 1)}</td>',
                f'<td class="num">{_html_optional_ci(row.frozen("privacy_cmap"), 1)}</td>',
                f'<td class="num">{esc(_ssim_text(row))}</td>',
            ]
            if table.has_paper:
                cells.append(f'<td class="num">{esc(_paper(row))}</td>')
            parts.append(f'<tr class="{"front" if row.front == 1 else "rest"}">' + "".join(cells) + "</tr>")
        parts.append("</tbody></table></div>")
        parts.append(
            f'<figure><img id="plot-{esc(table.slug)}" alt="trade-off plot: {esc(table.title)}" '
            f'src="{_data_uri(plots[table.slug])}"><figcaption>Top-1 against cMAP with {esc(_ci_level(table))} '
            "intervals; \u2605 and the dashed staircase mark the Pareto front; lines join runs of one method that "
            "differ only in keep ratio; hollow diamonds are the paper's numbers.</figcaption></figure>"
        )
        linked = [row for row in table.rows if id(row) in preview_pngs]
        if linked:
            parts.append(
                '<div class="previews"><h3>Previews: the first test videos, raw frames above transformed ones</h3>'
            )
            for row in linked:
                parts.append(
                    f'<figure id="preview-{esc(table.slug)}-{row.rank}"><img alt="preview of {esc(row.label)}" '
                    f'src="{_data_uri(preview_pngs[id(row)])}"><figcaption>{esc(row.label)} \u00b7 '
                    f"{esc(row.result.run)}"
                    "</figcaption></figure>"
                )
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---- the command ------------------------------------------------------------------------------


def _plot(table: Table) -> bytes:
    from .plots import TradeoffPoint, tradeoff_plot

    points = []
    for row in table.rows:
        swept = ", ".join(
            f"{k}={_fmt_option(v)}" for k, v in sorted(row.result.options.items()) if k in row.result.deploy_options
        )
        points.append(
            TradeoffPoint(
                label=row.label,
                method=row.result.method_name,
                top1=row.top1[0],
                top1_ci=row.top1[1:],
                cmap=row.cmap[0],
                cmap_ci=row.cmap[1:],
                on_front=row.front == 1,
                sweep=row.sweep,
                sweep_label=None if row.sweep is None else (swept or f"{row.result.method_name} (default)"),
                paper=None if row.paper is None else (row.paper["top1"], row.paper["cmap"]),
            )
        )
    return tradeoff_plot(points, f"{table.title}: action-privacy trade-off")


def current_protocol_versions(protocols_dir=None) -> dict[str, int | str]:
    """The version of every protocol spec in use (the YAML files; no torch needed)."""
    from ..core.config import load_protocol, protocol_names

    return {name: load_protocol(name, protocols_dir)["version"] for name in protocol_names(protocols_dir)}


def write_leaderboard(
    results_dir: str | os.PathLike, out: str | os.PathLike, models_dir=None, protocols_dir=None
) -> list[Path]:
    """Read every result under ``results_dir`` and write the leaderboard files into ``out``; return them.

    Results of a protocol version other than the spec in use (``protocols_dir``, default the shipped
    ones) are refused, as are mixed versions."""
    results = load_results(results_dir, current_protocol_versions(protocols_dir))
    # Validation runs (`evaluate --holdout val`) choose settings; the leaderboard shows test scores only.
    shown = [r for r in results if r.holdout == "test"]
    if not shown:
        raise VPBenchError(
            f"{results_dir}: every result scores the val split (`evaluate --holdout val`); the leaderboard shows "
            f"test scores only"
        )
    tables = build_tables(shown, models_dir)
    out = Path(out)
    written = []
    plots = {}
    for table in tables:
        plots[table.slug] = _plot(table)
        written.append(atomic_write_bytes(out / plot_name(table), plots[table.slug]))
    previews, preview_pngs = {}, {}
    for table in tables:
        for row in table.rows:
            src = row.result.preview
            if src is not None:
                name = preview_name(table, row)
                preview_pngs[id(row)] = src.read_bytes()
                previews[id(row)] = name
                written.append(atomic_write_bytes(out / name, preview_pngs[id(row)]))
    curves = {}  # the runs' training curves, copied beside the page and linked from it
    for table in tables:
        for row in table.rows:
            if row.result.curves is not None:
                curves[id(row)] = curves_name(table, row)
                written.append(atomic_write_bytes(out / curves[id(row)], row.result.curves.read_bytes()))
    written.append(atomic_write_text(out / "leaderboard.md", render_markdown(tables, previews, curves)))
    written.append(atomic_write_text(out / "leaderboard.csv", render_csv(tables)))
    written.append(atomic_write_text(out / "leaderboard.html", render_html(tables, plots, preview_pngs, curves)))
    return written
