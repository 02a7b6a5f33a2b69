"""Parity checks that gate every export: the artefact, run in a fresh process, vs Keras.

Each check writes fixed inputs to an .npz, runs `export/verify_child.py` in a new Python
process that imports only TensorFlow (plus tensorflow_hub for hub, ai_edge_litert for
.tflite; one process checks all the artefacts of an export, one TensorFlow import), and
compares what the artefact returned with the Keras generator's outputs
computed here, in the exporting process. A check fails when an output is missing, has the
wrong shape, holds NaN / inf, or differs by more than its bound. A generator that takes
`num_frames` is asked for EXTRA_FRAMES more than its training length T through the serving
signatures, and for T and T + EXTRA_FRAMES through each .tflite's `num_frames` input.
The bounds:

  saved_model     1e-5  same kernels, same float32 graph; only op-fusion round-off remains.
                        Checked through tf.saved_model.load and through a TF1 Session
                        loader ("[session]"), which restores variables the way TF Serving
                        does: a SavedModel that only TF2's loader can restore fails here.
  hub             1e-5  for both hub.load(...)(x) and hub.KerasLayer(...)(x) (tf_keras).
  keras           1e-5  keras.saving.load_model(path)(x): the same layers and weights. This
                        child imports `zoo` (a .keras file holds the config and weights, the
                        classes are the zoo's), so it runs in a process of its own and may
                        import the zoo's models, nothing of trainers, export or configs.
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

A segment_and_animate .tflite (the segmenter embedded, `export.tflite`) takes the image
alone and also returns the `segmentation` its segmenter chose. That output is compared
pixel by pixel with the float segmenter's (the SavedModel, run here) on the same images and
the number of pixels of another class is recorded ("segment_and_animate" in the result);
ids outside the generator's classes fail every variant. The rule per variant:

  float32         no pixel may differ, and the outputs are held to 1e-4 against
                  generator(image, segmenter(image)): the whole chain.
  float16 / int8  quantizing the segmenter can flip the argmax where two classes score
                  alike, and one flipped pixel moves the clip by more than any weight
                  rounding, so no bound on the clip against the float chain would hold.
                  The outputs are held to the variant's bound against generator(image, the
                  model's own segmentation): the generator's part is verified, the
                  segmenter's is measured (flipped pixels recorded, not bounded: the check
                  images are noise, on which a segmenter's margins say nothing of photos;
                  also recorded, the clip's max |diff| against the float chain).
A failure raises VerificationError with every figure in the message.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from export import preprocess
from export import signatures
from export import tflite as tflite_lib
from trainers import errors
from trainers.data import video_io
from zoo import base
from zoo import inputs as zoo_inputs

BOUNDS = {
  "saved_model": 1e-5,
  "hub": 1e-5,
  "keras": 1e-5,
  "tflite_float32": 1e-4,
  "tflite_float16": 2e-2,
  "tflite_int8": 0.1,
}
UINT8_BOUND = 1
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_child.py")
TIMEOUT_SECONDS = 900
BATCH = 2
EXTRA_FRAMES = 2  # a num_frames generator is also checked this far past its training length


class VerificationError(RuntimeError):
  """An exported artefact does not reproduce the Keras generator (figures in the message).

  `results`: {format: result} of every artefact checked with it, passing ones included.
  """

  def __init__(self, message, results=None):
    super().__init__(message)
    self.results = results or {}


def _rng():
  return np.random.default_rng(20240601)


def _classes(generator):
  """How many class ids the generator's mask or segmentation takes (`zoo.base`)."""
  return int(base.contract(generator).classes or 2)


