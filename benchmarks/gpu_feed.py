"""How many loader workers does my GPU need? The training data path against a stand-in device, no GPU needed.

The loop is the training loop's data path at 224 px x 16 frames: the curriculum sampler draws each
step's indices in the main thread (prototype-weighted, 10-step buckets, a pool of ``--pool`` clips
mapped onto the cached Ego4D clips), ``datasets.loader.BatchLoader`` reads the uint8 clips ahead with
``--workers`` threads or processes (``train.batch.ReadClips``), and the step hands the batch to the
device. The device is a stand-in: it holds the loop for ``batch / rate`` seconds per step with the GIL
released (``time.sleep``), as a GPU that consumes ``rate`` clips/s would, after the host-side work of
the step: the blur σ draw and the dispatch of :func:`train.batch.device_batch` (normalisation and,
with blur, the blur curriculum) on torch's ``meta`` device (shapes only: on a GPU the arithmetic is
the GPU's, and the stand-in's time covers it). The printed number is the fraction of wall time the
loop waits for data, for 30 (V100), 75 (A100-class) and 150 (H100-class) clips/s per GPU.

The baseline, measured in the same run, is the path before the loader: no workers, the float work
(normalisation and blur) on the loop's CPU (``train.batch.make_batch``), then the stand-in device.

A first table measures each worker kind's delivery rate (the stand-in device at an infinite rate):
clips/s per worker count for threads and processes, per cache format.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/gpu_feed.py
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/gpu_feed.py --workers 0,1,2 --rates 150 --seconds 4
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from data_path import STEPS_PER_STAGE, PoolOverCache, build_caches, make_sampler

from devcurriculum.config import BlurConfig
from devcurriculum.curriculum.blur import BlurSchedule
from devcurriculum.datasets.clip_dataset import ClipCache
from devcurriculum.datasets.clip_store import FORMATS
from devcurriculum.datasets.loader import BatchLoader
from devcurriculum.train.batch import ReadClips, StepJob, blur_sigmas, device_batch, make_batch
from devcurriculum.train.loop import step_jobs

#: clips/s per GPU: VideoMAE ViT-B pre-training on a V100 (docs/performance.md), and 2.5x / 5x of it
RATES = {"V100": 30.0, "A100-class": 75.0, "H100-class": 150.0}
META = torch.device("meta")


def machine() -> str:
    """``lscpu`` model name, cores and the load average (the machine is shared)."""
    try:
        model = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load}"


def feed(source: PoolOverCache, args: argparse.Namespace, *, workers: int, kind: str, rate: float,
         blur: BlurSchedule | None, host_float: bool = False) -> tuple[float, float]:
    """Run the loop for ``args.seconds``; returns (fraction of wall time waiting for data, clips/s consumed).

    ``rate`` is the stand-in device's clips/s (inf: it never holds the loop). ``host_float``: the
    baseline, float work on this CPU (make_batch) and no loader.
    """
    sampler = make_sampler(args.pool, args.batch)
    hold = args.batch / rate if math.isfinite(rate) else 0.0
    kernel = blur.kernel_size if blur is not None else None
    if host_float:
        def batches():  # the path before the loader: read, blur and normalise here, one step at a time
            step = 0
            while True:
                yield step, make_batch(source, sampler.batch(step), step, blur=blur, seed=0, rank=0, world_size=1)
                step += 1
        loader = None
        it = batches()
    else:
        states: dict[int, dict] = {}
        loader = BatchLoader(ReadClips(source), step_jobs(sampler, 0, 10**9, states), workers=workers, kind=kind,
                             name="gpu_feed")
        it = enumerate(loader)
    def host_work(step: int, clips: torch.Tensor) -> None:
        """The step's host-side work when the float work runs on the device."""
        if not host_float:
            sigmas = blur_sigmas(blur, step, seed=0, rank=0, world_size=1, per_rank=len(clips))
            device_batch(clips, META, sigmas, kernel)

    try:
        for _ in range(2):  # warm-up: first bucket, page cache, workers started, meta kernels loaded
            host_work(*next(it))
        waited, steps, start = 0.0, 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            t0 = time.perf_counter()
            step, clips = next(it)
            got = time.perf_counter()
            waited += got - t0
            host_work(step, clips)
            remaining = got + hold - time.perf_counter()
            if remaining > 0:
                time.sleep(remaining)  # the device computing: the GIL is released
            steps += 1
        wall = time.perf_counter() - start
    finally:
        if loader is not None:
            loader.close()
    return waited / wall, steps * args.batch / wall


def cpu_ms_per_clip(source: PoolOverCache, args: argparse.Namespace) -> float:
    """CPU milliseconds one read costs per clip (this thread's CPU time, so waiting for a core is not counted)."""
    sampler = make_sampler(args.pool, args.batch)
    read = ReadClips(source)
    read(StepJob(0, tuple(sampler.batch(0))))  # warm up
    cpu, clips, start, step = 0.0, 0, time.perf_counter(), 1
    while time.perf_counter() - start < args.seconds:
        job = StepJob(step, tuple(sampler.batch(step)))
        t0 = time.thread_time()
        read(job)
        cpu += time.thread_time() - t0
        clips += len(job.indices)
        step += 1
    return 1000.0 * cpu / clips


