"""Cost of the full-run pipeline: the CLI end to end, extraction throughput, training at real sizes.

    python benchmarks/benchmark_pipeline.py --out results/benchmark_pipeline.json   # on a GPU
    python benchmarks/benchmark_pipeline.py --quick                                 # CPU smoke run

1. ``pcmci-edu prepare | extract | train | evaluate`` on a Breakfast miniature (real MP4 clips) with
   the real extraction settings (ViT-B-16 at 224 px, 64 frames, mixed precision on CUDA) but random
   weights, so that it runs without network; the training uses ``configs/breakfast.toml`` as is.
2. The image tower's throughput (ViT-B-16, frames per second) and the decoding time of 64 frames
   per clip.
3. Training and evaluation time per epoch, and peak GPU memory, at each dataset's real size
   (videos, actions, activities) on random features, with each config's model and batch size.

The README's "Full runs" table quotes its output (``results/benchmark_pipeline_h200.json``).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="tiny sizes and a small model (a CPU smoke run)")
parser.add_argument("--out", type=Path, default=Path("results/benchmark_pipeline.json"))
parser.add_argument("--budget", type=float, default=None,
                    help="seconds after which no further dataset of part 3 is started")
ARGS = parser.parse_args()
QUICK = ARGS.quick
ARGS.out.parent.mkdir(parents=True, exist_ok=True)
WORK = Path(tempfile.mkdtemp(prefix="benchmark_pipeline_"))
START = time.time()
REPORT = {}


def log(*args):
    print(f"[{time.time() - START:6.1f}s]", *args, flush=True)


def save():
    partial = ARGS.out.with_name(ARGS.out.name + ".part")
    partial.write_text(json.dumps(REPORT, indent=2, default=str) + "\n")
    os.replace(partial, ARGS.out)


device = "cuda" if torch.cuda.is_available() else "cpu"
REPORT["device"] = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
REPORT["date"] = time.strftime("%Y-%m-%d")
REPORT["torch"] = torch.__version__
log("device", REPORT["device"], torch.__version__)

# ---- 1. the CLI pipeline on a miniature ---------------------------------------------
from pcmci_edu.data.download import make_miniature  # noqa: E402

mini = make_miniature(WORK / "mini", "breakfast", num_train=4 if QUICK else 16, num_test=2 if QUICK else 8)
root, run = WORK / "data", WORK / "run"
cli = [sys.executable, "-m", "pcmci_edu.cli"]
REPO = Path(__file__).resolve().parents[1]


def sh(args, name):
    started = time.time()
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    seconds = time.time() - started
    tail = done.stdout[-1500:].strip() if done.returncode == 0 else done.stderr[-3000:]
    log(name, f"rc={done.returncode}", f"{seconds:.1f}s")
    print(tail, flush=True)
    REPORT[name] = {"rc": done.returncode, "seconds": round(seconds, 2)}
    save()
    return done


sh([*cli, "prepare", "breakfast", "--root", str(root), "--include", "annotations", "videos",
    "--from-dir", str(mini.mirror), "--no-verify", "--accept-licence"], "prepare")
# the model is named with --set on every command: the feature store's folder follows it
model_options = ["--set", "extract.pretrained=none"] + (["--set", "extract.model_name=ViT-S-32-alt"] if QUICK else [])
extract_options = [*model_options]
if QUICK:
    extract_options += ["--image-size", "64", "--num-frames", "4"]
sh([*cli, "extract", "breakfast", "--root", str(root), "--videos", str(mini.videos), *extract_options], "extract")
run_options = [*model_options, "--set", "train.batch_size=8"]
epoch_options = ["--epochs", "1"] if QUICK else []
if QUICK:
    run_options += ["--set", "dataset.num_frames=4", "--set", "model.width=32", "--set", "model.heads=2"]
sh([*cli, "train", "--config", "configs/breakfast.toml", "--root", str(root), "--out", str(run), *run_options,
    *epoch_options], "train")
sh([*cli, "evaluate", "--config", "configs/breakfast.toml", "--root", str(root), "--out", str(run),
    "--label", "pipeline check on a miniature (random weights): not a result", *run_options], "evaluate")
if (run / "results.json").exists():
    REPORT["miniature_results"] = json.loads((run / "results.json").read_text())["metrics"]

# ---- 2. image-tower throughput ------------------------------------------------------
from pcmci_edu import extract  # noqa: E402

name, size = ("ViT-S-32-alt", 64) if QUICK else ("ViT-B-16", None)
model, preprocess, tokenizer = extract.load_clip(name, None, device, size)
side = 64 if QUICK else 224
images = torch.randn(256 if not QUICK else 16, 3, side, side)
extract.encode_images(model, images, 256)  # warm-up
if device == "cuda":
    torch.cuda.synchronize()
started = time.time()
repeats = 1 if QUICK else 10
for _ in range(repeats):
    extract.encode_images(model, images, 256)
if device == "cuda":
    torch.cuda.synchronize()
REPORT["image_tower_frames_per_s"] = round(repeats * len(images) / (time.time() - started), 1)
log("image tower", name, REPORT["image_tower_frames_per_s"], "frames/s")
started = time.time()
for clip in sorted(mini.videos.rglob("*.mp4"))[:8]:
    extract.decode_frames(clip, 64)
REPORT["decode_64_frames_s_per_clip"] = round((time.time() - started) / min(8, len(list(mini.videos.rglob("*.mp4")))), 3)
save()
del model
torch.cuda.empty_cache() if device == "cuda" else None

# ---- 3. training time at the real sizes, on random features -------------------------
from pcmci_edu.cli import load_run_config  # noqa: E402
from pcmci_edu.data.dataset import VideoDataset  # noqa: E402
from pcmci_edu.model import PCMCi  # noqa: E402
from pcmci_edu.train import TrainConfig, evaluate, fit  # noqa: E402

SIZES = {  # train videos, test videos, actions K, activities A (COIN's split sizes: our estimate)
    "breakfast": (1357, 355, 48, 10),
    "charades": (7985, 1863, 157, 0),
    "coin": (9000, 2800, 778, 180),
}


def synthetic(split, videos, actions, activities, frames, dim, rng):
    multi_hot = (rng.random((videos, actions)) < 4.0 / actions).astype(np.float32)
    multi_hot[np.arange(videos), rng.integers(actions, size=videos)] = 1.0
    features = rng.normal(size=(videos, frames, dim)).astype(np.float32)
    features /= np.linalg.norm(features, axis=-1, keepdims=True)
    text_a = rng.normal(size=(actions, dim)).astype(np.float32)
    text_c = rng.normal(size=(activities, dim)).astype(np.float32)
    return VideoDataset(
        name="synthetic", split=split, video_ids=[f"v{i}" for i in range(videos)],
        activities=rng.integers(activities, size=videos) if activities else -np.ones(videos, dtype=np.int64),
        actions=multi_hot, activity_names=[f"a{i}" for i in range(activities)],
        action_names=[f"k{i}" for i in range(actions)], activity_texts=[f"a{i}" for i in range(activities)],
        action_texts=[f"k{i}" for i in range(actions)], frames=features,
        action_text_features=text_a, activity_text_features=text_c if activities else None)


budget = ARGS.budget if ARGS.budget is not None else (60 if QUICK else 600)
for dataset, (n_train, n_test, k, a) in SIZES.items():
    if time.time() - START > budget:
        log("time budget spent: skipping", dataset)
        continue
    config = load_run_config(REPO / "configs" / f"{dataset}.toml")
    frames = config["dataset"]["num_frames"]
    if QUICK:
        n_train, n_test, frames = n_train // 50, n_test // 50, 4
    rng = np.random.default_rng(0)
    train_set = synthetic("train", n_train, k, a, frames, 512, rng)
    test_set = synthetic("test", n_test, k, a, frames, 512, rng)
    model_values = dict(config["model"])
    if QUICK:
        model_values.update(width=32, heads=2)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    model = PCMCi.from_dataset(train_set, **model_values)
    built = time.time() - started
    values = dict(config["train"], epochs=2 if dataset == "breakfast" else 1, device=device, progress=False)
    started = time.time()
    history = fit(model, train_set, {}, TrainConfig(**values))
    trained = time.time() - started
    started = time.time()
    metrics = evaluate(model, test_set)
    evaluated = time.time() - started
    REPORT[f"train_{dataset}"] = {
        "train_videos": n_train, "test_videos": n_test, "actions": k, "activities": a, "frames": frames,
        "batch_size": values["batch_size"], "build_s": round(built, 2),
        "epoch_s": [round(row["seconds"], 2) for row in history.rows], "fit_s": round(trained, 2), "epochs": values["epochs"],
        "evaluate_s": round(evaluated, 2),
        "peak_gpu_memory_GiB": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "parameters_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "random_feature_mAP": round(metrics["mAP_all_classes"], 4),
    }
    log(dataset, REPORT[f"train_{dataset}"])
    save()
    del model, train_set, test_set
    if device == "cuda":
        torch.cuda.empty_cache()
log("done")
save()
shutil.rmtree(WORK, ignore_errors=True)
