r"""Distribution metrics of generated clips against real ones: FVD, KVD, FID, IS and FD-R3D.

    python -m trainers.evaluate --real=/data/ucf101_test --fake=/tmp/workdir \
        --metrics=fvd,kvd --num_videos=2048 --i3d=/models/i3d-kinetics-400 --out=results.json

`--real` / `--fake` are sources of `trainers.eval.sources` ("synthetic[:SEED]", a TFRecord
pattern, a folder of video files, a training workdir). Results go to stdout as JSON, to
`--out` with the clip manifests beside it (`<out stem>_manifest.json`: which files, records
and seeds were used), and to TensorBoard as `eval/<metric>` scalars (`--tb_dir`, or
WORKDIR/eval for a workdir fake source).

Metrics and networks:
- fvd, kvd: the I3D (`--i3d_embedder=hub`: the TF-Hub module, `--i3d` a handle or the local
  SavedModel directory; `keras`: `zoo.i3d` with a kinetics-i3d checkpoint, `--i3d_checkpoint`).
  FVD is never computed with another network: without the I3D the CLI exits with status 2
  and `fvd.I3DUnavailableError`'s message (where it looked, how to give a local copy), before
  reading any clip.
- fid, is: TF-GAN's InceptionV3 (`--inception`: handle, SavedModel directory or Keras
  weights); same rule with `InceptionUnavailableError`. IS is of the fake frames only.
- fd_r3d: the Frechet distance of the fixed random 3D-conv network (`features.R3DEmbedder`),
  always named "FD-R3D", never FVD; it needs no download.
Every network is loaded before any clip is read. Each source is read once; every network
sees every batch. Frechet distances are biased by the number of clips: a source yielding
fewer than `--num_videos` clips is an error unless `--allow_fewer_videos`.

`periodic_eval` is the trainer's hook (every `eval.every` steps); it caches the real-data
statistics under WORKDIR/eval/real_stats_<network>_<hash>.npz.
"""

from collections.abc import Sequence
import functools
import io
import json
import math
import os
import platform
import sys
import time
from typing import Any
import zipfile

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from trainers import cli
from trainers import errors
from trainers import workdir as workdir_lib
from trainers.eval import features
from trainers.eval import frechet
from trainers.eval import fvd
from trainers.eval import inception as inception_lib
from trainers.eval import kernel
from trainers.eval import sources as sources_lib

METRICS = ("fvd", "kvd", "fid", "is", "fd_r3d")
NAMES = {"fvd": "FVD", "kvd": "KVD", "fid": "FID", "is": "IS", "fd_r3d": fvd.metric_name("r3d")}
I3D_METRICS = ("fvd", "kvd")
INCEPTION_METRICS = ("fid", "is")
REAL_METRICS = ("fvd", "kvd", "fid", "fd_r3d")  # those that need real clips
IS_SPLITS = 10
EVAL_DIR = "eval"
# An evaluation's progress is written at most this often (`ResumeFile`): a stop loses at
# most this long of embedding, and the writes (up to about 35 MB with FID's statistics) cost
# nothing next to it.
RESUME_SAVE_SECONDS = 30.0


def parse_metrics(metrics: str | Sequence[str], flag: str = "metrics") -> tuple[str, ...]:
  """Metric names ("fvd,kvd" or a sequence) -> a tuple in METRICS order; unknown ones raise."""
  if isinstance(metrics, str):
    metrics = [m for m in metrics.split(",")]
  names = [str(m).strip().lower().replace("-", "_") for m in metrics if str(m).strip()]
  unknown = [m for m in names if m not in METRICS]
  if unknown:
    raise ValueError(f"Expected --{flag} among {', '.join(METRICS)}, received {unknown}.")
  return tuple(m for m in METRICS if m in names)


# ----------------------------------------------------------------------------- networks


def load_i3d_embedder(i3d=None, i3d_embedder="hub", i3d_checkpoint=None, allow_download=True):
  """FVD's embedder: "hub" (TF-Hub module at `i3d`) or "keras" (kinetics-i3d checkpoint).

  Raises `fvd.I3DUnavailableError` when the weights are not there.
  """
  if i3d_embedder == "hub":
    embedder = fvd.make_embedder("i3d", i3d or None, allow_download=allow_download)
  elif i3d_embedder == "keras":
    from trainers.eval import i3d_keras  # noqa: F401  (registers the "i3d_keras" embedder)

    embedder = fvd.make_embedder("i3d_keras", i3d_checkpoint or i3d or None)
  else:
    raise ValueError(f"Expected --i3d_embedder 'hub' or 'keras', received {i3d_embedder!r}.")
  if embedder.name not in fvd.I3D_EMBEDDERS:  # never FVD from another network
    raise fvd.I3DUnavailableError(f"Expected an I3D embedder, received {embedder.name!r}.")
  return embedder