def native_inputs(generator, batch_size=BATCH):
  """Fixed inputs in the generator's own format (`zoo.base`): {arg name: array} (z, the
  condition: class ids when integer, else floats in [-1, 1], and a segmentation for a
  generator that reads one beside the image)."""
  rng = _rng()
  spec = base.contract(generator)
  _, h, w, _ = spec.video_shape
  result = {}
  if signatures.SEGMENTATION in spec.extra_conditions:
    result[signatures.SEGMENTATION] = rng.integers(
      0, _classes(generator), (batch_size, h, w), np.int32
    )
  if spec.takes_noise:
    result["z"] = rng.standard_normal((batch_size, spec.latent_dim)).astype(np.float32)
  condition = spec.condition_spec(batch_size)
  if condition is not None:
    shape = condition.shape.as_list()
    result[spec.key] = (
      rng.integers(0, _classes(generator), shape, np.int32)
      if condition.dtype.is_integer
      else rng.uniform(-1, 1, shape).astype(np.float32)
    )
  return result


def _as_call_inputs(generator, arrays):
  """{name: array} -> what `generator(...)` takes (`zoo.base.GeneratorSpec.inputs`)."""
  tensors = {k: tf.constant(v) for k, v in arrays.items()}
  z = tensors.pop("z", None)
  return base.contract(generator).inputs(z, tensors)


def _reference(generator, inputs, with_uint8=True, num_frames=None):
  result = {k: v.numpy() for k, v in signatures.outputs(generator, inputs, num_frames).items()}
  if with_uint8:
    result["video_uint8"] = video_io.to_uint8(result["video"])
  return result


def _noise(generator, batch_size, seed):
  return zoo_inputs.noise(generator, batch_size, tf.constant([seed, 0], tf.int64))


def _segmentation_cases(generator, segmenter=None):
  """animate(image, segmentation) of an odd, non-square size (the in-graph resize, crop and
  one-hot are part of what is checked) and, with a segmenter, segment_and_animate(image)."""
  g = generator
  _, h, w, c = g.video_shape
  rng = _rng()
  raw = rng.integers(0, 256, (BATCH, h + 5, w * 2 + 3, c), np.uint8)
  ids = rng.integers(0, _classes(g), (BATCH, h + 5, w * 2 + 3), np.int32)
  photo = preprocess.resize_and_crop(raw, h, w)
  key = signatures.SEGMENTATION
  cases = [
    (
      signatures.SIGNATURE_BY_CONDITION[base.Condition.IMAGE],
      {"image": raw, key: ids},
      _reference(g, {"image": photo, key: preprocess.resize_and_crop_mask(ids, h, w)}),
    )
  ]
  if segmenter is not None:
    cases.append(
      (
        signatures.SEGMENTING_SIGNATURE,
        {"image": raw},
        _reference(g, {"image": photo, key: segmenter(photo)}),
      )
    )
  return cases


def frame_counts(generator):
  """The lengths an artefact is checked at: (None,) (the generator's own) for a generator
  without `num_frames`, else its training length and EXTRA_FRAMES more."""
  if not base.contract(generator).takes_num_frames:
    return (None,)
  return (generator.video_shape[0], generator.video_shape[0] + EXTRA_FRAMES)


