"""Parity checks that gate every export: the artefact, run in a fresh process, vs Keras.

Each check writes fixed inputs to an .npz, runs `export/verify_child.py` in a new Python
process that imports only TensorFlow (plus tensorflow_hub for hub, only ai_edge_litert for
.tflite), and compares what the artefact returned with the Keras generator's outputs
computed here, in the exporting process. A check fails when an output is missing, has the
wrong shape, holds NaN / inf, or differs by more than its bound:

  saved_model     1e-5  same kernels, same float32 graph; only op-fusion round-off remains.
  hub             1e-5  for both hub.load(...)(x) and hub.KerasLayer(...)(x) (tf_keras).
  tflite float32  1e-4  other kernels (XNNPack), other summation order.
  tflite float16  2e-2  weights rounded to float16 (relative error 2^-11 each), computed in
                        float32; measured 3e-4 on the tests' two-stream generator, the
                        bound leaves room for deeper nets accumulating more.
  tflite int8     0.1   dynamic-range quantization: weights rounded to 1/255 of their
                        tensor's range, activations float; measured 9e-3 on the tests'
                        two-stream generator. 0.1 is 5% of the [-1, 1] range: visibly the
                        same clip, while a broken conversion (NaN, zeros, a missing
                        variable) lands far outside it.
  video_uint8     1 level (a value at a .5 boundary may round either way).
A failure raises VerificationError with every figure in the message.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from export import preprocess
from export import signatures
from trainers.data import video_io
from zoo import inputs as zoo_inputs

BOUNDS = {
    "saved_model": 1e-5,
    "hub": 1e-5,
    "tflite_float32": 1e-4,
    "tflite_float16": 2e-2,
    "tflite_int8": 0.1,
}
UINT8_BOUND = 1
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_child.py")
TIMEOUT_SECONDS = 900
BATCH = 2


class VerificationError(RuntimeError):
  """An exported artefact does not reproduce the Keras generator (figures in the message)."""


def _rng():
  return np.random.default_rng(20240601)


def _num_classes(generator):
  return int(getattr(generator, "num_classes", 2))


def native_inputs(generator, batch_size=BATCH):
  """Fixed inputs in the generator's own format: {arg name: array} (z, image, mask, frames)."""
  rng = _rng()
  _, h, w, c = generator.video_shape
  result = {}
  if generator.latent_dim:
    result["z"] = rng.standard_normal((batch_size, generator.latent_dim)).astype(np.float32)
  if generator.condition == "image":
    result["image"] = rng.uniform(-1, 1, (batch_size, h, w, c)).astype(np.float32)
  elif generator.condition == "mask":
    result["mask"] = rng.integers(0, _num_classes(generator), (batch_size, h, w), np.int32)
  elif generator.condition == "frames":
    k = getattr(generator, "context_frames", 1)
    result["frames"] = rng.uniform(-1, 1, (batch_size, k, h, w, c)).astype(np.float32)
  return result


def _as_call_inputs(generator, arrays):
  """{name: array} -> what `generator(...)` takes (a tensor, or the dict of both)."""
  tensors = {k: tf.constant(v) for k, v in arrays.items()}
  return tensors if len(tensors) > 1 else next(iter(tensors.values()))


def _reference(generator, inputs, with_uint8=True):
  result = {k: v.numpy() for k, v in signatures.outputs(generator, inputs).items()}
  if with_uint8:
    result["video_uint8"] = video_io.to_uint8(result["video"])
  return result


def _noise(generator, batch_size, seed):
  return zoo_inputs.noise(generator, batch_size, tf.constant([seed, 0], tf.int64))


def saved_model_cases(generator):
  """[(case, {arg: array}, {output: expected array})] for every serving signature."""
  g = generator
  names = signatures.signature_names(g)
  _, h, w, c = g.video_shape
  rng = _rng()
  cases = []
  if g.condition is None:
    z = native_inputs(g)["z"]
    cases.append((names[0], {"z": z}, _reference(g, tf.constant(z))))
    seed, batch = 7, BATCH
    cases.append((names[1], {"seed": np.int64(seed), "batch_size": np.int32(batch)},
                  _reference(g, _noise(g, batch, seed))))
    return cases
  if g.condition == "image":
    # An odd, non-square size: the in-graph resize + centre crop is part of what is checked.
    raw = rng.integers(0, 256, (BATCH, h + 5, w * 2 + 3, c), np.uint8)
    condition = preprocess.resize_and_crop(raw, h, w)
  elif g.condition == "mask":
    raw = rng.integers(0, _num_classes(g), (BATCH, h, w), np.int32)
    condition = tf.constant(raw)
  else:
    raw = rng.integers(0, 256, (BATCH, getattr(g, "context_frames", 1), h, w, c), np.uint8)
    condition = preprocess.uint8_to_unit(raw)

  def inputs(seed):
    if not g.latent_dim:
      return condition
    return {"z": _noise(g, BATCH, seed), g.condition: condition}

  cases.append((names[0], {g.condition: raw}, _reference(g, inputs(0))))
  if len(names) > 1:
    cases.append((names[1], {g.condition: raw, "seed": np.int64(5)}, _reference(g, inputs(5))))
  return cases


