"""Wall time and peak RSS of the data stages at 1x, 4x and 16x the demo corpus (time linear, memory flat).

The corpus is the demo world of config.yaml (24 videos) with every video listed under 1, 4 or 16
distinct paths (hard links, datasets.synthetic_corpus). Each stage runs as its own process, as a
workflow job does, calling the same library function the rule's script calls: index_videos;
chunk_clips (``--shards`` jobs per age group, run one after the other); gather_clips;
extract_features (vit-random, one job); score_difficulty (sklearn backend). Per stage the table
gives the summed wall time of its jobs and their "work" (the library call alone, without the
interpreter's start-up and imports)
and the largest peak RSS of any of its jobs (``wait4``'s ru_maxrss), split by a sampler thread
(``/proc/self/status`` every 20 ms) into anonymous memory (what the job allocated) and file-backed
pages (mapped libraries and the memory-mapped clip cache).

    python benchmarks/corpus_scaling.py
    python benchmarks/corpus_scaling.py --scales 1,4 --shards 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

STAGES = ("index", "chunk", "gather", "features", "difficulty")


# ---- one stage job (run in a child process) ----------------------------------------------------


def stage_call(job: dict[str, Any]) -> Callable[[], object]:
    """The library call of one stage job, with its imports done (so that timing it excludes them)."""
    from footage import demo_config

    from devcurriculum.config import CacheConfig, ClipConfig, DifficultyConfig, FeaturesConfig, RandomVitConfig
    from devcurriculum.datasets.clips import assign_shards, chunk_shard, gather_clip_index, group_videos
    from devcurriculum.datasets.video_index import index_videos
    from devcurriculum.difficulty.stage import run_score_difficulty
    from devcurriculum.features.extract import extract_shard
    from devcurriculum.features.random_vit import save_random_vit

    cfg = demo_config()
    clip = ClipConfig.from_mapping(cfg["data"]["clip"])
    groups = list(cfg["data"]["age_groups"])
    work = Path(job["work"])
    clips = work / "clips"
    stage = job["stage"]
    if stage == "warmup":
        return lambda: None
    if stage == "index":
        return lambda: index_videos(manifest=job["manifest"], out_path=work / "videos.parquet",
                                    age_groups=cfg["data"]["age_groups"])
    if stage in ("chunk", "gather"):
        stems = [clips / job["group"] / f"shard-{i}" for i in range(job["shards"])]
        if stage == "gather":
            return lambda: gather_clip_index(shard_tables=[f"{s}.parquet" for s in stems],
                                             shard_caches=[f"{s}.npy" for s in stems], group=job["group"],
                                             out_index=clips / f"{job['group']}.parquet")
        plan = assign_shards(group_videos(work / "videos.parquet", job["group"]), job["shards"])[job["shard"]]
        stem = stems[job["shard"]]
        return lambda: chunk_shard(videos=plan, group=job["group"], clip=clip, cache=CacheConfig(),
                                   out_table=f"{stem}.parquet", out_cache=f"{stem}.npy")
    tables = [clips / f"{g}.parquet" for g in groups]
    if stage == "features":
        features = cfg.get("features", {})

        def extract() -> object:
            model = save_random_vit(cfg=RandomVitConfig.from_mapping(features.get("random_vit", {})),
                                    image_size=clip.size, out_dir=work / "vit")
            caches = sorted(str(p) for g in groups for p in (clips / g).glob("*.npy"))
            return extract_shard(clip_tables=tables, clip_caches=caches, model_dir=model,
                                 features=FeaturesConfig.from_mapping(features), shard=0, n_shards=1,
                                 out_path=work / "features.parquet", threads=1)

        return extract
    return lambda: run_score_difficulty(features=work / "features.parquet", clip_tables=tables,
                                        cfg=DifficultyConfig.from_mapping(cfg.get("difficulty", {})),
                                        out_difficulty=work / "difficulty.parquet", out_k_table=work / "k.parquet")


def _rss_parts() -> dict[str, float]:
    """This process's resident memory by kind, MiB: anonymous (heap, arrays) and file-backed (mapped files)."""
    parts = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("RssAnon:", "RssFile:")):
                name, kib, _ = line.split()
                parts[name.rstrip(":")] = int(kib) / 1024
    return parts


def _sample_rss(peaks: dict[str, float], stop: threading.Event) -> None:
    while True:
        for name, mib in _rss_parts().items():
            peaks[name] = max(peaks.get(name, 0.0), mib)
        if stop.wait(0.02):
            return