def reuse_caches(work: Path) -> tuple[str, dict[str, ClipCache]] | None:
    """The caches an earlier run built in ``--work`` (None when there are none)."""
    if not all((work / fmt / "all.parquet").is_file() for fmt in FORMATS):
        return None
    return f"the clips cached in {work}", {fmt: ClipCache(work / fmt, ["all"]) for fmt in FORMATS}


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def best_of(repeats: int, measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """The least waiting (and the most clips/s) of ``repeats`` runs: on a shared machine, the least disturbed."""
    runs = [measure() for _ in range(repeats)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16, help="clips per step (one GPU's share)")
    parser.add_argument("--pool", type=int, default=1_000_000, help="curriculum pool size")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell; the least disturbed one is kept")
    parser.add_argument("--workers", type=ints, default=[0, 1, 2, 4], help="worker counts, comma separated")
    parser.add_argument("--rates", type=floats, default=list(RATES.values()), help="device clips/s, comma separated")
    parser.add_argument("--kinds", default="thread,process", help="worker kinds of the delivery table")
    parser.add_argument("--kind", default=None, help="worker kind of the wait table (default: the faster per format)")
    parser.add_argument("--formats", default="raw,jpeg")
    parser.add_argument("--node-cores", type=int, default=16, help="cores of the GPU node of the last table")
    parser.add_argument("--work", type=Path, default=None, help="keep the caches here (built once)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    blur = BlurSchedule.from_config(BlurConfig(variant="fixed", sigma=2.0, until_fraction=1.0), STEPS_PER_STAGE)
    with tempfile.TemporaryDirectory(prefix="gpu-feed-") as tmp:
        work = args.work or Path(tmp)
        label, caches = reuse_caches(work) or build_caches(work)
        print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {machine()}")
        print(f"{label}; 16 frames x 224 px; batch {args.batch}; pool {args.pool:,}; {args.seconds:g} s per cell, "
              f"best of {args.repeats}")
        formats = [f for f in args.formats.split(",") if f]
        kinds = [k for k in args.kinds.split(",") if k]
        best: dict[str, str] = {}
        per_worker: dict[str, float] = {}
        print("\ndelivery: clips/s the loop receives with the device never waiting (no blur)")
        print(f"{'format':>7} {'kind':>8} " + " ".join(f"{f'{w} w.':>8}" for w in args.workers))
        for fmt in formats:
            source = PoolOverCache(caches[fmt], args.pool)
            rows: dict[str, list[float]] = {}
            for kind in kinds:
                rows[kind] = [best_of(args.repeats, lambda w=w, kind=kind, source=source: feed(
                    source, args, workers=w, kind=kind, rate=math.inf, blur=None))[1] for w in args.workers]
                print(f"{fmt:>7} {kind:>8} " + " ".join(f"{v:>8.1f}" for v in rows[kind]), flush=True)
            best[fmt] = args.kind or max(rows, key=lambda k: max(rows[k]))
            one = args.workers.index(1) if 1 in args.workers else None
            per_worker[fmt] = rows[best[fmt]][one] if one is not None else math.nan
        target = max(w for w in args.workers if w <= 2)
        print(f"\nwait: fraction of wall time the loop waits for data; baseline: no loader, float work on this CPU; "
              f"ratio = baseline / {target} workers")
        print(f"{'format':>7} {'blur':>6} {'kind':>8} {'rate':>6} {'baseline':>9} "
              + " ".join(f"{f'{w} w.':>8}" for w in args.workers) + f" {'ratio':>8}")
        for fmt in formats:
            source = PoolOverCache(caches[fmt], args.pool)
            for blur_on in (False, True):
                use = blur if blur_on else None
                for rate in args.rates:
                    base, _ = best_of(args.repeats, lambda rate=rate, use=use, source=source: feed(
                        source, args, workers=0, kind="thread", rate=rate, blur=use, host_float=True))
                    waits = [best_of(args.repeats, lambda w=w, rate=rate, use=use, fmt=fmt, source=source: feed(
                        source, args, workers=w, kind=best[fmt], rate=rate, blur=use))[0] for w in args.workers]
                    at = waits[args.workers.index(target)]
                    ratio = base / at if at > 0 else math.inf
                    print(f"{fmt:>7} {'σ 2' if blur_on else 'none':>6} {best[fmt]:>8} {rate:>6.0f} {base:>9.3f} "
                          + " ".join(f"{w:>8.3f}" for w in waits) + f" {ratio:>8.1f}", flush=True)
        print("\nread cost: CPU ms per clip of one read (thread CPU time: waiting for a core is not counted), "
              "the clips/s one worker core reads at that cost, and the measured delivery of 1 worker above")
        cost = {fmt: best_of(args.repeats, lambda fmt=fmt: (cpu_ms_per_clip(PoolOverCache(caches[fmt], args.pool), args),
                                                             0.0))[0] for fmt in formats}
        for fmt in formats:
            print(f"{fmt:>7} {cost[fmt]:>8.2f} ms/clip {1000 / cost[fmt]:>9.1f} clips/s per core "
                  f"{per_worker[fmt]:>9.1f} clips/s measured", flush=True)
        print(f"\nworkers per GPU = ceil(rate x CPU s per clip); a {args.node_cores}-core node with G GPUs feeds "
              f"them when G x (workers + 1 training process) <= {args.node_cores}: the most GPUs it feeds")
        print(f"{'format':>7} " + " ".join(f"{f'{r:g}/s':>16}" for r in args.rates))
        for fmt in formats:
            cells = []
            for rate in args.rates:
                need = math.ceil(rate * cost[fmt] / 1000)
                cells.append(f"{need} w., {args.node_cores // (need + 1)} GPUs")
            print(f"{fmt:>7} " + " ".join(f"{c:>16}" for c in cells), flush=True)
        print(f"\nload average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