def compare(expected, actual, bound, prefix=""):
  """(figures {key: max |diff|}, problems [str]) of actual vs expected outputs."""
  figures, problems = {}, []
  for key, want in expected.items():
    name = prefix + key
    if name not in actual:
      problems.append(f"{name}: missing from the artefact's outputs {sorted(actual)}")
      continue
    got = np.asarray(actual[name])
    if got.shape != want.shape:
      problems.append(f"{name}: expected shape {want.shape}, received {got.shape}")
      continue
    if want.dtype == np.uint8:
      diff = int(np.abs(got.astype(np.int32) - want.astype(np.int32)).max())
      limit = UINT8_BOUND
    else:
      if not np.all(np.isfinite(got)):
        figures[name] = float("nan")
        problems.append(f"{name}: {int(np.sum(~np.isfinite(got)))} non-finite values "
                        "(NaN / inf)")
        continue
      diff = float(np.abs(got.astype(np.float64) - want).max())
      limit = bound
    figures[name] = diff
    if not diff <= limit:
      problems.append(f"{name}: max |diff| {diff:.3g} > bound {limit:g}")
  return figures, problems


def _run_child(fmt, path, cases):
  """Runs verify_child.py on `cases` [(case dict, {arg: array})]; returns (outputs, report)."""
  scratch = tempfile.mkdtemp(prefix="export_verify_")
  try:
    arrays = {f"{case['case']}/{arg}": value for case, args in cases
              for arg, value in args.items()}
    plan = {
        "format": fmt,
        "path": path,
        "inputs": os.path.join(scratch, "inputs.npz"),
        "outputs": os.path.join(scratch, "outputs.npz"),
        "report": os.path.join(scratch, "report.json"),
        "cases": [case for case, _ in cases],
    }
    np.savez(plan["inputs"], **arrays)
    plan_path = os.path.join(scratch, "plan.json")
    with open(plan_path, "w") as f:
      json.dump(plan, f)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # -P: the script's folder (export/) is not put on sys.path, so nothing of ours imports.
    proc = subprocess.run([sys.executable, "-P", CHILD, plan_path], capture_output=True,
                          text=True, env=env, cwd=scratch, timeout=TIMEOUT_SECONDS)
    if proc.returncode != 0:
      tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
      raise VerificationError(
          f"Expected the {fmt} artefact {path} to load and run in a fresh process; it "
          f"failed (exit code {proc.returncode}):\n{tail}")
    with np.load(plan["outputs"]) as data:
      outputs = dict(data)
    with open(plan["report"]) as f:
      report = json.load(f)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  if report["project_modules"]:
    raise VerificationError(
        f"Expected the {fmt} artefact {path} to run without the zoo's code; the fresh "
        f"process imported {report['project_modules']}.")
  return outputs, report


def _finish(fmt, path, figures, problems, report, bounds):
  finite = [v for v in figures.values() if not np.isnan(v)]
  result = {
      "format": fmt,
      "bounds": bounds,
      "uint8_bound_levels": UINT8_BOUND,
      "max_abs_diff": figures,
      "worst": max(finite) if finite else None,
      "passed": not problems,
      "fresh_process": report,
  }
  if problems:
    raise VerificationError(
        f"Verification of the {fmt} artefact {path} failed:\n  " + "\n  ".join(problems) +
        "\nAll figures (max |artefact - Keras|): " + json.dumps(figures))
  return result


def verify_saved_model(path, generator):
  """Checks every serving signature of the SavedModel at `path`; returns the figures."""
  bound = BOUNDS["saved_model"]
  cases = saved_model_cases(generator)
  outputs, report = _run_child(
      "saved_model", path,
      [({"case": name, "signature": name, "args": sorted(args)}, args)
       for name, args, _ in cases])
  figures, problems = {}, []
  for name, _, expected in cases:
    f, p = compare(expected, outputs, bound, prefix=name + "/")
    figures.update(f)
    problems += p
  want = set(signatures.signature_names(generator)) | {"serving_default"}
  got = set(report["signatures"])
  if got != want:
    problems.append(f"signatures: expected {sorted(want)}, received {sorted(got)}")
  return _finish("saved_model", path, figures, problems, report, {"float": bound})


def verify_hub(path, generator):
  """Checks hub.load(path)(x) and hub.KerasLayer(path)(x) against generator(x)."""
  bound = BOUNDS["hub"]
  arrays = native_inputs(generator)
  expected = {"video": _reference(generator, _as_call_inputs(generator, arrays),
                                  with_uint8=False)["video"]}
  cases = [({"case": via, "via": via, "args": sorted(arrays), "dict": len(arrays) > 1},
            arrays) for via in ("hub_load", "keras_layer")]
  outputs, report = _run_child("hub", path, cases)
  figures, problems = {}, []
  for case, _ in cases:
    f, p = compare(expected, outputs, bound, prefix=case["case"] + "/")
    figures.update(f)
    problems += p
  if report["num_variables"] != len(generator.variables):
    problems.append(f"variables: expected {len(generator.variables)}, received "
                    f"{report['num_variables']}")
  return _finish("hub", path, figures, problems, report, {"float": bound})


def verify_tflite(files, generator):
  """Checks each {variant: .tflite path} at batch 1, sample by sample, against Keras."""
  arrays = native_inputs(generator)
  expected = _reference(generator, _as_call_inputs(generator, arrays), with_uint8=False)
  cases = [({"case": variant, "file": path, "args": sorted(arrays)}, arrays)
           for variant, path in files.items()]
  directory = os.path.dirname(next(iter(files.values())))
  outputs, report = _run_child("tflite", directory, cases)
  figures, problems, bounds = {}, [], {}
  for variant in files:
    bounds[variant] = BOUNDS["tflite_" + variant]
    f, p = compare(expected, outputs, bounds[variant], prefix=variant + "/")
    figures.update(f)
    problems += p
  return _finish("tflite", directory, figures, problems, report, bounds)
