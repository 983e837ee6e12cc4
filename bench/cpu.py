#!/usr/bin/env python3
"""Run a command as a child and measure its wall time, CPU time and peak memory.

`run(cmd)` returns wall seconds (time.perf_counter around start..exit), the child's user and
system CPU seconds and its peak RSS (ru_maxrss, KiB on Linux), all from os.wait4 on that one
child: the figures cover the child and any descendants it waited for, and nothing else the
caller ran. The child's stdout is captured (the peers print one JSON line there); stderr is
passed through unless the caller redirects it.

As a command line, prints the figures and the child's stdout as one JSON line:
  python3 bench/cpu.py -- python3 bench/peers/worker.py --queue-url URL --jobs 1000
"""
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Optional, Sequence


@dataclasses.dataclass
class Usage:
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int
    returncode: int
    stdout: str

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def run(cmd: Sequence[str], env: Optional[dict] = None, cwd: Optional[str] = None, stderr=None) -> Usage:
    """Run cmd to its end; stderr as for subprocess (None: inherited)."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd)
    stdout = proc.stdout.read()  # to EOF, so the child never blocks on a full pipe
    proc.stdout.close()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return Usage(
        wall_s=wall,
        user_s=ru.ru_utime,
        sys_s=ru.ru_stime,
        maxrss_kib=ru.ru_maxrss,
        returncode=proc.returncode,
        stdout=stdout.decode("utf-8", errors="replace"),
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    u = run(argv)
    out = {k: v for k, v in dataclasses.asdict(u).items() if k != "stdout"}
    out["cpu_s"] = u.cpu_s
    lines = u.stdout.strip().splitlines()
    if lines:
        try:
            out["child"] = json.loads(lines[-1])
        except json.JSONDecodeError:
            out["child_stdout"] = u.stdout
    print(json.dumps(out))
    return u.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
