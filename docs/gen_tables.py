"""The documentation's measured tables: JSON under docs/data/ -> Markdown under docs/generated/.

The pages include the generated Markdown (``--8<-- "generated/NAME.md"``), and
tests/test_docs.py checks that the committed Markdown is what this script renders from the JSON,
so a table and its data cannot drift apart. Edit or import the JSON, then render:

    python docs/gen_tables.py                 # render every docs/data/*.json
    python docs/gen_tables.py --check         # exit 1 if a generated file is stale

New measurements come in as the benchmark scripts' own JSON:

    python docs/gen_tables.py import-benchmark runs/benchmark/benchmark.json \\
        --models-to docs/data/benchmark_tiny_cpu.json --date 2026-12-01
    python docs/gen_tables.py import-benchmark runs/benchmark/benchmark.json \\
        --references-to docs/data/benchmark_reference_cpu.json --date 2026-12-01
    python docs/gen_tables.py import-benchmark-data /tmp/tfvideo_bench/benchmark_data.json \\
        --to docs/data/benchmark_data_cpu.json --date "2026-12-01, 10:00 UTC"
    python docs/gen_tables.py measure-zoo     # recount params / MACs of docs/data/zoo.json's rows

`measure-zoo` builds each configuration and counts it (``tfvideo.profile``); it traces the model
but runs no forward pass. Every JSON file has a ``kind`` (the table layout), and ``machine`` /
``date`` fields, printed under its table when set.
"""

import argparse
import json
import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
DATA = DOCS / "data"
GENERATED = DOCS / "generated"


# ---------------------------------------------------------------------------------------------
# JSON


def load(path):
    return json.loads(pathlib.Path(path).read_text())


def dumps(obj):
    """JSON with one table row per line (lists of objects, and objects of objects)."""

    def rows(value):
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return [json.dumps(v, ensure_ascii=False) for v in value], "[]"
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            return [
                f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in value.items()
            ], "{}"
        return None, None

    lines = ["{"]
    for i, (key, value) in enumerate(obj.items()):
        comma = "," if i < len(obj) - 1 else ""
        items, brackets = rows(value)
        if items is None:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
        else:
            lines.append(f" {json.dumps(key)}: {brackets[0]}")
            lines += [
                f"  {item}{',' if j < len(items) - 1 else ''}" for j, item in enumerate(items)
            ]
            lines.append(f" {brackets[1]}{comma}")
    return "\n".join(lines + ["}"]) + "\n"


def save(path, obj):
    pathlib.Path(path).write_text(dumps(obj))