def saved_model_cases(generator, segmenter=None):
  """[(case, {arg: array}, {output: expected array})] for every serving signature.

  A generator that takes `num_frames` is asked for EXTRA_FRAMES more than it was trained on;
  one that reads a segmentation is checked with the `segmenter` embedded in the export.
  """
  g = generator
  spec = base.contract(g)
  frames = {}
  if spec.takes_num_frames:
    frames = {"num_frames": np.int32(frame_counts(g)[-1])}

  def reference(inputs):
    return _reference(g, inputs, num_frames=frames.get("num_frames"))

  if spec.extra_conditions:
    return _segmentation_cases(g, segmenter)
  names = signatures.signature_names(g)
  _, h, w, c = spec.video_shape
  rng = _rng()
  cases = []
  if spec.condition is base.Condition.NONE:
    z = native_inputs(g)["z"]
    cases.append((names[0], {"z": z, **frames}, reference(tf.constant(z))))
    seed, batch = 7, BATCH
    cases.append(
      (
        names[1],
        {"seed": np.int64(seed), "batch_size": np.int32(batch), **frames},
        reference(_noise(g, batch, seed)),
      )
    )
    return cases
  # What the serving signature takes; an image of an odd, non-square size: the in-graph
  # resize + centre crop is part of what is checked.
  raw = {
    base.Condition.IMAGE: lambda: rng.integers(0, 256, (BATCH, h + 5, w * 2 + 3, c), np.uint8),
    base.Condition.MASK: lambda: rng.integers(0, _classes(g), (BATCH, h, w), np.int32),
    base.Condition.FRAMES: lambda: rng.integers(
      0, 256, (BATCH, spec.context_frames or 1, h, w, c), np.uint8
    ),
  }[spec.condition]()
  condition = tf.convert_to_tensor(signatures.SERVING_PREPROCESS[spec.condition](raw, h, w))
  if spec.condition is base.Condition.FRAMES:
    # predict(frames, horizon): the rollout to the clip's length, through the signature's
    # dynamic-horizon loop, against the Keras predictor's own (unrolled) rollout.
    horizon = spec.video_shape[0] - raw.shape[1]
    video = g.rollout(condition, horizon, training=False).numpy()
    return [
      (
        names[0],
        {"frames": raw, "horizon": np.int32(horizon)},
        {"video": video, "video_uint8": video_io.to_uint8(video)},
      )
    ]

  def inputs(seed):
    return spec.inputs(_noise(g, BATCH, seed) if spec.takes_noise else None, condition)

  cases.append((names[0], {spec.key: raw, **frames}, reference(inputs(0))))
  if len(names) > 1:
    cases.append((names[1], {spec.key: raw, "seed": np.int64(5), **frames}, reference(inputs(5))))
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
        problems.append(f"{name}: {int(np.sum(~np.isfinite(got)))} non-finite values (NaN / inf)")
        continue
      diff = float(np.abs(got.astype(np.float64) - want).max())
      limit = bound
    figures[name] = diff
    if not diff <= limit:
      problems.append(f"{name}: max |diff| {diff:.3g} > bound {limit:g}")
  return figures, problems


class Job:
  """One artefact to check: the child's cases and how to judge what comes back."""

  def __init__(
    self, fmt, path, cases, expectations, bounds, extra_checks=None, derived=None, needs_zoo=None
  ):
    self.fmt = fmt  # also the job's id: one artefact per format per check
    # The top-level packages an artefact needs for its classes (a .keras file: "zoo", and a
    # user model's own module); such a job is checked in a fresh process of its own that may
    # import them, so that the others still prove they stand alone.
    self.needs_zoo = list(needs_zoo or ())
    self.path = path
    self.cases = cases  # [(case dict for the child, {arg: array})]
    self.expectations = expectations  # [(output prefix, {output: expected array}, bound)]
    self.bounds = bounds
    self.extra_checks = extra_checks  # function(child report) -> [problem]
    # function({output: array} the artefact returned) -> (more expectations, {result key:
    # value}, [problem]): for references that depend on the artefact's own outputs.
    self.derived = derived


def saved_model_job(path, generator, segmenter=None):
  """Every serving signature, via tf.saved_model.load and via a TF1 Session."""
  bound = BOUNDS["saved_model"]
  cases = saved_model_cases(generator, segmenter)
  want = set(signatures.signature_names(generator, segmenter is not None)) | {"serving_default"}

  def extra_checks(report):
    got = set(report["signatures"])
    return [] if got == want else [f"signatures: expected {sorted(want)}, received {sorted(got)}"]

  return Job(
    "saved_model",
    path,
    [({"case": name, "signature": name, "args": sorted(args)}, args) for name, args, _ in cases],
    [
      (name + via + "/", expected, bound)
      for name, _, expected in cases
      for via in ("", "[session]")
    ],
    {"float": bound},
    extra_checks,
  )


def _native_video(generator):
  """Fixed native inputs and the Keras generator's video on them (hub and keras checks)."""
  arrays = native_inputs(generator)
  video = _reference(generator, _as_call_inputs(generator, arrays), with_uint8=False)["video"]
  return arrays, {"video": video}