def run_job(job: dict[str, Any]) -> None:
    """Run one stage job described by ``job``; print the seconds its library call took and the peaks
    of its anonymous and file-backed resident memory (sampled every 20 ms), as JSON."""
    call = stage_call(job)
    peaks: dict[str, float] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(peaks, stop), daemon=True)
    sampler.start()
    start = time.perf_counter()
    call()
    work = time.perf_counter() - start
    stop.set()
    sampler.join()
    print(json.dumps({"work_s": work, "anon_mib": peaks.get("RssAnon", 0.0), "file_mib": peaks.get("RssFile", 0.0)}))


# ---- the driver --------------------------------------------------------------------------------


def spawn(job: dict[str, Any]) -> tuple[float, float, float, float, float]:
    """Run ``job`` in a child process: (wall s, work s, peak RSS MiB, sampled peak anonymous and
    file-backed RSS MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--job", json.dumps(job)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"stage job {job} failed with exit code {proc.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    return time.perf_counter() - start, report["work_s"], usage.ru_maxrss / 1024, report["anon_mib"], report["file_mib"]


def jobs_of(stage: str, work: Path, manifest: Path, groups: list[str], shards: int) -> list[dict[str, Any]]:
    base = {"stage": stage, "work": str(work), "manifest": str(manifest), "shards": shards}
    if stage == "chunk":
        return [{**base, "group": g, "shard": i} for g in groups for i in range(shards)]
    if stage == "gather":
        return [{**base, "group": g} for g in groups]
    return [base]


def run_scale(
    scale: int, demo: Path, root: Path, groups: list[str], shards: int
) -> tuple[dict[str, tuple[float, ...]], int]:
    """Per stage (summed wall s, summed work s, largest peak RSS MiB, largest sampled anonymous and
    file-backed peaks MiB), and the largest shard cache in bytes."""
    from devcurriculum.datasets.synthetic_corpus import replicate_corpus

    work = root / f"x{scale}"
    manifest = replicate_corpus(demo, work / "corpus", scale)
    results = {}
    for stage in STAGES:
        measured = [spawn(job) for job in jobs_of(stage, work, manifest, groups, shards)]
        results[stage] = (sum(m[0] for m in measured), sum(m[1] for m in measured),
                          *(max(m[i] for m in measured) for i in (2, 3, 4)))
    largest_shard = max(p.stat().st_size for p in (work / "clips").glob("*/shard-*.npy"))
    return results, largest_shard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,4,16", help="corpus sizes, in copies of the demo corpus")
    parser.add_argument("--shards", type=int, default=2, help="chunk_clips jobs per age group")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        run_job(json.loads(args.job))
        return
    from footage import demo_config, demo_manifest

    groups = list(demo_config()["data"]["age_groups"])
    scales = [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory(prefix="corpus-scaling-") as tmp:
        root = Path(tmp)
        demo = demo_manifest(root / "demo")
        # Load the libraries from disk once before timing; its RSS is what the imports alone cost a job.
        _, _, baseline_mib, _, _ = spawn({"stage": "warmup", "work": str(root)})
        measured = {scale: run_scale(scale, demo, root, groups, args.shards) for scale in scales}
    table = {scale: m[0] for scale, m in measured.items()}
    print(f"import baseline (a job that only imports the stage libraries): peak RSS {baseline_mib:.0f} MiB")
    print("largest chunk shard cache: " + ", ".join(f"{s}x {measured[s][1] / 2**20:.1f} MiB" for s in scales))
    print(f"{'stage':>10} " + " ".join(f"{f'{s}x wall/work s':>17} {'RSS MiB':>8}" for s in scales))
    for stage in STAGES:
        cells = " ".join(f"{table[s][stage][0]:>8.1f}/{table[s][stage][1]:>8.1f} {table[s][stage][2]:>8.0f}"
                         for s in scales)
        print(f"{stage:>10} {cells}")
    print("\nsampled peaks (every 20 ms) of anonymous / file-backed resident memory, MiB: what the job allocated "
          "vs pages of files it mapped (libraries, the clip cache)")
    for stage in STAGES:
        cells = " ".join(f"{f'{table[s][stage][3]:.0f} / {table[s][stage][4]:.0f}':>26}" for s in scales)
        print(f"{stage:>10} {cells}")
    lo, hi = scales[0], scales[-1]
    print(f"\n{hi}x vs {lo}x ({hi // lo}x the videos): work time ratio per stage, peak RSS ratio per stage")
    for stage in STAGES:
        work_ratio = table[hi][stage][1] / table[lo][stage][1]
        print(f"{stage:>10}: time {work_ratio:6.2f}x   RSS {table[hi][stage][2] / table[lo][stage][2]:5.2f}x")


if __name__ == "__main__":
    main()
