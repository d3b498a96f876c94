#!/usr/bin/env python3
"""A/B of two orc binaries in one run, interleaved in random order on the same
board, so a noisy shared machine affects both alike. Prints a Markdown table:
median and p99 wall time, the new/old ratio, mean user CPU.

    cargo bench --bench core -- __seed /tmp/ab-board 10000     # a 10k-task board
    python3 scripts/bench_ab.py OLD_ORC NEW_ORC /tmp/ab-board [RUNS]

Build the old binary from another worktree, e.g.
    git worktree add /tmp/old <rev> && CARGO_TARGET_DIR=/tmp/old-target cargo build --release --bin orc
"""
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time


def run(binary, args, cwd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run([binary] + args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{binary} {' '.join(args)} failed: {done.stderr.decode()}")
    return elapsed, (after.ru_utime - before.ru_utime) * 1000


def nearest_rank(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def ab(old, new, name, args, cwd, runs):
    times = {"old": [], "new": []}
    cpu = {"old": [], "new": []}
    for i in range(runs):
        order = [("old", old), ("new", new)]
        random.shuffle(order)
        for label, binary in order:
            elapsed, user = run(binary, args(i, label), cwd)
            times[label].append(elapsed)
            cpu[label].append(user)
    o, n = statistics.median(times["old"]), statistics.median(times["new"])
    print(
        f"| {name} | {runs} | {o:.1f} | {nearest_rank(times['old'], 0.99):.1f} | {n:.1f} | "
        f"{nearest_rank(times['new'], 0.99):.1f} | {n / o:.2f} | {statistics.mean(cpu['old']):.1f} | "
        f"{statistics.mean(cpu['new']):.1f} |"
    )


def main():
    old, new, board = (os.path.abspath(p) for p in sys.argv[1:4])
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    print("| command | runs | old median ms | old p99 | new median ms | new p99 | new/old | old CPU user ms | new CPU user ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ab(old, new, "`orc --version` (process start)", lambda i, k: ["--version"], board, runs)
    listed = subprocess.run([new, "--json", "t", "list", "bench", "--status", "open"], cwd=board, capture_output=True, text=True)
    ids = iter(t["id"] for t in json.loads(listed.stdout))
    ab(old, new, "`orc t claim <id> --agent ab-N`", lambda i, k: ["t", "claim", next(ids), f"ab-{k}-{i}"], board, runs)
    ab(old, new, "`orc ready bench`", lambda i, k: ["ready", "bench"], board, runs)
    ab(old, new, "`orc status`", lambda i, k: ["status"], board, runs)


if __name__ == "__main__":
    main()
