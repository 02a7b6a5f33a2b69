"""Frechet Video Distance (Unterthiner et al. 2018) as google-research's reference computes it.

The reference (`frechet_video_distance/frechet_video_distance.py`):
- `preprocess`: every frame resized to 224x224 with TF1 `resize_bilinear` (align_corners=False,
  no half-pixel centres, no crop), then uint8 values mapped by 2x/255 - 1;
- the embedding: the TF-Hub module `deepmind/i3d-kinetics-400/1`, its 400 Kinetics logits,
  run on batches of exactly 16 clips with inputs asserted to lie in [-1.001, 1.001];
- the distance: TF-GAN's `frechet_classifier_distance_from_activations` in float64
  (`frechet.frechet_distance` reproduces its maths).
Under TF2 the module is called as `hub.load(handle).signatures['default'](videos)['default']`.

Protocol defaults, the common practice after the FVD paper (StyleGAN-V, DIGAN, ...):
`NUM_REAL_CLIPS` = `NUM_FAKE_CLIPS` = 2048 clips of `NUM_FRAMES` = 16 frames at
`FRAME_STRIDE` = 1. The Frechet distance is biased by the sample size: compare numbers only at
equal counts. FVD is reported only for an I3D embedder; any other embedder's distance is named
after it (`metric_name`), e.g. FD-R3D.

The module is never silently replaced: without network or cache, `load_i3d` raises
`I3DUnavailableError` and says where it looked.
"""

import collections

import numpy as np
import tensorflow as tf

from trainers.eval import features
from trainers.eval import frechet
from trainers.eval import hub_handles

I3D_HANDLE = "https://tfhub.dev/deepmind/i3d-kinetics-400/1"
I3D_KAGGLE = "deepmind/i3d-kinetics/tensorFlow2/400/1"  # the same module on Kaggle Models
I3D_RESOLUTION = (224, 224)
I3D_BATCH_SIZE = 16  # the reference asserts this batch size
I3D_DIM = 400
NUM_REAL_CLIPS = 2048
NUM_FAKE_CLIPS = 2048
NUM_FRAMES = 16
FRAME_STRIDE = 1

# Embedders whose Frechet distance may be called FVD.
I3D_EMBEDDERS = ("i3d", "i3d_keras")


class I3DUnavailableError(RuntimeError):
  """The I3D module could not be loaded (no network, no cache, wrong path)."""


def resize_frames(frames, size):
  """Bilinear resize of [N, H, W, C] with TF1 semantics: align_corners=False, no half-pixel.

  This is the kernel behind `tf.compat.v1.image.resize_bilinear` (what the reference calls);
  `tf.image.resize` uses half-pixel centres and gives different pixels. Returns float32.
  """
  return tf.raw_ops.ResizeBilinear(
    images=frames, size=tf.constant(size, tf.int32), align_corners=False, half_pixel_centers=False
  )


def preprocess(videos, resolution=I3D_RESOLUTION):
  """Clips [B, T, H, W, 3] -> float32 [B, T, 224, 224, 3] in [-1, 1], as the reference.

  uint8 clips are resized as [0, 255] floats then mapped by 2x/255 - 1 (the reference's
  order); float clips must already be in [-1, 1] (checked) and are resized as they are.
  """
  videos = features.check_videos(videos)
  is_uint8 = videos.dtype == np.uint8 or videos.dtype == tf.uint8
  videos = tf.cast(videos, tf.float32)
  if not is_uint8:
    features.check_unit_range(videos)
  shape = tf.shape(videos)
  frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0))
  resized = resize_frames(frames, resolution)
  resized = tf.reshape(resized, tf.concat([shape[:2], list(resolution), [3]], axis=0))
  if is_uint8:
    resized = 2.0 * resized / 255.0 - 1.0
  return resized


def _unavailable(handle, reason):
  return I3DUnavailableError(
    f"Could not load the I3D module for FVD: {reason} Point at a local copy of {I3D_HANDLE} "
    f"(or its Kaggle Models twin {I3D_KAGGLE}; the extracted SavedModel directory) with "
    "--i3d=PATH or the config's eval.i3d, or pre-fill the cache named above. FVD is never "
    "computed with another network."
  )


