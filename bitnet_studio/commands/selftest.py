"""``bitnet-studio selftest``: kernel info, then every available path against the references."""

from __future__ import annotations

import argparse
import json

from bitnet_studio.kernel_check import check_all_paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed for the test data")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from bitnet_studio import kernels

    report = check_all_paths(seed=args.seed)
    if args.json:
        print(json.dumps({"info": kernels.info(), "checks": report}, indent=2))
    else:
        inf = kernels.info()
        print(
            f"kernels: compiled {', '.join(inf['compiled_paths'])}; "
            f"this CPU runs {', '.join(inf['available_paths'])}; "
            f"chosen {inf['path']}; threads {inf['threads']}"
        )
        for r in report:
            status = "ok  " if r["ok"] else "FAIL"
            print(f"  {status} {r['path']:<7} {r['check']:<28} {r['detail']}")
    ok = all(r["ok"] for r in report)
    print("selftest: all paths agree with the reference" if ok else "selftest: MISMATCH")
    return 0 if ok else 1
