#!/usr/bin/env python3
"""Turns benchmark outputs into ratios against native (issue 10).

Reads the `BENCH <name> <value> <unit> [detail]` lines (a guest's `@@BENCH`
lines too) of the native run and of each vgpu path, run on the same machine
in the same run (scripts/gpu-suite.sh's bench parts), and writes
- JSON: {"date", "commit", "gpu", "driver", "accel", "command", "results":
  [{"name", "path": "socket"|"vm", "unit", "native", "vgpu", "ratio"}],
  "failures": {role: [CASE lines that failed]}, "history": [older runs]}.
  The vm path is measured against --vm-native when given (a second run of
  the suite, when the parts did not fit one command), else --native.
  Ratios are oriented so that 1.0 is native and more is better: vgpu/native
  for rates, native/vgpu for times (units us, ms, s). A figure missing on
  one side has a null ratio. With --history, the runs of that file are kept
  under "history", newest first (a file in this shape moves its own run
  there; the older shape {"runs": [...]} gives its runs);
- Markdown: a section with one row per benchmark and the issue's targets.

Python 3 standard library only (it runs on the GPU machine).
Usage: bench-report.py --native FILE [--socket FILE] [--vm FILE]
[--vm-native FILE] (each may repeat) [--date D --commit C --gpu G --driver V --accel A --command CMD]
[--history JSON] [--json OUT] [--markdown OUT]
"""

import argparse
import json
import re
import sys

TIME_UNITS = {"ns", "us", "ms", "s"}
PATHS = ("socket", "vm")
SIZE = re.compile(r"_(\d+)(KiB|MiB|GiB)$")
SHIFT = {"KiB": 10, "MiB": 20, "GiB": 30}


def parse(lines):
    """BENCH figures {name: (value, unit)} and failed CASE lines, in order."""
    figures, failures = {}, []
    for raw in lines:
        line = raw.strip().lstrip("@")
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "BENCH":
            try:
                value = float(parts[2])
            except ValueError:
                continue
            figures[parts[1]] = (value, parts[3])
        elif len(parts) >= 3 and parts[0] in ("CASE", "RESULT") and parts[2] == "FAIL":
            failures.append(line)
    return figures, failures


def read(paths):
    lines = []
    for p in paths or []:
        try:
            with open(p, errors="replace") as f:
                lines.extend(f)
        except OSError as e:
            lines.append("CASE read FAIL 0ms %s" % e)
    return parse(lines)


def ratio(native, vgpu, unit):
    """1.0 is native, more is better; None when either side is missing."""
    if native is None or vgpu is None or native <= 0 or vgpu <= 0:
        return None
    r = native / vgpu if unit in TIME_UNITS else vgpu / native
    return round(r, 4)


def size_bytes(name):
    m = SIZE.search(name)
    return int(m.group(1)) << SHIFT[m.group(2)] if m else None


def target(name, path):
    """The issue's target for a figure: ("ratio"|"value", ">="|"<=", number), or None."""
    size = size_bytes(name)
    big = size is not None and size >= 64 << 20
    if big and "_pinned_" in name:
        return ("ratio", ">=", 0.90)
    if big and "_pageable_" in name:
        return ("ratio", ">=", 3.0 if path == "vm" else 1.0)
    if name.startswith(("sgemm_", "bf16_gemm_")):
        return ("ratio", ">=", 0.97)
    if path == "socket":
        if name in ("sync_idle", "mem_get_info"):
            return ("value", "<=", 3.0)
        if name == "launch_async":
            return ("ratio", ">=", 0.5)
        if name.startswith("torch_mlp_step"):
            return ("ratio", ">=", 0.90)
    return None


def met(result):
    t = target(result["name"], result["path"])
    if t is None:
        return None
    kind, op, want = t
    got = result["ratio"] if kind == "ratio" else result["vgpu"]
    if got is None:
        return False
    return got >= want if op == ">=" else got <= want


def results(natives, paths):
    """The result rows: per path given, every figure of either side, against
    that path's native run."""
    rows = []
    for path in PATHS:
        if path not in paths:
            continue
        native, vgpu = natives[path], paths[path]
        names = list(native) + [n for n in vgpu if n not in native]
        for name in names:
            n = native.get(name)
            v = vgpu.get(name)
            unit = (n or v)[1]
            rows.append(
                {
                    "name": name,
                    "path": path,
                    "unit": unit,
                    "native": n[0] if n else None,
                    "vgpu": v[0] if v else None,
                    "ratio": ratio(n[0] if n else None, v[0] if v else None, unit),
                }
            )
    return rows