class Networks:
  """The networks the asked metrics need, loaded at once so a missing one fails first."""

  def __init__(
    self,
    metrics,
    i3d=None,
    i3d_embedder="hub",
    i3d_checkpoint=None,
    inception=None,
    allow_download=True,
  ):
    self.metrics = parse_metrics(metrics)
    self.i3d = self.r3d = self.inception = None
    self._i3d_weights = None
    if any(m in self.metrics for m in I3D_METRICS):
      self.i3d = load_i3d_embedder(i3d, i3d_embedder, i3d_checkpoint, allow_download)
      self._i3d_weights = (
        (i3d_checkpoint or i3d) if i3d_embedder == "keras" else (i3d or fvd.I3D_HANDLE)
      )
    if "fd_r3d" in self.metrics:
      self.r3d = features.R3DEmbedder()
    if any(m in self.metrics for m in INCEPTION_METRICS):
      self.inception = inception_lib.load_inception(
        inception or inception_lib.INCEPTION_TFHUB, allow_download=allow_download
      )

  def describe(self):
    """Which network and weights each metric used (for the results' protocol)."""
    out = {}
    if self.i3d is not None:
      out["i3d"] = {
        "metrics": [m for m in self.metrics if m in I3D_METRICS],
        "embedder": self.i3d.name,
        "weights": str(self._i3d_weights),
        "preprocess": "TF1 bilinear resize to 224x224 (fvd.preprocess)",
        "batch_size": fvd.I3D_BATCH_SIZE,
        "dim": fvd.I3D_DIM,
      }
    if self.r3d is not None:
      out["r3d"] = {
        "metrics": ["fd_r3d"],
        "embedder": "r3d",
        "weights": f"fixed random He-normal init, seed {features.R3D_SEED}, never "
        "trained (features.build_r3d); not comparable with FVD",
        "dim": self.r3d.dim,
      }
    if self.inception is not None:
      out["inception"] = {
        "metrics": [m for m in self.metrics if m in INCEPTION_METRICS],
        "network": self.inception.name,
        "weights": self.inception.source,
        "matches_tfgan": self.inception.matches_tfgan,
        "is_splits": IS_SPLITS,
      }
    return out


class Embeddings:
  """One side's (real or fake) statistics per network, filled batch by batch."""

  def __init__(self, networks, keep_i3d=False, keep_logits=False):
    self.networks = networks
    self.keep_i3d = keep_i3d
    self.keep_logits = keep_logits
    self.count = 0
    self.i3d = frechet.GaussianStats() if networks.i3d else None
    self.i3d_embeddings = [] if keep_i3d else None
    self.r3d = frechet.GaussianStats() if networks.r3d else None
    self.inception = (
      inception_lib.InceptionAccumulator(networks.inception)
      if networks.inception and keep_logits
      else None
    )
    self.inception_stats = (
      self.inception.stats
      if self.inception
      else frechet.GaussianStats()
      if networks.inception
      else None
    )

  def update(self, batch):
    batch = np.asarray(batch, np.float32)
    n = self.networks
    if n.i3d is not None:
      out = fvd.embed_stream(
        n.i3d, [batch], stats=self.i3d, batch_size=fvd.I3D_BATCH_SIZE, keep=self.keep_i3d
      )
      if self.keep_i3d:
        self.i3d_embeddings.append(out.embeddings)
    if n.r3d is not None:
      fvd.embed_stream(n.r3d, [batch], stats=self.r3d, batch_size=len(batch))
    if self.inception is not None:
      self.inception.update(batch)
    elif n.inception is not None:  # FID only: the pool_3 statistics, no logits kept
      frames = batch.reshape((-1,) + batch.shape[2:])
      for start in range(0, len(frames), 50):
        out = n.inception(frames[start : start + 50])
        self.inception_stats.update(out[inception_lib.POOL_3].numpy())
    self.count += len(batch)

  def i3d_matrix(self):
    return np.concatenate(self.i3d_embeddings) if self.i3d_embeddings else None

  def state(self):
    """What the side has accumulated, as arrays: the clip count, each network's statistics
    and the kept embeddings and logits (`restore` takes it back)."""
    out = {"count": np.int64(self.count)}
    for net, stats in (("i3d", self.i3d), ("r3d", self.r3d), ("inception", self.inception_stats)):
      if stats is not None and stats.n:
        out.update({f"{net}.{k}": v for k, v in stats.state().items()})
    if self.keep_i3d and self.i3d_embeddings:
      out["i3d_embeddings"] = self.i3d_matrix()
    if self.inception is not None and self.count:
      out["logits"] = self.inception.logits
    return out

  def restore(self, state):
    """Takes back a `state()` of the same networks and options; returns self."""
    stats = {
      net: frechet.GaussianStats.from_state({k: state[f"{net}.{k}"] for k in ("n", "mean", "m2")})
      for net in ("i3d", "r3d", "inception")
      if f"{net}.n" in state
    }
    self.count = int(state["count"])
    self.i3d = stats.get("i3d", self.i3d)
    self.r3d = stats.get("r3d", self.r3d)
    if self.inception is not None and "logits" in state:
      self.inception.restore(stats["inception"], state["logits"])
      self.inception_stats = self.inception.stats
    else:
      self.inception_stats = stats.get("inception", self.inception_stats)
    if self.keep_i3d and "i3d_embeddings" in state:
      self.i3d_embeddings = [np.asarray(state["i3d_embeddings"])]
    return self


