"""Calibrates servesim on each committed result set (LitServe, Triton, MLServer) (validation/results/<server>-<config>.csv and
.toml) and prints the comparison as the Markdown tables of docs/validation.md.

    python3 validation/compare.py [--servesim target/release/servesim] [--tail auto|proxy|...]

`--tail` is passed to `servesim calibrate` (default auto: the mechanism cross-validation chooses).
"""

import argparse
import csv
import glob
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def pct(x):
    return f"{float(x) * 100:+.0f}%"


def describe(tail):
    kind = tail["mechanism"]
    if kind == "none":
        return "none"
    if kind == "slow_path":
        return f"slow path, {tail['share'] * 100:.1f}% of requests +{tail['slow_ms']:.1f} ms"
    if kind == "jitter":
        return f"jitter, {tail['share'] * 100:.1f}% of requests +{tail['slow_ms']:.1f} ms before the server"
    if kind == "stalls":
        return f"stalls, {tail['per_s']:.2f}/s of {tail['pause_ms']:.1f} ms"
    return f"proxy, {tail['pass_ms']:.2f} ms a pass"


def mark(report, structure):
    """The last column of the mechanisms' table: the chosen one, and cross-validation's choice."""
    marks = []
    if structure["chosen"]:
        marks.append("**declared**" if report["structure_chosen_by"] == "declared" else "**chosen**")
    if report["structure_chosen_by"] == "declared" and structure["mechanism"] == report["cross_validation_choice"]:
        marks.append("cross-validation's choice")
    return ", ".join(marks)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--servesim", default=os.path.join(HERE, "..", "target", "release", "servesim"))
    parser.add_argument("--tail", default="auto")
    args = parser.parse_args()
    for scenario in sorted(glob.glob(os.path.join(HERE, "results", "*.toml"))):
        tag = os.path.basename(scenario)[: -len(".toml")]
        if not os.path.exists(scenario[: -len(".toml")] + ".csv"):
            continue  # not a summary load test (the vLLM engine's are per request: its own section)
        out = os.path.join(HERE, ".work", "compare", tag)
        subprocess.run(
            [args.servesim, "calibrate", scenario, scenario[: -len(".toml")] + ".csv", "--out", out, "-q",
             "--tail", args.tail],
            check=True,
        )
        report = json.load(open(os.path.join(out, "calibration.json")))
        f = report["fitted"]
        print(f"### {tag}\n")
        print(
            f"Fitted on points {', '.join(map(str, report['fit_points']))}: overhead {f['overhead_ms']:.2f} ms "
            f"(cv {f['overhead_cv']:.2f}) on {f['cpu_workers'] or 'unlimited'} thread(s)"
            + (f" sharing {f['host_cores']} core(s) with the model" if f["host_cores"] else "")
            + f"; service time ×{f['service_scale']:.3f} (cv {f['service_cv']:.2f}); tail: {describe(f['tail'])}.\n"
        )
        print("| tail mechanism | fit loss | cross-validation loss | hold-out worst p50 / p99 error | |")
        print("|---|---|---|---|---|")
        for st in report["structures"]:
            cv = st["cross_validation_loss"]
            held = (f"{pct(st['holdout_max_abs_error_p50'])[1:]} / {pct(st['holdout_max_abs_error_p99'])[1:]}"
                    if st["holdout_max_abs_error_p50"] is not None else "-")
            print(f"| {st['mechanism']} | {st['fit_loss']:.4f} | {'-' if cv is None else f'{cv:.4f}'} | {held} "
                  f"| {mark(report, st)} |")
        print()
        print("| point | role | req/s | measured p50 / p90 / p99 ms | uncalibrated | calibrated | calibrated error p50 / p90 / p99 | uncalibrated error p50 / p99 |")
        print("|---|---|---|---|---|---|---|---|")
        for r in csv.DictReader(open(os.path.join(out, "calibration.csv"))):
            trio = lambda k: " / ".join(f"{float(r[f'{k}_{q}_ms']):.1f}" for q in ("p50", "p90", "p99"))
            print(
                f"| {r['point']} | {r['role']} | {float(r['offered_rps']):.1f} | {trio('measured')} | {trio('uncalibrated')} "
                f"| {trio('calibrated')} | {pct(r['calibrated_error_p50'])} / {pct(r['calibrated_error_p90'])} / "
                f"{pct(r['calibrated_error_p99'])} | {pct(r['uncalibrated_error_p50'])} / {pct(r['uncalibrated_error_p99'])} |"
            )
        print()


if __name__ == "__main__":
    main()