def history_of(old):
    """The runs an existing benchmarks.json holds, newest first."""
    if old is None:
        return []
    if isinstance(old, list):
        return old
    if isinstance(old, dict) and "results" in old:
        run = {k: v for k, v in old.items() if k != "history"}
        return [run] + list(old.get("history", []))
    if isinstance(old, dict) and isinstance(old.get("runs"), list):
        return old["runs"]
    return [old]


def number(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def target_text(name, path, result):
    t = target(name, path)
    if t is None:
        return None
    kind, op, want = t
    sign = "≥" if op == ">=" else "≤"
    what = "ratio" if kind == "ratio" else result["unit"]
    ok = met(result)
    mark = "met" if ok else "not met"
    if kind == "value":
        return "%s %s %g %s: %s" % (path, sign, want, what, mark)
    return "%s %s %g: %s" % (path, sign, want, mark)


def markdown(report):
    """One section: the run's facts and a row per benchmark."""
    rows = {}
    order = []
    for r in report["results"]:
        if r["name"] not in rows:
            rows[r["name"]] = {}
            order.append(r["name"])
        rows[r["name"]][r["path"]] = r
    paths = [p for p in PATHS if any(r["path"] == p for r in report["results"])]
    out = [
        "## %s: %s, driver %s, commit %s" % (report["date"], report["gpu"], report["driver"], report["commit"]),
        "",
        "Command: `%s`. VM path: accel %s. Ratios: 1.0 is native, more is better "
        "(native/vgpu for times)." % (report["command"], report["accel"]),
        "",
    ]
    head = ["benchmark", "unit", "native"]
    for p in paths:
        head += [p, "%s ratio" % p]
    head.append("target (issue 10)")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for name in order:
        by = rows[name]
        first = next(iter(by.values()))
        cells = [name, first["unit"], number(first["native"])]
        targets = []
        for p in paths:
            r = by.get(p)
            cells += [number(r["vgpu"]) if r else "—", number(r["ratio"]) if r else "—"]
            t = target_text(name, p, r) if r else None
            if t:
                targets.append(t)
        cells.append("; ".join(targets) if targets else "")
        out.append("| " + " | ".join(cells) + " |")
    for role, failed in sorted(report["failures"].items()):
        if failed:
            out.append("")
            out.append("Failed (%s): %s" % (role, "; ".join("`%s`" % f for f in failed)))
    out.append("")
    return "\n".join(out)


def build(args):
    native, native_failed = read(args.native)
    paths, failures = {}, {"native": native_failed}
    natives = {p: native for p in PATHS}
    if args.vm_native:
        natives["vm"], failures["vm-native"] = read(args.vm_native)
    for path in PATHS:
        files = getattr(args, path)
        if files:
            paths[path], failures[path] = read(files)
    report = {
        "date": args.date,
        "commit": args.commit,
        "gpu": args.gpu,
        "driver": args.driver,
        "accel": args.accel,
        "command": args.command,
        "results": results(natives, paths),
        "failures": failures,
    }
    old = None
    if args.history:
        try:
            with open(args.history) as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            print("bench-report: %s: %s (no history kept)" % (args.history, e), file=sys.stderr)
    report["history"] = history_of(old)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--native", action="append", required=True)
    ap.add_argument("--socket", action="append")
    ap.add_argument("--vm", action="append")
    ap.add_argument(
        "--vm-native",
        action="append",
        help="the native run the vm path is measured against (default --native), "
        "to combine two runs of the suite",
    )
    for name in ("date", "commit", "gpu", "driver", "accel", "command"):
        ap.add_argument("--" + name, default="unknown")
    ap.add_argument("--history", help="an existing benchmarks.json whose runs are kept")
    ap.add_argument("--json", help="where the JSON goes (default: stdout)")
    ap.add_argument("--markdown", help="where the Markdown section goes")
    args = ap.parse_args(argv)
    report = build(args)
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(report))
    # A summary for the log: how many figures each path has, and the targets.
    for path in PATHS:
        rows = [r for r in report["results"] if r["path"] == path]
        if rows:
            judged = [met(r) for r in rows if target(r["name"], path)]
            print(
                "bench %s: %d figures, %d with both sides, targets met %d of %d"
                % (
                    path,
                    len(rows),
                    sum(r["ratio"] is not None for r in rows),
                    sum(bool(j) for j in judged),
                    len(judged),
                ),
                file=sys.stderr,
            )
    return 0 if report["results"] else 1


if __name__ == "__main__":
    sys.exit(main())
