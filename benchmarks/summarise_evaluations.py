"""Summarise ``evaluate-policy --json`` outputs: learned vs bau, oracle capture, DR accuracy.

    for s in 1 2 3; do loan-recovery evaluate-policy --loans 50000 --seed $s \\
        --same-capacity --json > same50k_$s.json; done
    .venv/bin/python benchmarks/summarise_evaluations.py same50k_*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    reports = [json.loads(path.read_text("utf-8")) for path in args.files]
    print(
        "seed | learned vs_bau | capture | P(beats bau) | oracle vs_bau | "
        "worst DR error | DR covers truth"
    )
    covered_all = 0
    for report in sorted(reports, key=lambda r: r["seed"]):
        policies = report["policies"]
        learned, oracle = policies["learned"], policies["oracle"]
        errors = {name: p["dr"] / p["net_recovery"] - 1 for name, p in policies.items()}
        worst = max(errors, key=lambda name: abs(errors[name]))
        covers = sum(
            p["dr_ci95"][0] <= p["net_recovery"] <= p["dr_ci95"][1] for p in policies.values()
        )
        covered_all += covers == len(policies)
        capture = learned["oracle_capture_vs_bau"]
        print(
            f"{report['seed']} | {learned['vs_bau']:+.2%} | "
            f"{capture if capture is None else format(capture, '.1%')} | "
            f"{learned['p_beats_bau']:.2f} | {oracle['vs_bau']:+.2%} | "
            f"{worst} {errors[worst]:+.1%} | {covers}/{len(policies)}"
        )
    mean = sum(r["policies"]["learned"]["vs_bau"] for r in reports) / len(reports)
    below = sum(r["policies"]["learned"]["vs_bau"] < 0 for r in reports)
    print(
        f"mean learned vs_bau {mean:+.2%}; seeds below bau: {below} of {len(reports)}; "
        f"seeds where every policy's DR interval covers its truth: {covered_all}"
    )


if __name__ == "__main__":
    main()
