"""Cost of the integrity checks (docs/reliability.md), each against the work it guards, same run.

- sha256 of a clip cache (``verify_checksum``) vs one full read of that cache memory-mapped, the way
  training reads it (batches of random rows, every row once), and vs writing it (``np.save``);
- sha256 of safetensors weights vs ``safetensors.torch.load_file`` of the same file (tensors read);
- the resume state's content CRC32 vs ``torch.save`` of the same state (both on every checkpoint);
- Parquet page checksums: write and verified read vs plain write and read;
- the manifest video fingerprint (one ``stat`` per video) vs reading the manifest alone.

Files are in the page cache (warm) for every timing, as they are right after a job wrote them; on a
cold network file system both sides of each ratio grow by the same read. Best of ``--repeats``.

    python benchmarks/checksum_overhead.py            # 100 MB cache and weights
    python benchmarks/checksum_overhead.py --mb 400
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file, save_file

from devcurriculum.datasets.video_index import video_fingerprint
from devcurriculum.train.checkpoint import content_digest
from devcurriculum.utils.checksums import sha256_file
from devcurriculum.utils.io import read_table


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def full_mmap_read(path: Path, batch: int = 64) -> int:
    cache = np.load(path, mmap_mode="r")
    order = np.random.default_rng(0).permutation(len(cache))
    total = 0
    for lo in range(0, len(order), batch):
        total += int(np.ascontiguousarray(cache[np.sort(order[lo : lo + batch])])[:, 0, 0, 0, 0].sum())
    return total


def line(what: str, check: float, baseline: float, baseline_name: str) -> None:
    print(f"{what:<44} {check * 1e3:9.1f} ms  vs {baseline_name:<28} {baseline * 1e3:9.1f} ms  ratio {check / baseline:5.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=100, help="size of the cache and of the weights, MB")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--videos", type=int, default=2000, help="manifest rows for the fingerprint")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        clip_bytes = 16 * 64 * 64 * 3
        cache = rng.integers(0, 256, (args.mb * 2**20 // clip_bytes, 16, 64, 64, 3), dtype=np.uint8)
        npy = tmp / "g0.npy"
        write_s = best(lambda: np.save(npy, cache), args.repeats)
        hash_s = best(lambda: sha256_file(npy), args.repeats)
        read_s = best(lambda: full_mmap_read(npy), args.repeats)
        print(f"clip cache {npy.stat().st_size / 2**20:.0f} MB, {len(cache)} clips")
        line("sha256 of the cache (verify_checksum)", hash_s, read_s, "one mmap pass (an epoch)")
        line("sha256 of the cache (written by atomic_path)", hash_s, write_s, "np.save of the cache")
        print(f"  sha256 throughput {npy.stat().st_size / hash_s / 2**30:.2f} GB/s")

        n = args.mb * 2**20 // 4 // 2048
        weights = {f"layer{i}.weight": torch.randn(2048, n // 16) for i in range(16)}
        st = tmp / "model.safetensors"
        save_file(weights, str(st))
        line("sha256 of safetensors weights", best(lambda: sha256_file(st), args.repeats),
             best(lambda: [t.clone() for t in load_file(str(st)).values()], args.repeats), "load_file, tensors read")

        state = {"model": weights, "optimizer": {"state": {i: {"exp_avg": w} for i, w in enumerate(weights.values())}},
                 "step": 100, "metrics": {"loss": [0.5] * 1000}}
        pt = tmp / "last.pt"
        line("content CRC32 of a resume state", best(lambda: content_digest(state), args.repeats),
             best(lambda: torch.save(state, pt), args.repeats), "torch.save")

        rows = 500_000
        table = pa.table({"clip_id": [f"v:{i}" for i in range(rows)], "x": rng.normal(size=rows)})
        a, b = tmp / "a.parquet", tmp / "b.parquet"
        plain_w = best(lambda: pq.write_table(table, a, compression="zstd"), args.repeats)
        crc_w = best(lambda: pq.write_table(table, b, compression="zstd", write_page_checksum=True), args.repeats)
        line("parquet write with page checksums", crc_w, plain_w, "plain write")
        line("parquet read verifying page checksums", best(lambda: read_table(b), args.repeats),
             best(lambda: pq.read_table(a), args.repeats), "plain read")

        videos = tmp / "videos"
        videos.mkdir()
        names = [f"v{i}.mp4" for i in range(args.videos)]
        for name in names:
            (videos / name).write_bytes(b"x")
        manifest = videos / "manifest.csv"
        manifest.write_text("path,subject,age_days\n" + "".join(f"{n},s{i % 7},{i % 400}\n" for i, n in enumerate(names)))
        import pandas as pd

        line(f"fingerprint of {args.videos} manifest videos", best(lambda: video_fingerprint(manifest), args.repeats),
             best(lambda: pd.read_csv(manifest), args.repeats), "reading the manifest")


if __name__ == "__main__":
    main()