def hub_job(path, generator):
  """hub.load(path)(x) and hub.KerasLayer(path)(x) against generator(x)."""
  bound = BOUNDS["hub"]
  arrays, expected = _native_video(generator)
  num_variables = len(generator.variables)

  def extra_checks(report):
    if report["num_variables"] != num_variables:
      return [f"variables: expected {num_variables}, received {report['num_variables']}"]
    return []

  return Job(
    "hub",
    path,
    [
      ({"case": via, "via": via, "args": sorted(arrays), "dict": len(arrays) > 1}, arrays)
      for via in ("hub_load", "keras_layer")
    ],
    [(via + "/", expected, bound) for via in ("hub_load", "keras_layer")],
    {"float": bound},
    extra_checks,
  )


def keras_job(path, generator):
  """keras.saving.load_model(path)(x) against generator(x), in a process that imports zoo."""
  bound = BOUNDS["keras"]
  arrays, expected = _native_video(generator)
  # A generator class from outside the zoo (a user's own, registered with zoo.registry) is
  # imported by the child from where this process found it.
  # It may import anything of its own, so the child gets this process's import path too.
  module = type(generator).__module__
  imports = (
    []
    if module.split(".")[0] == "zoo"
    else [
      {
        "module": module,
        "path": [_import_root(sys.modules[module].__file__, module)]
        + [os.path.abspath(p) for p in sys.path if p],
      }
    ]
  )
  return Job(
    "keras",
    path,
    [
      (
        {"case": "load_model", "args": sorted(arrays), "dict": len(arrays) > 1, "imports": imports},
        arrays,
      )
    ],
    [("load_model/", expected, bound)],
    {"float": bound},
    needs_zoo=[m["module"].split(".")[0] for m in imports] + ["zoo"],
  )


def _import_root(file, module):
  """The sys.path entry from which `module` (defined in `file`) is imported."""
  root = os.path.dirname(os.path.abspath(file))
  for _ in range(module.count(".")):
    root = os.path.dirname(root)
  return root


def tflite_job(files, generator, segmenting_files=None, segmenter=None):
  """Each {variant: .tflite path}, at batch 1, sample by sample, against Keras.

  A generator that takes `num_frames` is checked at each of `frame_counts` through the
  .tflite's `num_frames` input; case "<variant>[num_frames=T]". `segmenting_files`
  ({variant: path} of the segment_and_animate models, `segmenter` embedded in them) are
  checked by the rule of the module docstring; case "segment_and_animate_<variant>".
  """
  arrays = native_inputs(generator)
  call_inputs = _as_call_inputs(generator, arrays)
  segmenting_files = segmenting_files or {}
  bounds = {variant: BOUNDS["tflite_" + variant] for variant in {**files, **segmenting_files}}
  cases, expectations = [], []
  for frames in frame_counts(generator):
    args = dict(arrays) if frames is None else {**arrays, "num_frames": np.int32(frames)}
    expected = _reference(generator, call_inputs, with_uint8=False, num_frames=frames)
    for variant, path in files.items():
      case = variant if frames is None else f"{variant}[num_frames={frames}]"
      cases.append(({"case": case, "file": path, "args": sorted(args)}, args))
      expectations.append((case + "/", expected, bounds[variant]))
  derived = None
  if segmenting_files:
    more_cases, more_expectations, derived = _segmenting_checks(
      segmenting_files, generator, segmenter, arrays["image"]
    )
    cases += more_cases
    expectations += more_expectations
  any_file = next(iter({**files, **segmenting_files}.values()))
  return Job("tflite", os.path.dirname(any_file), cases, expectations, bounds, derived=derived)


