"""`python -m bench.drain` (`make bench-drain`): the worker draining a queue of
reservations, against a plain aiokafka loop doing the same work, on the same broker in
the same run.

Per processor, on topics of its own (a prefix per processor and run):

1. start it, create one product (stock: ten times the reservations, so every one
   succeeds), wait for the reply, stop it;
2. count the records on its output topics (the baseline);
3. queue N `stock.reserve` of one unit on the product's partition, each answering to
   the pipeline's reply topic;
4. start it again: it drains the queue. The bench reads the replies and samples the
   process's CPU (/proc/<pid>/stat) meanwhile;
5. stop it and count its output records again: records per reservation.

Throughput is (N - 1) / (record timestamp of the last reply - of the first): the
replies are stamped as the processor sends them, so the window starts after its
start-up (imports, group join, table recovery) and the first reservation. CPU per
reservation is the process's CPU from the first reply's timestamp to the moment the
bench read the last reply (the last commit included), over N - 1.

Processors (`--variants`): `worker` is `inventory worker` (faust); `plain` is
bench/plain_loop.py, a plain aiokafka loop with the project's rules and one Kafka
transaction per batch; `plain-notxn` is that loop without transactions. A
processor that fails is reported as such and the others still run; the exit status is 1
and the logs are kept. A table goes to
stdout, a JSON result to .local/bench/drain-<timestamp>.json; `--profile` records the
worker's drain with py-spy and summarizes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from bench import drain_report
from bench.cpu_sampler import CpuSampler
from bench.drain_io import ReplyWatch, TopicCount, count_records, queue_reserves
from bench.drain_report import DrainResult
from bench.kafka_direct import KafkaDirect
from bench.plain_loop import MAX_BATCH
from bench.profile_summary import render, summarize
from bench.stack import ROOT, STOP_GRACE_SECONDS, settings_env
from inventory.kafka_admin import create_topics, wait_for_topics
from inventory.settings import Settings
from topics.partitioning import partition_for

VARIANTS: dict[str, tuple[str, list[str]]] = {
    "worker": ("worker (faust)", ["-m", "inventory.cli", "worker"]),
    "plain": ("plain aiokafka loop", ["-m", "bench.plain_loop"]),
    "plain-notxn": (
        "plain loop, no transactions",
        ["-m", "bench.plain_loop", "--no-transactions"],
    ),
}
REPLY_PARTITION = 0
STOCK_PER_RESERVATION = 10
STARTUP_SECONDS = 120.0
PY_SPY_RATE = 100  # samples per second


def progress(message: str) -> None:
    print(f"[drain] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


class ProcessorExited(RuntimeError):
    """The processor under test stopped by itself."""


class Processor:
    """One processor's child process, started and stopped around the queue."""

    def __init__(
        self,
        variant: str,
        name: str,
        settings: Settings,
        partition: int,
        workdir: Path,
        max_batch: int,
    ) -> None:
        self.variant = variant
        self.max_batch = max_batch
        self.name = name
        self.settings = settings
        self.partition = partition
        self.workdir = workdir
        self.popen: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}.log"

    def start(self, phase: str) -> int:
        argv = [sys.executable, *VARIANTS[self.variant][1]]
        if self.variant.startswith("plain"):
            argv += ["--partition", str(self.partition), "--max-batch", str(self.max_batch)]
        env = {
            **os.environ,
            **settings_env(self.settings),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = self.workdir / f"{self.name}-{phase}.log"
        with self.log_path.open("wb") as log_file:
            self.popen = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self.popen.pid

    def check_alive(self) -> None:
        """ProcessorExited naming the exit code and the last CRITICAL or ERROR line."""
        if self.popen is not None and self.popen.poll() is not None:
            lines = self.log_path.read_text(errors="replace").splitlines()
            last = next((ln for ln in reversed(lines) if "CRITICAL" in ln or "ERROR" in ln), "")
            raise ProcessorExited(
                f"{self.name} exited with {self.popen.returncode}: {last.strip()} "
                f"(log: {self.log_path})"
            )

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class PySpy:
    """`py-spy record` of one process, until stopped (SIGINT makes it write its file)."""

    def __init__(self, binary: str, pid: int, output: Path) -> None:
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        self._popen = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--format",
                "speedscope",
                "--rate",
                str(PY_SPY_RATE),
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> str | None:
        """The file written, or None with the reason on stderr."""
        self._popen.send_signal(signal.SIGINT)
        try:
            _, err = self._popen.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            _, err = self._popen.communicate()
        if self.output.exists():
            return str(self.output)
        progress(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
        return None


async def drain(
    args: argparse.Namespace, variant: str, round_: int, run_id: str, workdir: Path, stamp: str
) -> DrainResult:
    label = VARIANTS[variant][0]
    name = f"{variant}-r{round_}"
    settings = Settings().model_copy(update={"topic_prefix": f"drain{run_id}-{name}."})
    product_id = f"drain-{run_id}"
    partition = partition_for(product_id, settings.partitions)
    key = json.dumps(product_id).encode()  # the product row's key in the stock changelog
    await create_topics(settings)
    # Until every new topic has a leader, the bench's own clients log errors (noise).
    await wait_for_topics(settings)
    processor = Processor(variant, name, settings, partition, workdir, args.plain_max_batch)
    try:
        progress(f"{name}: creating the product, then stopping")
        processor.start("setup")
        target = KafkaDirect(settings, [product_id])
        await target.start()
        try:
            await target.create_product(
                product_id,
                STOCK_PER_RESERVATION * args.reservations,
                time.monotonic() + STARTUP_SECONDS,
            )
        finally:
            await target.stop()
        processor.stop()

        before = await count_records(settings, key)
        progress(f"{name}: queueing {args.reservations} reservations on partition {partition}")
        expected = await queue_reserves(
            settings, product_id, partition, args.reservations, REPLY_PARTITION
        )
        watch = ReplyWatch(settings, REPLY_PARTITION)
        await watch.start()
        profiler: PySpy | None = None
        load_before = load_average()
        try:
            progress(f"{name}: draining")
            started = time.time()
            pid = processor.start("drain")
            sampler = CpuSampler(pid)
            sampler.start()

            def on_first_reply() -> None:
                # From the first reply on: the profile leaves the start-up out too.
                nonlocal profiler
                if args.profile:
                    output = ROOT / ".local" / "bench" / f"drain-{stamp}-{name}.speedscope.json"
                    profiler = PySpy(args.py_spy, pid, output)

            try:
                replies = await watch.collect(
                    args.reservations,
                    time.monotonic() + STARTUP_SECONDS + args.reservations / args.min_rate,
                    processor.check_alive,
                    on_first_reply,
                )
            except (ProcessorExited, TimeoutError) as err:
                # A processor that cannot drain is a result too: the run goes on.
                progress(f"{name}: FAILED: {err}")
                return DrainResult.failed(variant, label, round_, args.reservations, str(err))
            sampler.stop()
        finally:
            profile = profiler.stop() if profiler is not None else None
            await watch.stop()
        load_after = load_average()
        processor.stop()
    finally:
        processor.stop()
    after = await count_records(settings, key)
    counts = _difference(after, before)
    at_first = sampler.at(replies.first_timestamp)
    result = DrainResult(
        variant=variant,
        label=label,
        round=round_,
        reservations=args.reservations,
        seconds=replies.last_timestamp - replies.first_timestamp,
        cpu_seconds=sampler.at(replies.last_seen) - at_first,
        startup_seconds=replies.first_timestamp - started,
        startup_cpu_seconds=at_first - sampler.first()[1],
        batches=after["stock changelog"].keyed - before["stock changelog"].keyed,
        load_before=load_before,
        load_after=load_after,
        records={topic: c.records for topic, c in counts.items() if c.records},
        record_bytes={topic: c.bytes for topic, c in counts.items() if c.records},
        problems=replies.problems(expected),
        profile=profile,
    )
    progress(
        f"{name}: {result.per_second:.0f} reservations/s, {result.cpu_ms:.3f} CPU ms each, "
        f"{result.records_per_reservation:.3f} records each"
    )
    return result


def _difference(
    after: dict[str, TopicCount], before: dict[str, TopicCount]
) -> dict[str, TopicCount]:
    return {
        topic: TopicCount(
            c.records - before[topic].records,
            c.bytes - before[topic].bytes,
            c.keyed - before[topic].keyed,
        )
        for topic, c in after.items()
    }


async def cleanup(settings: Settings, prefix: str) -> None:
    """Delete the run's topics (every processor's: they share the run's prefix)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_list)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


async def run(
    args: argparse.Namespace, run_id: str, workdir: Path, stamp: str
) -> list[DrainResult]:
    results = []
    try:
        # Rounds alternate the processors, so a change in the machine's other load
        # falls on both rather than on one.
        for round_ in range(1, args.rounds + 1):
            for variant in args.variants:
                results.append(await drain(args, variant, round_, run_id, workdir, stamp))
    finally:
        if not args.keep:
            try:
                await cleanup(Settings(), f"drain{run_id}-")
            except Exception as exc:  # noqa: BLE001 - never hide the run's own error
                progress(f"could not remove the run's topics: {exc!r}")
    return results


def _find_py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drain",
        description="The worker draining N queued reservations against a plain aiokafka "
        "loop doing the same work: reservations/s, CPU ms per reservation, the ratios.",
    )
    parser.add_argument("--reservations", type=int, default=20_000, help="queued per processor")
    parser.add_argument(
        "--variants",
        default="worker,plain",
        help=f"comma separated processors, in the order run: {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every processor this many times, alternating"
    )
    parser.add_argument(
        "--plain-max-batch",
        type=int,
        default=MAX_BATCH,
        help="commands per transaction of the plain loop (the worker's MAX_BATCH)",
    )
    parser.add_argument(
        "--min-rate",
        type=float,
        default=50.0,
        help="give up when a drain is slower than this many reservations/s",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record of every drain, and a summary"
    )
    parser.add_argument("--py-spy", default=_find_py_spy(), help="the py-spy binary")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and logs")
    args = parser.parse_args(argv)
    args.variants = list(dict.fromkeys(v.strip() for v in args.variants.split(",") if v.strip()))
    unknown = set(args.variants) - set(VARIANTS)
    if unknown or not args.variants:
        parser.error(f"--variants takes a comma separated subset of {','.join(VARIANTS)}")
    if args.reservations < 2 or args.rounds < 1:
        parser.error("--reservations must be >= 2, --rounds >= 1")
    if args.profile and not args.py_spy:
        parser.error("--profile needs py-spy (on PATH, beside python, or --py-spy)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every processor answered every reservation once, ok; 1 otherwise."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[drain] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # metadata retries of new topics
    run_id = secrets.token_hex(3)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix=f"inventory-drain-{run_id}-"))
    failed = True
    try:
        try:
            results = asyncio.run(run(args, run_id, workdir, stamp))
        except KeyboardInterrupt:
            progress("interrupted")
            return 130
        partitions = Settings().partitions
        out = ROOT / ".local" / "bench" / f"drain-{stamp}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "bench": "drain",
                    "at": stamp,
                    "reservations": args.reservations,
                    "rounds": args.rounds,
                    "variants": args.variants,
                    "partitions": partitions,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "results": [r.as_json() for r in results],
                    "ratios": {
                        worker: asdict(found)
                        for worker in drain_report.WORKERS
                        if (found := drain_report.ratios(results, worker)) is not None
                    },
                },
                indent=2,
            )
        )
        # Written first: the numbers survive a mistake in the printing.
        print(drain_report.render(results, partitions, args.rounds))
        print(f"\nresult: {out}")
        for r in results:
            if r.profile:
                print(f"\nprofile of {r.label}, round {r.round} ({r.profile}):")
                print(render(summarize(Path(r.profile)), r.cpu_ms))
        failed = any(r.problems or r.failure for r in results)
    finally:
        if failed or args.keep:
            progress(f"process logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
