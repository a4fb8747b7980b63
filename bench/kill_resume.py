"""Kill training again and again with SIGKILL, resume each time, and check nothing is lost.

    python bench/kill_resume.py --data-dir ../shared/data/mnist [--kills 5] [--epochs 10]

One run of the fast preset on 8,000 training images is started and SIGKILLed at a random moment
after an epoch has finished (so there is something to lose), resumed with `digits train --resume`,
and killed again once the resumed run has finished another epoch, and so on until it finishes.
All the while `model.keras` is checked every 50 ms: it must always be a whole, loadable model.
Prints the kills survived, the file checks made, and the final test accuracy next to an
uninterrupted run of the same recipe.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    args = parser.parse_args()

    from test_resume import epochs_done, model_file_is_whole

    rng = random.Random(args.seed)
    recipe = ["--preset", "fast", "--epochs", str(args.epochs), "--limit", "8000", "--seed", "1"]
    base = [sys.executable, "-m", "digits", "train", *recipe, "--data-dir", args.data_dir]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "killed"
        checks = bad = kills = 0

        def watch(proc: subprocess.Popen, until: float) -> None:
            nonlocal checks, bad
            while proc.poll() is None and time.time() < until:
                checks += 1
                bad += not model_file_is_whole(out / "model.keras")
                time.sleep(0.05)

        proc = subprocess.Popen([*base, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            target = epochs_done(out) + 1
            while epochs_done(out) < target and proc.poll() is None:  # let one more epoch finish
                watch(proc, time.time() + 0.5)
            if kills < args.kills:
                watch(proc, time.time() + rng.uniform(0.1, 1.5))  # inside the next epoch
            else:
                watch(proc, float("inf"))
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            bad += not model_file_is_whole(out / "model.keras")
            if (out / "metrics.json").exists():
                # Killed while exiting, after writing its report: the run had finished.
                print(f"kill {kills}: after the run finished; model.keras whole: "
                      f"{model_file_is_whole(out / 'model.keras')}", flush=True)  # fmt: skip
                break
            print(f"kill {kills}: after {epochs_done(out)} finished epochs; model.keras whole: "
                  f"{model_file_is_whole(out / 'model.keras')}", flush=True)  # fmt: skip
            resume = [sys.executable, "-m", "digits", "train", "--resume", str(out)]
            proc = subprocess.Popen(resume, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 and not (out / "metrics.json").exists():
            why = proc.stderr.read().strip().splitlines()[-1:] if proc.stderr else []
            print(f"the last resume failed with status {proc.returncode}: {' '.join(why)}")
            return 1
        killed = json.loads((out / "metrics.json").read_text())

        clean_out = Path(tmp) / "clean"
        subprocess.run([*base, "--out", str(clean_out)], check=True, capture_output=True)
        clean = json.loads((clean_out / "metrics.json").read_text())

    print(f"kills survived: {kills}; model.keras checked {checks} times, unloadable {bad} times")
    print(f"test accuracy: killed and resumed {killed['test_accuracy'] * 100:.2f}% "
          f"(resumed: {killed['resumed']}, {killed['resumes']} resumes), "
          f"uninterrupted {clean['test_accuracy'] * 100:.2f}%")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