def _segmenting_checks(files, generator, segmenter, image):
  """(cases, expectations, derived) of the segment_and_animate .tflite files on `image`."""
  key = signatures.SEGMENTATION
  ids = segmenter(image).numpy()
  chain = _reference(
    generator, {"image": tf.constant(image), key: tf.constant(ids)}, with_uint8=False
  )
  cases, expectations = [], []
  for variant, path in files.items():
    case = tflite_lib.artefact_key(variant, segmenting=True)
    cases.append(({"case": case, "file": path, "args": ["image"]}, {"image": image}))
    if variant == "float32":
      expectations.append((case + "/", chain, BOUNDS["tflite_float32"]))

  def derived(outputs):
    more, summary, problems = [], {}, []
    for variant in files:
      case = tflite_lib.artefact_key(variant, segmenting=True)
      name = f"{case}/{key}"
      got = outputs.get(name)
      if got is None or got.shape != ids.shape:
        problems.append(
          f"{name}: expected shape {ids.shape}, received {'nothing' if got is None else got.shape}"
        )
        continue
      exact = variant == "float32"
      flipped = int(np.sum(got != ids))
      video = outputs.get(f"{case}/video")
      summary[variant] = {
        "flipped_pixels": flipped,
        "pixels": int(ids.size),
        "flipped_pixels_allowed": 0 if exact else "any (recorded)",
        "outputs_against": (
          "generator(image, segmenter(image))"
          if exact
          else "generator(image, the model's own segmentation)"
        ),
        # What the flips cost, for information: the clip against the whole float chain.
        "video_vs_float_chain": (
          None
          if video is None or video.shape != chain["video"].shape
          else float(np.abs(video - chain["video"]).max())
        ),
      }
      classes = _classes(generator)
      if got.min() < 0 or got.max() >= classes:
        problems.append(
          f"{name}: expected class ids in [0, {classes}), received [{got.min()}, {got.max()}]"
        )
      elif exact and flipped:
        problems.append(
          f"{name}: expected the segmenter's classes, received another class "
          f"at {flipped} of {ids.size} pixels"
        )
      elif not exact:
        own = _reference(
          generator, {"image": tf.constant(image), key: tf.constant(got)}, with_uint8=False
        )
        more.append((case + "/", own, BOUNDS["tflite_" + variant]))
    return more, {tflite_lib.SEGMENTING: summary}, problems

  return cases, expectations, derived


SCRATCH_PREFIX = ".export_verify_"
_PR_SET_PDEATHSIG = 1
try:
  _prctl = ctypes.CDLL(None, use_errno=True).prctl  # Linux; looked up before any fork
except (OSError, AttributeError):
  _prctl = None


def child_process_options():
  """Popen keyword arguments that make the child die with this process (Linux: the kernel
  sends it SIGKILL when the parent dies, even by SIGKILL), instead of running on orphaned."""
  if _prctl is None:
    return {}
  parent = os.getpid()

  def die_with_parent():  # runs in the child between fork and exec: a system call only
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call
      os._exit(1)  # pylint: disable=protected-access

  return {"preexec_fn": die_with_parent}


def _run_child(jobs):
  """Runs verify_child.py once for all jobs; returns (outputs, report). Its scratch folder
  lives beside the first artefact (the output's folder, not the system's temp directory),
  named with this pid so that an export killed here is swept by the next one."""
  scratch = tempfile.mkdtemp(
    prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=os.path.dirname(os.path.abspath(jobs[0].path))
  )
  try:
    arrays = {
      f"{job.fmt}:{case['case']}/{arg}": value
      for job in jobs
      for case, args in job.cases
      for arg, value in args.items()
    }
    plan = {
      "inputs": os.path.join(scratch, "inputs.npz"),
      "outputs": os.path.join(scratch, "outputs.npz"),
      "report": os.path.join(scratch, "report.json"),
      "jobs": [
        {
          "id": job.fmt,
          "format": job.fmt,
          "path": job.path,
          "cases": [case for case, _ in job.cases],
        }
        for job in jobs
      ],
    }
    np.savez(plan["inputs"], **arrays)
    plan_path = os.path.join(scratch, "plan.json")
    with open(plan_path, "w") as f:
      json.dump(plan, f)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The child takes its own folder (export/) off sys.path, so nothing of ours imports.
    try:
      proc = subprocess.run(
        [sys.executable, CHILD, plan_path],
        capture_output=True,
        text=True,
        env=env,
        cwd=scratch,
        timeout=TIMEOUT_SECONDS,
        **child_process_options(),
      )
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
      raise errors.RunError(
        f"Expected the fresh verification process for {[job.path for job in jobs]} to "
        f"finish within {TIMEOUT_SECONDS} s, received one still running (ended): nothing was "
        "exported, and what was at the output is as it was."
      ) from None
    if proc.returncode < 0:  # a signal: not a check that failed, nor a bug of the export
      raise errors.RunError(
        f"Expected the fresh verification process for {[job.path for job in jobs]} to "
        f"finish, received its end by {signal.Signals(-proc.returncode).name} (the kernel's "
        "out-of-memory killer sends SIGKILL): nothing was exported, and what was at the "
        "output is as it was."
      )
    if proc.returncode != 0:
      tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
      raise VerificationError(
        f"Expected the fresh verification process for {[job.path for job in jobs]} to "
        f"finish; it failed (exit code {proc.returncode}):\n{tail}"
      )
    with np.load(plan["outputs"]) as data:
      outputs = dict(data)
    with open(plan["report"]) as f:
      report = json.load(f)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return outputs, report