# ---------------------------------------------------------------------------------------------
# Rendering


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render_zoo(data):
    lines = [
        _row(["name", "options", "frames x size", "classes", "params", "GMACs"]),
        "|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        options = ", ".join(f"{k}={v}" for k, v in r.get("options", {}).items())
        lines.append(
            _row(
                [
                    f"`{r['name']}`",
                    options,
                    f"{r['num_frames']} x {r['input_size']}",
                    r["num_classes"],
                    f"{r['params']:,}",
                    f"{r['gmacs']:.2f}",
                ]
            )
        )
    return lines


def render_reference(data):
    lines = [
        _row(["model", "input", "tfvideo (s)", "reference", "reference (s)", "ratio"]),
        "|---|---|---|---|---|---|",
    ]
    for r in data["references"]:
        lines.append(
            _row(
                [
                    r["model"],
                    r["input"],
                    f"{r['tfvideo_s']:.3f} ({r['tfvideo_mode']})",
                    r["reference"],
                    f"{r['reference_s']:.3f}",
                    f"{r['ratio']:.2f}",
                ]
            )
        )
    dates = {}
    for r in data["references"]:
        if r.get("date"):
            dates.setdefault(r["date"], []).append(r["model"])
    if len(dates) > 1:
        lines += [
            "",
            "Rows measured: "
            + "; ".join(f"{', '.join(models)}: {date}" for date, models in dates.items())
            + ".",
        ]
    return lines


def render_runtime(data):
    modes, batches = data["modes"], data["batch_sizes"]
    header = ["model", "input", "params (M)", "GMACs", "peak RSS (MB)"]
    header += [f"{mode} b{b}" for mode in modes for b in batches]
    lines = [_row(header), "|" + "---|" * len(header)]
    for r in data["models"]:
        cells = [
            r["model"],
            r["input"],
            f"{r['params_m']:.2f}",
            f"{r['gmacs']:.2f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        for mode in modes:
            for b in batches:
                if b == 1:
                    value = r["latency_ms"].get(mode, {}).get(str(b))
                    cells.append("n/a" if value is None else f"{value:.0f} ms")
                else:
                    value = r["throughput_clips_s"].get(mode, {}).get(str(b))
                    cells.append("n/a" if value is None else f"{value:.2f} clips/s")
        lines.append(_row(cells))
    return lines


def render_input_pipeline(data):
    lines = [
        _row(
            ["reader", "clips/s (best round)", "relative", "CPU-ms per clip", "CPU-bound clips/s"]
        ),
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in data["results"].items():
        lines.append(
            _row(
                [
                    name,
                    f"{r['clips_per_second']:.1f}",
                    f"{r['relative_to_serial']:.2f}x serial",
                    f"{r['cpu_ms_per_clip']:.0f}",
                    f"{r['cpu_bound_clips_per_second']:.0f}",
                ]
            )
        )
    return lines


RENDERERS = {
    "zoo": render_zoo,
    "reference": render_reference,
    "runtime": render_runtime,
    "input_pipeline": render_input_pipeline,
}


def render(data, source_name):
    """The Markdown of one JSON table: a note naming its source, the table, machine and date."""
    lines = [
        f"<!-- generated by docs/gen_tables.py from docs/data/{source_name}: edit the JSON "
        "and re-run the script, not this file -->",
        "",
    ]
    lines += RENDERERS[data["kind"]](data)
    facts = [
        f"{label}: {data[key]}"
        for key, label in (("machine", "Machine"), ("date", "Date"))
        if data.get(key)
    ]
    if facts:
        lines += ["", "; ".join(facts) + "."]
    lines += ["", f"Data: `docs/data/{source_name}`."]
    return "\n".join(lines) + "\n"


def expected_outputs():
    """{generated path: its Markdown} for every JSON file under docs/data/."""
    return {
        GENERATED / f"{path.stem}.md": render(load(path), path.name)
        for path in sorted(DATA.glob("*.json"))
    }


def stale_outputs():
    """Generated files that differ from a fresh render, are missing, or have no JSON any more."""
    expected = expected_outputs()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    stale += [p for p in sorted(GENERATED.glob("*.md")) if p not in expected]
    return stale


def write_outputs():
    GENERATED.mkdir(exist_ok=True)
    expected = expected_outputs()
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(DOCS.parent)}")
    for path in GENERATED.glob("*.md"):
        if path not in expected:
            path.unlink()
            print(f"removed {path.relative_to(DOCS.parent)}")


# ---------------------------------------------------------------------------------------------
# Importing measurements


def runtime_rows(benchmark_models):
    """`benchmarks/zoo.py` rows (`benchmark.json`'s "models") -> the runtime table's rows."""
    rows = []
    for m in benchmark_models:
        row = {
            "model": m["model"],
            "input": m["input"],
            "params_m": round(m["params"] / 1e6, 2),
            "gmacs": round(m["gmacs"], 2),
            "peak_rss_mb": round(m.get("peak_rss_mb", 0)),
            "latency_ms": {},
            "throughput_clips_s": {},
        }
        for mode, per_batch in m["latency_s"].items():
            for batch, seconds in per_batch.items():
                if int(batch) == 1:
                    row["latency_ms"].setdefault(mode, {})[batch] = round(seconds * 1000, 1)
                else:
                    row["throughput_clips_s"].setdefault(mode, {})[batch] = round(
                        int(batch) / seconds, 2
                    )
        rows.append(row)
    return rows


def import_benchmark(
    report, *, date, models_to=None, references_to=None, machine=None, command=None
):
    """Writes the tables of one `benchmark.json` (its models and/or its references)."""
    machine = machine or report.get("machine")
    if models_to:
        rows = runtime_rows(report["models"])
        modes = [
            m
            for m in _MODE_ORDER
            if any(m in r["latency_ms"] or m in r["throughput_clips_s"] for r in rows)
        ]
        batches = sorted(
            {
                int(b)
                for r in rows
                for per in (*r["latency_ms"].values(), *r["throughput_clips_s"].values())
                for b in per
            }
        )
        old = load(models_to) if pathlib.Path(models_to).exists() else {}
        save(
            models_to,
            {
                "kind": "runtime",
                "title": old.get("title", "benchmarks/zoo.py"),
                "command": command or old.get("command"),
                "machine": machine,
                "date": date,
                "modes": modes,
                "batch_sizes": batches,
                "notes": old.get("notes"),
                "models": rows,
            },
        )
    if references_to:
        old = load(references_to) if pathlib.Path(references_to).exists() else {}
        refs = [
            {
                k: r[k]
                for k in (
                    "model",
                    "input",
                    "tfvideo_s",
                    "tfvideo_mode",
                    "reference",
                    "reference_s",
                    "ratio",
                )
            }
            | {"date": date}
            for r in report["references"]
            if "ratio" in r  # the forward comparison; training-only rows have no forward pair
        ]
        save(
            references_to,
            {
                "kind": "reference",
                "title": old.get("title", "reference comparison"),
                "command": command or old.get("command"),
                "machine": machine,
                "date": date,
                "notes": old.get("notes"),
                "references": refs,
            },
        )


_MODE_ORDER = (
    "keras_predict",
    "tf_function",
    "tf_function_xla",
    "saved_model",
    "litert_float",
    "litert_int8",
    "train_step",
)


def import_benchmark_data(report, *, to, date, machine=None, command=None):
    """Writes the input-pipeline table from one `benchmark_data.json`."""
    results = report["results"]
    serial = results["serial"]["clips_per_second"]
    rows = {
        name: {
            "clips_per_second": r["clips_per_second"],
            "relative_to_serial": round(r["clips_per_second"] / serial, 2),
            "cpu_ms_per_clip": r["cpu_ms_per_clip"],
            "cpu_bound_clips_per_second": r["cpu_bound_clips_per_second"],
        }
        for name, r in results.items()
    }
    if machine is None:
        m = report.get("machine", {})
        machine = (
            f"{m.get('cpus')} CPUs, {m.get('platform')}, TF {m.get('tensorflow')}, "
            f"load average at end {m.get('load_average_at_end')}"
        )
    old = load(to) if pathlib.Path(to).exists() else {}
    save(
        to,
        {
            "kind": "input_pipeline",
            "title": old.get("title", "Input pipeline throughput"),
            "command": command or old.get("command"),
            "machine": machine,
            "date": date,
            "clip": report.get("clip", old.get("clip")),
            "videos": report.get("videos", old.get("videos")),
            "ratios": {
                k: v
                for k, v in report.get("ratios", {}).items()
                if k in ("pyav_parallel_vs_serial", "tfrecord_vs_pyav_parallel")
            },
            "targets": report.get("targets", old.get("targets")),
            "results": rows,
        },
    )


def measure_zoo(path=DATA / "zoo.json", names=None):
    """Recounts params and GMACs of the rows of the zoo JSON (all, or those named)."""
    import keras

    from tfvideo import models, profile

    data = load(path)
    for row in data["rows"]:
        if names and row["name"] not in names:
            continue
        model = models.create(
            row["name"],
            num_classes=row["num_classes"],
            num_frames=row["num_frames"],
            input_size=row["input_size"],
            **row.get("options", {}),
        )
        row["params"] = int(profile.count_params(model))
        row["gmacs"] = round(profile.count_macs(model) / 1e9, 2)
        print(
            f"{row['name']} {row['num_frames']}x{row['input_size']}: {row['params']:,} params, "
            f"{row['gmacs']:.2f} GMACs",
            flush=True,
        )
        del model
        keras.backend.clear_session()
    save(path, data)
    return data


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    commands = parser.add_subparsers(dest="command")
    bench = commands.add_parser("import-benchmark", help="tables from a benchmark.json")
    bench.add_argument("report")
    bench.add_argument("--models-to")
    bench.add_argument("--references-to")
    bench.add_argument("--date", required=True, help="when it was measured (not in the JSON)")
    bench.add_argument("--machine", help="default: the report's machine line")
    bench.add_argument("--command", dest="run_command", help="the command that measured it")
    data = commands.add_parser("import-benchmark-data", help="table from a benchmark_data.json")
    data.add_argument("report")
    data.add_argument("--to", default=str(DATA / "benchmark_data_cpu.json"))
    data.add_argument("--date", required=True)
    data.add_argument("--machine")
    data.add_argument("--command", dest="run_command")
    zoo = commands.add_parser("measure-zoo", help="recount params/MACs of docs/data/zoo.json")
    zoo.add_argument("names", nargs="*", help="only these model names")
    args = parser.parse_args(argv)

    if args.command == "import-benchmark":
        if not (args.models_to or args.references_to):
            parser.error("give --models-to and/or --references-to")
        import_benchmark(
            load(args.report),
            date=args.date,
            models_to=args.models_to,
            references_to=args.references_to,
            machine=args.machine,
            command=args.run_command,
        )
    elif args.command == "import-benchmark-data":
        import_benchmark_data(
            load(args.report),
            to=args.to,
            date=args.date,
            machine=args.machine,
            command=args.run_command,
        )
    elif args.command == "measure-zoo":
        measure_zoo(names=set(args.names) or None)
    if args.check:
        stale = stale_outputs()
        for path in stale:
            print(f"stale: {path.relative_to(DOCS.parent)} (run python docs/gen_tables.py)")
        return 1 if stale else 0
    write_outputs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
