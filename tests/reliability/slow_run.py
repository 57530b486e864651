"""A judgekit CLI run with a slow, logging fake judge, for crash and interrupt tests.

Usage: python slow_run.py LOG DELAY_S -- <judgekit CLI arguments using --judge slowlog/x>

Every request the judge answers is appended (hash per line) to LOG before it returns, so a
test can tell which requests a run actually sent to the judge.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from judgekit.cli import cli
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.fakes import HashJudge
from judgekit.judges.registry import register_provider
from judgekit.protocols.fencing import unseal
from judgekit.types import JudgeRequest, JudgeResponse


class SlowLoggingJudge(HashJudge):
    def __init__(self, log_path: str, delay_s: float) -> None:
        super().__init__()
        self.batch_size = 4
        self.log_path, self.delay_s = log_path, delay_s

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        time.sleep(self.delay_s * len(requests))
        out = super().judge(requests)
        with open(self.log_path, "a", encoding="utf-8") as log:
            # The cache key: the hash taken before the fence tags were drawn.
            log.writelines(unseal(r).hash_for(self.id) + "\n" for r in requests)
        return out


def main() -> None:
    log_path, delay = sys.argv[1], float(sys.argv[2])
    args = sys.argv[sys.argv.index("--") + 1 :]

    def load(model: str, options: JudgeOptions) -> Judge:
        return SlowLoggingJudge(log_path, delay)

    register_provider("slowlog", load)
    cli.main(args=args, prog_name="judgekit")


if __name__ == "__main__":
    main()