def _judge(job, outputs, report, project_modules):
  """(result dict, problems) of one job; `project_modules`: what its child imported of ours."""
  prefix = job.fmt + ":"
  mine = {k[len(prefix) :]: v for k, v in outputs.items() if k.startswith(prefix)}
  figures, problems, summary = {}, [], {}
  if "error" in report:
    problems.append(f"failed to load or run in a fresh process:\n{report['error']}")
  else:
    expectations = list(job.expectations)
    if job.derived:
      more, summary, p = job.derived(mine)
      expectations += more
      problems += p
    for output_prefix, expected, bound in expectations:
      f, p = compare(expected, mine, bound, prefix=output_prefix)
      figures.update(f)
      problems += p
    if job.extra_checks:
      problems += job.extra_checks(report)
  # A user's own generator module may import anything of ours; the zoo's models need zoo.
  foreign = (
    []
    if len(job.needs_zoo) > 1
    else [m for m in project_modules if m.split(".")[0] not in job.needs_zoo]
  )
  if foreign:
    problems.append(f"the fresh process imported the project's own modules {foreign}")
  # The float outputs' worst difference: video_uint8 is held to its own bound, in levels.
  finite = [v for k, v in figures.items() if not k.endswith("video_uint8") and not np.isnan(v)]
  result = {
    "format": job.fmt,
    "bounds": job.bounds,
    "uint8_bound_levels": UINT8_BOUND,
    "max_abs_diff": figures,
    "worst": max(finite) if finite else None,
    "passed": not problems,
    "fresh_process": {**report, "project_modules": project_modules},
    **summary,
  }
  return result, problems


def verify_jobs(jobs):
  """Checks all jobs in one fresh process; {format: result}, or VerificationError.

  The error lists every failing artefact's problems and figures; its `results` attribute
  holds every job's result, the passing ones too.
  """
  outputs, reports = {}, {}
  for group in ([j for j in jobs if not j.needs_zoo], [j for j in jobs if j.needs_zoo]):
    if group:
      out, report = _run_child(group)
      outputs.update(out)
      reports.update(
        {job.fmt: (report["jobs"][job.fmt], report["project_modules"]) for job in group}
      )
  results, failures = {}, []
  for job in jobs:
    result, problems = _judge(job, outputs, *reports[job.fmt])
    results[job.fmt] = result
    if problems:
      failures.append(
        f"Verification of the {job.fmt} artefact {job.path} failed:\n  "
        + "\n  ".join(problems)
        + "\nAll figures (max |artefact - Keras|): "
        + json.dumps(result["max_abs_diff"])
      )
  if failures:
    raise VerificationError("\n".join(failures), results)
  return results


def verify_saved_model(path, generator, segmenter=None):
  return verify_jobs([saved_model_job(path, generator, segmenter)])["saved_model"]


def verify_hub(path, generator):
  return verify_jobs([hub_job(path, generator)])["hub"]


def verify_keras(path, generator):
  return verify_jobs([keras_job(path, generator)])["keras"]


def verify_tflite(files, generator, segmenting_files=None, segmenter=None):
  return verify_jobs([tflite_job(files, generator, segmenting_files, segmenter)])["tflite"]