class ResumeFile:
  """An evaluation's progress in one .npz file, so that the same command, stopped (Ctrl-C, a
  kill, a lost machine), goes on from the clips it had embedded instead of from the first.

  It holds a key (a fingerprint of the sources' identities, the metrics, networks, clip
  geometry, batch size and seed) and each side's `Embeddings.state()`, saved at most every
  `every` seconds (`RESUME_SAVE_SECONDS`), after a whole batch, by writing a temporary file
  and renaming it. A file with another key (other files, another checkpoint, other flags)
  is not used: the evaluation starts afresh and says why. A save that fails (a full disk)
  is logged and the evaluation goes on without it.
  """

  VERSION = 1

  def __init__(self, path, key, every=None):
    self.path, self.key = path, key
    self.every = RESUME_SAVE_SECONDS if every is None else every
    self.sides = {}
    self.last_save = time.monotonic()
    self._load()

  def _load(self):
    if not tf.io.gfile.exists(self.path):
      return
    try:
      with tf.io.gfile.GFile(self.path, "rb") as f, np.load(io.BytesIO(f.read())) as data:
        header = json.loads(str(data["header"]))
        arrays = {k: data[k] for k in data.files if k != "header"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, tf.errors.OpError) as e:
      logging.warning("Starting afresh: %s is unreadable (%s).", self.path, e)
      return
    if header.get("version") != self.VERSION or header.get("key") != self.key:
      logging.warning(
        "Starting afresh: %s was saved by another evaluation (other sources, files, "
        "checkpoint, metrics, networks, clip geometry, batch size or seed).",
        self.path,
      )
      return
    for name in header["sides"]:
      prefix = f"{name}/"
      self.sides[name] = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    logging.info(
      "Going on from %s: %s.",
      self.path,
      ", ".join(f"{name} {int(state['count'])} clips" for name, state in self.sides.items()),
    )

  def restore(self, name, side):
    """Fills `side` (fresh `Embeddings`) with what was saved under `name`; returns its count."""
    if name in self.sides:
      side.restore(self.sides[name])
    return side.count

  def save(self, name, side, force=False):
    """Writes the file with `side`'s state under `name` when `every` seconds have passed
    since the last write, or with `force` (a state is copied only to be written: the kept
    logits grow with every batch)."""
    if not force and time.monotonic() - self.last_save < self.every:
      return
    self.sides[name] = side.state()
    buffer = io.BytesIO()
    arrays = {f"{n}/{k}": v for n, state in self.sides.items() for k, v in state.items()}
    header = {"version": self.VERSION, "key": self.key, "sides": list(self.sides)}
    np.savez(buffer, header=np.array(json.dumps(header)), **arrays)
    tmp = self.path + ".tmp"
    try:
      tf.io.gfile.makedirs(os.path.dirname(os.path.abspath(self.path)))
      with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(buffer.getvalue())
      tf.io.gfile.rename(tmp, self.path, overwrite=True)
    except (OSError, tf.errors.OpError) as e:
      logging.warning("Could not save the evaluation's progress to %s (%s); going on.", tmp, e)
      self.remove(tmp)
    self.last_save = time.monotonic()

  def remove(self, path=None):
    """Removes the file (the evaluation is complete), or `path`."""
    for p in [path] if path else [self.path, self.path + ".tmp"]:
      try:
        tf.io.gfile.remove(p)
      except (OSError, tf.errors.OpError):
        pass


def embed_batches(
  batches,
  networks,
  total,
  name,
  keep_i3d=False,
  keep_logits=False,
  progress_every=10.0,
  side=None,
  resume=None,
):
  """Feeds an iterable of clip batches to every network; logs progress. Returns Embeddings.

  `side` goes on from a restored `Embeddings` (`batches` then begins after its clips);
  `resume`, a `ResumeFile`, keeps the side's state under `name` after every batch."""
  side = side or Embeddings(networks, keep_i3d, keep_logits)
  progress = sources_lib.Progress(name, total, progress_every, done=side.count)
  for batch in batches:
    side.update(batch)
    progress.update(side.count)
    if resume is not None:
      resume.save(name, side)
  progress.update(side.count, final=True)
  return side


def _embed_source(
  source, name, networks, num_videos, batch_size, spec, resume, progress_every, **keep
):
  """`embed_batches` over a source, going on from `resume`'s state of `name` when it has one."""
  side = Embeddings(networks, **keep)
  start = resume.restore(name, side) if resume else 0
  side = embed_batches(
    source.batches(num_videos, batch_size, spec, start=start),
    networks,
    num_videos,
    name,
    progress_every=progress_every,
    side=side,
    resume=resume,
    **keep,
  )
  if side.count != source.count:  # the identity is the same, yet the clips are not
    raise ValueError(
      f"Expected {side.count} {name} clips as when the evaluation was stopped, received "
      f"{source.count} from {source.spec!r}: run it again with --noresume."
    )
  if resume is not None:
    resume.save(name, side, force=True)
  return side


