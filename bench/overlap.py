"""Benchmark: fixed against adaptive overlap, on raters simulated with a known truth.

Every prompt's responses have a true quality (core.simulation: N(0, 1), honest raters
who perceive it with noise 0.8, about 70-75% pairwise agreement between two of them).
Fixed overlap gives every prompt k annotations. Adaptive overlap gives it the minimum,
then one more at a time until the product's own agreement rule is met
(core.statistics.consensus_settled: on every response pair the majority leads by
`lead`) or the maximum is reached, which is what labelling.overlap does after each
submission. The consensus of a prompt is each pair's majority (a tie counts half); its
accuracy is the share of pairs it orders as the truth does.

    .venv/bin/python bench/overlap.py
    .venv/bin/python bench/overlap.py --prompts 50000 --responses 4

Goal (issue 18, point 8): the accuracy of fixed k = 5 with at least 30% fewer
annotations. Prints both, for two responses a prompt (the usual chosen/rejected pair)
and for four.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import simulation as sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--responses", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--least", type=int, default=2, help="adaptive: k, the minimum")
    parser.add_argument("--most", type=int, default=9, help="adaptive: the maximum")
    parser.add_argument("--lead", type=int, default=2, help="adaptive: the agreement lead")
    args = parser.parse_args()
    for n in args.responses:
        started = time.perf_counter()
        common = {"prompts": args.prompts, "responses": n, "seed": args.seed}
        fixed, fixed_spent, _ = sim.overlap_run(least=5, most=5, lead=None, **common)
        adaptive, spent, unsettled = sim.overlap_run(
            least=args.least, most=args.most, lead=args.lead, **common
        )
        # The standard error of a difference of two accuracies over this many prompts.
        error = np.sqrt(2 * 0.25 / args.prompts)
        saved = 1 - spent / fixed_spent
        print(f"{n} responses a prompt, {args.prompts:,} prompts, honest raters (noise 0.8):")
        print(f"  fixed k = 5:                 accuracy {fixed:.4f}, 5.00 annotations a prompt")
        print(
            f"  adaptive {args.least}..{args.most}, lead {args.lead}:"
            f"     accuracy {adaptive:.4f}, {spent:.2f} annotations a prompt "
            f"({saved:.0%} fewer), {unsettled:.1%} unsettled at {args.most} (to review)"
        )
        met = adaptive >= fixed - 2 * error and saved >= 0.30
        print(
            f"  goal (fixed k = 5's accuracy within 2 standard errors, {2 * error:.4f}, "
            f"with 30% fewer): {'met' if met else 'NOT met'}"
            f"  [{time.perf_counter() - started:.1f} s]"
        )


if __name__ == "__main__":
    main()
