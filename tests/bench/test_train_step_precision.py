"""bench/train_step.py does not time a precision that runs slower than float32 here.

On a CPU without bf16 arithmetic TensorFlow's fallback kernels made the VGAN two-stream step
12.4x slower than float32 (AMD EPYC Zen 3, docs/benchmarks.md): the bf16 rows of a full
`bench.run_all` would have spent most of an hour timing them. The probe's verdict
(`trainers.precision`) is written into a fresh forms cache, so the test runs no row.
"""

import json
import os
import subprocess
import sys

from trainers import precision
from zoo.layers import form_choice

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_rows_of_a_slower_precision_are_skipped_saying_why(tmp_path):
  env = dict(os.environ, **{form_choice.CACHE_ENV: str(tmp_path / "cache")})
  env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
  probe = [
    sys.executable,
    "-c",
    "from zoo.layers import form_choice; print(form_choice.cache_path())",
  ]
  path = subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout.strip()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  n = precision.PROBE_REPEATS
  with open(path, "w") as f:  # bfloat16 took 96.8 ms per convolution against 3.5 in float32
    entry = {"form": "float32", "ms": {"bfloat16": 96.8 * n, "float32": 3.5 * n}}
    json.dump({precision.probe_key("bfloat16"): entry}, f)
  out = tmp_path / "rows.json"
  args = ["--models=vgan_two_stream:smoke", "--batch=2,4", "--jit=off", "--matmul_size=64"]
  args += ["--precision=mixed_bfloat16", f"--out={out}"]
  done = subprocess.run(
    [sys.executable, "-m", "bench.train_step", *args],
    env=env,
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  with open(out) as f:
    rows = json.load(f)["runs"]
  assert [r["batch_size"] for r in rows] == [2, 4]
  for r in rows:
    assert r["skipped"] and r["slower_precision"], r
    assert r["error"].startswith(
      "not run: bfloat16 runs slower than float32 on this machine (a 3D convolution took "
      "96.8 ms against 3.5 ms), which has no bfloat16 arithmetic"
    )
  assert "mixed_bfloat16: not run: bfloat16 runs slower" in done.stdout