def compute_metrics(metrics, real, fake):
  """metric -> value from real and fake `Embeddings` (kvd_std, is_std added beside)."""
  out = {}
  if "fvd" in metrics:
    out["fvd"] = fvd.compute_fvd(real.i3d, fake.i3d)
  if "kvd" in metrics:
    out["kvd"], out["kvd_std"] = kernel.kvd(real.i3d_matrix(), fake.i3d_matrix())
  if "fid" in metrics:
    out["fid"] = inception_lib.frechet_inception_distance(
      real.inception_stats, fake.inception_stats
    )
  if "is" in metrics:
    out["is"], out["is_std"] = fake.inception.inception_score(
      min(IS_SPLITS, len(fake.inception.logits))
    )
  if "fd_r3d" in metrics:
    out["fd_r3d"] = frechet.frechet_distance_from_stats(real.r3d, fake.r3d)
  return {k: float(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- outputs


def json_safe(x):
  """NaN / inf -> None (strict JSON), recursively."""
  if isinstance(x, float) and not math.isfinite(x):
    return None
  if isinstance(x, dict):
    return {k: json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [json_safe(v) for v in x]
  if isinstance(x, np.generic):
    return json_safe(x.item())
  return x


def manifest_path(out):
  stem, _ = os.path.splitext(out)
  return stem + "_manifest.json"


def _write_json(path, obj):
  tf.io.gfile.makedirs(os.path.dirname(os.path.abspath(path)))
  workdir_lib.write_json(path, json_safe(obj))  # the one atomic JSON writer


def write_results(result, out):
  """Writes the result (without manifests) to `out` and the manifests beside it."""
  result = dict(result)
  manifests = result.pop("manifests", {})
  result["manifest_file"] = os.path.basename(manifest_path(out))
  _write_json(manifest_path(out), manifests)
  _write_json(out, result)
  return result


def write_scalars(values, step, logdir=None, writer=None):
  """`eval/<metric>` TensorBoard scalars at `step`, to `writer` or a new one on `logdir`."""
  if writer is None:
    writer = tf.summary.create_file_writer(logdir)
  with writer.as_default():
    for k, v in values.items():
      tf.summary.scalar(f"{EVAL_DIR}/{k}", v, step=step)
  writer.flush()


# ----------------------------------------------------------------------------- the library call


def evaluate(
  real: str | sources_lib.Source | None,
  fake: str | sources_lib.Source,
  metrics: str | Sequence[str] = ("fvd",),
  num_videos: int = fvd.NUM_REAL_CLIPS,
  *,
  num_frames: int = fvd.NUM_FRAMES,
  frame_stride: int = fvd.FRAME_STRIDE,
  height: int = 0,
  width: int = 0,
  batch_size: int = fvd.I3D_BATCH_SIZE,
  seed: int = 0,
  step: int | None = None,
  i3d: str | None = None,
  i3d_embedder: str = "hub",
  i3d_checkpoint: str | None = None,
  inception: str | None = None,
  allow_download: bool = True,
  allow_fewer: bool = False,
  out: str | None = None,
  tb_dir: str | None = None,
  progress_every: float = 10.0,
  networks: Networks | None = None,
  resume_file: str | None = None,
) -> dict[str, Any]:
  """Computes `metrics` of `num_videos` fake clips against `num_videos` real ones.

  Args:
    real, fake: source strings (`sources.open_source`) or `sources.Source` objects; `real`
      may be None when only "is" is asked.
    metrics: names from METRICS ("fvd,kvd" or a sequence).
    num_videos: clips drawn from each source.
    num_frames, frame_stride, height, width: the clip geometry (`sources.ClipSpec`); height
      and width 0 take the size of the first source that has one (fake first).
    batch_size: clips per batch read from the sources.
    seed, step: generator noise seed and checkpoint step of workdir sources.
    i3d, i3d_embedder, i3d_checkpoint, inception, allow_download: the networks (`Networks`).
    allow_fewer: accept sources that run out before `num_videos` (the counts are reported).
    out: a JSON path for the result (manifests written beside it).
    tb_dir: TensorBoard directory for `eval/<metric>` scalars (default: WORKDIR/eval when
      `fake` is a workdir).
    networks: already loaded `Networks` (reused across calls).
    resume_file: where the progress is kept (`ResumeFile`): the same call, stopped, goes on
      from it; removed when the evaluation is complete.

  Returns:
    A JSON-able dict: "metrics" (name -> value), "names" (display names), "protocol",
    "real" / "fake" (what each source was), "manifests" (clip manifests).
  """
  metrics = parse_metrics(metrics)
  if not metrics:
    raise ValueError(f"Expected at least one metric among {METRICS}, received none.")
  networks = networks or Networks(
    metrics, i3d, i3d_embedder, i3d_checkpoint, inception, allow_download
  )
  if any(m not in networks.metrics for m in metrics):
    raise ValueError(
      f"Expected networks loaded for {metrics}, received networks for {networks.metrics}."
    )
  needs_real = any(m in REAL_METRICS for m in metrics)
  if isinstance(fake, str):
    fake = sources_lib.open_source(fake, seed=seed, step=step, flag="fake")
  if needs_real:
    if real is None:
      raise ValueError(
        f"Expected --real for metrics {[m for m in metrics if m in REAL_METRICS]}, received none."
      )
    if isinstance(real, str):
      real = sources_lib.open_source(real, seed=seed, step=step, flag="real")
  spec = sources_lib.resolve_clip_spec(
    [fake] + ([real] if needs_real else []), num_frames, frame_stride, height, width
  )
  logging.info(
    "Evaluating %s on %d clips of %s: real %s, fake %s.",
    ",".join(metrics),
    num_videos,
    spec,
    real.spec if needs_real else "-",
    fake.spec,
  )
  start = time.perf_counter()
  resume = None
  if resume_file:
    key = {
      "metrics": metrics,
      "num_videos": num_videos,
      "clip_spec": list(spec),
      "batch_size": batch_size,
      "networks": networks.describe(),
      "real": real.identity() if needs_real else None,
      "fake": fake.identity(),
    }
    resume = ResumeFile(resume_file, sources_lib.fingerprint(key))
  embed = functools.partial(
    _embed_source,
    networks=networks,
    num_videos=num_videos,
    batch_size=batch_size,
    spec=spec,
    resume=resume,
    keep_i3d="kvd" in metrics,
    progress_every=progress_every,
  )
  real_side = None
  # Every input is checked before the first fake clip is generated: the real clips' count,
  # then the conditions a conditional generator reads.
  if needs_real:
    real_side = embed(real, "real")
    _check_count("real", real_side, real, num_videos, allow_fewer)
  _check_conditions(fake)
  fake_side = embed(fake, "fake", keep_logits="is" in metrics)
  _check_count("fake", fake_side, fake, num_videos, allow_fewer)
  values = compute_metrics(metrics, real_side, fake_side)
  result = {
    "metrics": values,
    "names": {k: NAMES[k] for k in metrics},
    "protocol": {
      "num_videos": num_videos,
      "num_real_clips": real_side.count if real_side else 0,
      "num_fake_clips": fake_side.count,
      "num_frames": spec.num_frames,
      "frame_stride": spec.frame_stride,
      "height": spec.height,
      "width": spec.width,
      "batch_size": batch_size,
      "clip_rule": (
        "frames 0, s, ..., (T-1)s; short side to min(H, W), scaled up to "
        "cover, centre crop (trainers.eval.sources)"
      ),
      "networks": networks.describe(),
      "seed": seed,
    },
    "real": {"kind": real.kind, "spec": real.spec} if needs_real else None,
    "fake": {"kind": fake.kind, "spec": fake.spec},
    "manifests": {"real": real.manifest() if needs_real else None, "fake": fake.manifest()},
    "environment": {
      "tensorflow": tf.__version__,
      "python": platform.python_version(),
      "seconds": round(time.perf_counter() - start, 2),
    },
  }
  summary = ", ".join(f"{NAMES.get(k, k)}={v:.6g}" for k, v in values.items() if k in NAMES)
  logging.info("Results: %s", summary)
  if out:
    try:
      write_results(result, out)
    except (OSError, tf.errors.OpError) as e:
      # The numbers took the whole evaluation: the one line that ends the program says them.
      refused = errors.disk_full(e)
      why = f"{refused[0]} (full disk)" if refused else workdir_lib.first_line(e)
      raise errors.RunError(
        f"Expected to write the results to {out}, failed: {why}. The results, not written: "
        f"{summary}."
      ) from e
  if resume is not None:
    resume.remove()
  fake_workdir = getattr(fake, "workdir", None)
  logdir = tb_dir or (os.path.join(fake_workdir, EVAL_DIR) if fake_workdir else None)
  # A workdir that is not writable (another user's run, a read-only mount) must not cost the
  # results: they are returned (and printed by the CLI) whatever these records meet.
  try:
    if fake_workdir:  # the model card of an export reads it
      _record_in_workdir(
        fake_workdir, values, getattr(fake, "step", None), result, "trainers.evaluate"
      )
    if logdir:
      tb_step = step if step is not None else (getattr(fake, "step", None) or 0)
      write_scalars({k: v for k, v in values.items() if math.isfinite(v)}, tb_step, logdir)
      result["tb_dir"] = logdir
  except (OSError, tf.errors.OpError) as e:
    logging.warning(
      "Could not record the results in %s (%s); they are only printed (and written to "
      "--out when given).",
      logdir or fake_workdir,
      " ".join(str(e).split()),
    )
  return result


def _record_in_workdir(workdir, values, step, result, written_by):
  """WORKDIR/metrics.json from an evaluation's values and its protocol (`result`)."""
  protocol = result["protocol"]
  workdir_lib.write_metrics(
    workdir,
    values,
    step=step,
    names={k: NAMES[k] for k in values if k in NAMES},
    num_real_clips=protocol["num_real_clips"],
    num_fake_clips=protocol["num_fake_clips"],
    networks=protocol["networks"],
    real=result.get("real"),
    written_by=written_by,
  )


def _check_count(name, side, source, num_videos, allow_fewer):
  if side.count < num_videos:
    message = f"Expected {num_videos} clips from --{name}={source.spec!r}, received {side.count}"
    if source.skips():
      message += f" ({source.skips()})"
    if not allow_fewer:
      raise ValueError(
        message + " (pass --allow_fewer_videos to accept fewer; Frechet "
        "distances are biased by the count)."
      )
    logging.warning("%s; distances at this count are not comparable with others.", message)


def _check_conditions(fake):
  """A conditional generator's conditions (its config's eval clips) exist."""
  if not getattr(fake, "key", "") or not hasattr(fake, "conditions"):
    return
  data = fake.config.data
  try:
    next(fake.conditions(1))
  except (StopIteration, RuntimeError):
    raise ValueError(
      f"Expected clips in data.eval_files={data.get('eval_files', '')!r} of {fake.spec!r}'s "
      f"config for the conditions ({fake.key}) of its generator, received none."
    ) from None


# ----------------------------------------------------------------------------- periodic eval

_NETWORKS = {}


def eval_metrics(eval_config):
  """The metrics of a config's `eval` section: `eval.metrics`, or FVD when `eval.i3d` is set,
  else FD-R3D (a metric that needs no download)."""
  metrics = parse_metrics(tuple(eval_config.get("metrics", ()) or ()), "config.eval.metrics")
  if metrics:
    return metrics
  return ("fvd",) if eval_config.get("i3d", "") else ("fd_r3d",)


def eval_networks(eval_config):
  """The networks of a config's eval section, loaded once per process (downloads disabled:
  a remote handle must be in the tensorflow_hub cache)."""
  metrics = eval_metrics(eval_config)
  key = (
    metrics,
    eval_config.get("i3d", ""),
    eval_config.get("i3d_embedder", "hub"),
    eval_config.get("inception", ""),
  )
  if key not in _NETWORKS:
    _NETWORKS[key] = Networks(
      metrics,
      i3d=key[1] or None,
      i3d_embedder=key[2],
      i3d_checkpoint=key[1] or None,
      inception=key[3] or None,
      allow_download=False,
    )
  return _NETWORKS[key]


def _real_cache_paths(directory, networks, metrics, config, num_videos):
  key = sources_lib.fingerprint(
    {
      "data": json.loads(config.data.to_json_best_effort()),
      "seed": config.seed,
      "num_videos": num_videos,
      "networks": networks.describe(),
    }
  )
  paths = {}
  for net in networks.describe():
    paths[net] = os.path.join(directory, f"real_stats_{net}_{key}.npz")
  if "kvd" in metrics:
    paths["i3d_embeddings"] = os.path.join(directory, f"real_embeddings_i3d_{key}.npy")
  return paths


def real_embeddings(config, networks, metrics, num_videos, batch_size, cache_dir=None):
  """Real-data `Embeddings` of `config.data` (eval mode, seed `config.seed`), read from the
  cache files under `cache_dir` when present, computed and written there otherwise."""
  paths = _real_cache_paths(cache_dir, networks, metrics, config, num_videos) if cache_dir else {}
  if paths and all(os.path.exists(p) for p in paths.values()):
    side = Embeddings(networks, keep_i3d="kvd" in metrics)
    if networks.i3d:
      side.i3d = frechet.GaussianStats.load(paths["i3d"])
      side.count = side.i3d.n
    if "kvd" in metrics:
      side.i3d_embeddings = [np.load(paths["i3d_embeddings"])]
    if networks.r3d:
      side.r3d = frechet.GaussianStats.load(paths["r3d"])
      side.count = side.r3d.n
    if networks.inception:
      side.inception_stats = frechet.GaussianStats.load(paths["inception"])
    return side
  real = sources_lib.DataSource("config.data", config.data, seed=config.seed, fixed_geometry=True)
  spec = sources_lib.ClipSpec(
    config.data.num_frames, config.data.frame_stride, config.data.height, config.data.width
  )
  side = embed_batches(
    real.batches(num_videos, batch_size, spec),
    networks,
    num_videos,
    "real (cached after this)",
    keep_i3d="kvd" in metrics,
  )
  if paths:
    tf.io.gfile.makedirs(cache_dir)
    for net, stats in (("i3d", side.i3d), ("r3d", side.r3d), ("inception", side.inception_stats)):
      if net in paths and stats is not None:
        stats.save(paths[net] + ".tmp")
        os.replace(paths[net] + ".tmp", paths[net])
    if "i3d_embeddings" in paths:
      with open(paths["i3d_embeddings"] + ".tmp", "wb") as f:
        np.save(f, side.i3d_matrix())
      os.replace(paths["i3d_embeddings"] + ".tmp", paths["i3d_embeddings"])
    logging.info("Cached real statistics of %d clips in %s.", side.count, cache_dir)
  return side


def periodic_eval(
  trainer_or_fake_fn: Any,
  config: ml_collections.ConfigDict,
  step: int,
  writer: tf.summary.SummaryWriter | None = None,
  workdir: str | None = None,
) -> dict[str, float]:
  """The trainer's evaluation every `config.eval.every` steps: metric -> value.

  Args:
    trainer_or_fake_fn: a `loop.Trainer` (samples of `trainer.ema or trainer.generator`, clip
      k from noise seed [config.seed, k] and, for conditional models, the k-th eval clip of
      `config.data`), or a callable `fake_fn(num_videos, batch_size)` returning an iterable of
      float [B, T, H, W, 3] batches in [-1, 1] shaped like `config.data`'s clips.
    config: the run's config; its `eval` section gives `metrics` (`eval_metrics`),
      `num_videos`, `i3d` (and optionally `i3d_embedder`, `inception`, `batch_size`).
    step: the step the scalars are written at.
    writer: a tf.summary writer for `eval/<metric>` scalars (None: none written).
    workdir: where the real statistics are cached (WORKDIR/eval/real_stats_*.npz); defaults
      to the trainer's workdir; None with a callable: nothing cached on disk.

  Returns:
    {metric: value} (plus kvd_std / is_std). Raises `fvd.I3DUnavailableError` when FVD or
    KVD is asked and the I3D is not available (never computed from another network).
  """
  ev = config.eval
  metrics = eval_metrics(ev)
  networks = eval_networks(ev)
  num_videos = int(ev.num_videos)
  batch_size = int(ev.get("batch_size", fvd.I3D_BATCH_SIZE))
  if hasattr(trainer_or_fake_fn, "generator") and hasattr(trainer_or_fake_fn, "workdir"):
    trainer = trainer_or_fake_fn
    workdir = workdir or trainer.workdir
    generator = getattr(trainer, "ema", None) or trainer.generator
    fake = sources_lib.GeneratorSource(
      f"generator at step {step}", generator, config, seed=config.seed
    )
    spec = sources_lib.ClipSpec(
      config.data.num_frames, config.data.frame_stride, config.data.height, config.data.width
    )
    fake_fn = lambda n, b: fake.batches(n, b, spec)
  elif callable(trainer_or_fake_fn):
    fake_fn = trainer_or_fake_fn
  else:
    raise ValueError(
      "Expected a loop.Trainer or a callable fake_fn(num_videos, batch_size), "
      f"received {trainer_or_fake_fn!r}."
    )
  cache_dir = os.path.join(workdir, EVAL_DIR) if workdir else None
  start = time.perf_counter()
  real = real_embeddings(config, networks, metrics, num_videos, batch_size, cache_dir)
  fake_side = embed_batches(
    fake_fn(num_videos, batch_size),
    networks,
    num_videos,
    f"fake (step {step})",
    keep_i3d="kvd" in metrics,
    keep_logits="is" in metrics,
  )
  values = compute_metrics(metrics, real, fake_side)
  if trainer_or_fake_fn is not fake_fn and trainer_or_fake_fn.chief:
    _record_in_workdir(
      workdir,
      values,
      step,
      {
        "protocol": {
          "num_real_clips": real.count,
          "num_fake_clips": fake_side.count,
          "networks": networks.describe(),
        },
        "real": {"kind": "config.data", "spec": config.data.source},
      },
      "periodic_eval",
    )
  if writer is not None:
    write_scalars({k: v for k, v in values.items() if math.isfinite(v)}, step, writer=writer)
  logging.info(
    "Eval at step %d (%d clips, %.1fs): %s",
    step,
    fake_side.count,
    time.perf_counter() - start,
    ", ".join(f"{NAMES.get(k, k)}={v:.6g}" for k, v in values.items()),
  )
  return values


# ----------------------------------------------------------------------------- the CLI


def define_flags(flag_values=flags.FLAGS):
  """The CLI's flags on `flag_values` (defined only when run as a program, so importing the
  library next to other binaries adds none)."""
  kw = {"flag_values": flag_values}
  flags.DEFINE_string(
    "real",
    None,
    "Real clips: synthetic[:SEED], a TFRecord pattern, a folder of video files or a workdir.",
    **kw,
  )
  flags.DEFINE_string(
    "fake",
    None,
    "Generated clips: a workdir (its EMA generator), a folder of video files, a TFRecord pattern.",
    **kw,
  )
  flags.DEFINE_string(
    "workdir",
    None,
    "A training workdir to evaluate: its EMA generator is "
    "--fake and, without --real, its config's data is --real (at the "
    "config's clip geometry); the result is recorded in WORKDIR/metrics.json, "
    "which an export's model card reports.",
    **kw,
  )
  flags.DEFINE_string("metrics", "fvd", f"Comma-separated, among {','.join(METRICS)}.", **kw)
  flags.DEFINE_integer("num_videos", fvd.NUM_REAL_CLIPS, "Clips drawn from each source.", **kw)
  flags.DEFINE_string(
    "i3d",
    None,
    f"TF-Hub handle or local SavedModel directory of the I3D (default {fvd.I3D_HANDLE}).",
    **kw,
  )
  flags.DEFINE_enum(
    "i3d_embedder",
    "hub",
    ["hub", "keras"],
    "hub: the TF-Hub module; keras: zoo.i3d with a kinetics-i3d checkpoint (--i3d_checkpoint).",
    **kw,
  )
  flags.DEFINE_string(
    "i3d_checkpoint", None, "kinetics-i3d TF1 checkpoint prefix for --i3d_embedder=keras.", **kw
  )
  flags.DEFINE_string(
    "inception",
    None,
    "InceptionV3 for FID/IS: handle, SavedModel directory "
    f"or Keras weights (default {inception_lib.INCEPTION_TFHUB}).",
    **kw,
  )
  flags.DEFINE_integer("num_frames", fvd.NUM_FRAMES, "T of every clip.", **kw)
  flags.DEFINE_integer("frame_stride", fvd.FRAME_STRIDE, "Stride between a clip's frames.", **kw)
  flags.DEFINE_integer("height", 0, "H of every clip; 0: the fake (else real) source's own.", **kw)
  flags.DEFINE_integer("width", 0, "W of every clip; 0: the fake (else real) source's own.", **kw)
  flags.DEFINE_integer("batch_size", fvd.I3D_BATCH_SIZE, "Clips per batch read from sources.", **kw)
  flags.DEFINE_integer("seed", 0, "Noise seed of workdir sources (clip k: seed [SEED, k]).", **kw)
  flags.DEFINE_integer("step", None, "Checkpoint step of workdir sources (default: latest).", **kw)
  flags.DEFINE_string("out", None, "Write the result JSON here (manifests beside it).", **kw)
  flags.DEFINE_string(
    "tb_dir",
    None,
    "TensorBoard directory for eval/<metric> scalars (default: WORKDIR/eval for a workdir --fake).",
    **kw,
  )
  flags.DEFINE_bool(
    "allow_download",
    True,
    "Let tensorflow_hub download handles (else only its cache is used).",
    **kw,
  )
  flags.DEFINE_bool(
    "allow_fewer_videos", False, "Accept sources with fewer clips than --num_videos.", **kw
  )
  flags.DEFINE_float("progress_every", 10.0, "Seconds between progress lines.", **kw)
  flags.DEFINE_bool(
    "resume",
    True,
    "Keep the progress beside --out (OUT_partial.npz; WORKDIR/eval/evaluate_partial.npz "
    "for a workdir without --out) and go on from it when the same evaluation was stopped; "
    "--noresume starts afresh.",
    **kw,
  )


def resume_path(out, workdir=None):
  """Where the CLI keeps an evaluation's progress: beside `out` (OUT_partial.npz), else in
  the evaluated workdir's eval folder, else nowhere (None)."""
  if out:
    return os.path.splitext(out)[0] + "_partial.npz"
  if workdir:
    return os.path.join(workdir, EVAL_DIR, "evaluate_partial.npz")
  return None


def run(f: flags.FlagValues) -> int:
  """Runs the CLI on parsed flag values `f`; returns the exit status (0, 1 bad input, 2 a
  network is unavailable) after printing the result JSON or the error."""
  if bool(f.fake) == bool(f.workdir):
    print(
      "evaluate: Expected one of --fake and --workdir, received "
      f"{'both' if f.fake else 'neither'}.",
      file=sys.stderr,
    )
    return 1
  real, fake = f.real, f.fake or f.workdir
  geometry = {
    "num_frames": f.num_frames,
    "frame_stride": f.frame_stride,
    "height": f.height,
    "width": f.width,
  }
  try:
    if f.workdir and real is None:  # the workdir's own data, at its own clip geometry
      config = workdir_lib.load_config(f.workdir)
      real = sources_lib.DataSource(
        f"{f.workdir} (config.data)", config.data, seed=config.seed, fixed_geometry=True
      )
      geometry = {k: getattr(f, k) if f[k].present else config.data[k] for k in geometry}
    result = evaluate(
      real,
      fake,
      f.metrics,
      f.num_videos,
      **geometry,
      batch_size=f.batch_size,
      seed=f.seed,
      step=f.step,
      i3d=f.i3d,
      i3d_embedder=f.i3d_embedder,
      i3d_checkpoint=f.i3d_checkpoint,
      inception=f.inception,
      allow_download=f.allow_download,
      allow_fewer=f.allow_fewer_videos,
      out=f.out,
      tb_dir=f.tb_dir,
      progress_every=f.progress_every,
      resume_file=resume_path(f.out, fake if sources_lib.is_workdir(fake) else None)
      if f.resume
      else None,
    )
  except (fvd.I3DUnavailableError, inception_lib.InceptionUnavailableError) as e:
    print(f"evaluate: {e}", file=sys.stderr)
    return 2
  except (ValueError, FileNotFoundError) as e:
    print(f"evaluate: {e}", file=sys.stderr)
    return 1
  result.pop("manifests", None)
  print(json.dumps(json_safe(result), indent=2, sort_keys=True))
  return 0


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  sys.exit(run(flags.FLAGS))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