def load_i3d(handle_or_path=None, allow_download=True):
  """Loads the I3D module: a TF-Hub URL, a Kaggle Models handle or a SavedModel directory.

  `allow_download=False` refuses to touch the network: a handle must already be in its cache
  (`hub_handles`). Raises `I3DUnavailableError` when nothing loads, or when the module has no
  'default' signature. Returns the loaded object.
  """
  handle = handle_or_path or I3D_HANDLE
  try:
    _, target = hub_handles.resolve(handle, allow_download)
  except hub_handles.UnavailableError as e:
    raise _unavailable(handle, str(e)) from e
  import tensorflow_hub as hub

  try:
    module = hub.load(target)
  except Exception as e:  # network, cache or SavedModel errors all mean "unavailable"
    raise _unavailable(handle, f"loading {target!r} failed ({type(e).__name__}: {e}).") from e
  if "default" not in getattr(module, "signatures", {}):
    raise _unavailable(
      handle,
      "the module has no 'default' signature (signatures: "
      f"{sorted(getattr(module, 'signatures', {}))}).",
    )
  return module


class HubI3DEmbedder(features.Embedder):
  """FVD's embedder: the TF-Hub I3D's 400 Kinetics logits of `preprocess`ed clips."""

  name = "i3d"
  dim = I3D_DIM

  def __init__(self, handle_or_path=None, allow_download=True):
    self.module = load_i3d(handle_or_path, allow_download)
    self._signature = self.module.signatures["default"]

  def __call__(self, videos):
    out = self._signature(preprocess(videos))["default"]
    return out.numpy().astype(np.float32)


_FACTORIES = {
  "i3d": lambda i3d_path=None, **kw: HubI3DEmbedder(i3d_path, **kw),
  "r3d": lambda i3d_path=None, **kw: features.R3DEmbedder(**kw),
}


def register_embedder(name, factory):
  """Adds an embedder factory `factory(i3d_path=None, **kwargs) -> Embedder` (e.g. "i3d_keras")."""
  if name in _FACTORIES:
    raise ValueError(
      f"Expected a new embedder name, received {name!r} (known: {embedder_names()})."
    )
  _FACTORIES[name] = factory


def embedder_names():
  return sorted(_FACTORIES)


def make_embedder(name, i3d_path=None, **kwargs):
  """name ("i3d", "r3d", or a registered one) -> Embedder; i3d_path: handle or directory."""
  if name not in _FACTORIES:
    raise ValueError(f"Expected an embedder name in {embedder_names()}, received {name!r}.")
  return _FACTORIES[name](i3d_path=i3d_path, **kwargs)


def metric_name(embedder):
  """The metric's name: "FVD" for an I3D embedder, else "FD-<NAME>" (never FVD by accident)."""
  name = embedder if isinstance(embedder, str) else embedder.name
  return "FVD" if name in I3D_EMBEDDERS else f"FD-{name.upper()}"


Embedded = collections.namedtuple("Embedded", ["stats", "embeddings", "count"])


def embed_stream(
  embedder, batches, stats=None, batch_size=I3D_BATCH_SIZE, max_clips=None, keep=False
):
  """Embeds an iterable of clip batches of any size into `stats`, `batch_size` clips at a time.

  Incoming batches are re-cut so the network always sees exactly `batch_size` clips (the last
  group padded with zero clips whose embeddings are dropped): clip k always sits at position
  k % batch_size of group k // batch_size, whatever the incoming batch size, so the embeddings
  are identical for any input batching. Stops after `max_clips` clips when given. Only one
  group of clips is held at a time; `keep=True` also returns every embedding (for KVD).
  Returns Embedded(stats, embeddings [N, D] or None, count).
  """
  stats = stats if stats is not None else frechet.GaussianStats()
  kept, pending, pending_n, count = [], [], 0, 0

  def flush(group, n):
    emb = np.asarray(embedder(group), np.float32)[:n]
    stats.update(emb)
    if keep:
      kept.append(emb)

  for batch in batches:
    batch = features.check_videos(batch)
    if isinstance(batch, tf.Tensor):
      batch = batch.numpy()
    if max_clips is not None:
      batch = batch[: max_clips - count]
    pending.append(batch)
    pending_n += len(batch)
    count += len(batch)
    while pending_n >= batch_size:
      joined = np.concatenate(pending)
      flush(joined[:batch_size], batch_size)
      pending, pending_n = [joined[batch_size:]], pending_n - batch_size
    if max_clips is not None and count >= max_clips:
      break
  if pending_n:
    joined = np.concatenate(pending)
    pad = np.zeros((batch_size - pending_n,) + joined.shape[1:], joined.dtype)
    flush(np.concatenate([joined, pad]), pending_n)
  embeddings = np.concatenate(kept) if keep and kept else None
  return Embedded(stats, embeddings, count)


def compute_fvd(real_stats, fake_stats):
  """FVD from the `GaussianStats` of real and generated I3D embeddings (a Python float)."""
  return frechet.frechet_distance_from_stats(real_stats, fake_stats)
