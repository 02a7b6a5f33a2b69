"""FID on frames and Inception Score with InceptionV3, as TF-GAN defines them.

* FID (Heusel et al. 2017): Frechet distance of Gaussians fitted to the 2048-d `pool_3`
  features of every frame (videos are flattened to frames), computed by
  `trainers.eval.frechet` in float64.
* IS (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) on the network's logits (1008 for
  TF-GAN's graph, whose 8 extra classes are kept as TF-GAN keeps them; 1000 for Keras'),
  computed in float64 as TF-GAN's `classifier_score_from_logits`, on `splits` consecutive
  parts (10 by default, the improved-GAN convention); the mean and std over parts are
  reported. `splits=1` is TF-GAN's single estimate.

Weights, and which numbers match TF-GAN:

* `source` a TF-Hub handle (default `INCEPTION_TFHUB`, TF-GAN's module, the improved-GAN
  "2015-12-05" graph) or a local SavedModel directory with that module's calling
  convention: `module(images)` with images float32 [N, 299, 299, 3] in [-1, 1] returns
  {"logits": [N, 1008], "pool_3": [N, 1, 1, 2048]}; outputs are flattened to [N, D] as
  TF-GAN does. This is the only source whose FID / IS equal TF-GAN's.
* `source` a Keras weights file (`*.h5`, `*.weights.h5`, `*.keras`) for
  `keras.applications.InceptionV3` with its top (e.g. Keras'
  `inception_v3_weights_tf_dim_ordering_tf_kernels.h5`): "avg_pool" stands in for pool_3
  and the "predictions" layer (no softmax) gives 1000 logits. These ImageNet weights are a
  different training of InceptionV3, so its numbers are not comparable with TF-GAN's or
  papers'; `InceptionNetwork.matches_tfgan` is False and its name says "keras".

A source that cannot be loaded raises `InceptionUnavailableError` saying where it looked;
nothing falls back to random weights or to another network.

Preprocessing (TF-GAN's `preprocess_image`): frames in [-1, 1] are mapped to [0, 255],
resized to 299x299 with `tf.image.resize` bilinear (half-pixel centres, no antialiasing),
then scaled as (x - 128) / 128 for the hub graph, or x / 127.5 - 1 (Keras' own
`preprocess_input`) for the Keras weights.
"""

import os

import numpy as np
import tensorflow as tf

from trainers.eval import frechet
from trainers.eval import hub_handles

INCEPTION_TFHUB = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"
INCEPTION_IMAGE_SIZE = 299
LOGITS = "logits"
POOL_3 = "pool_3"
_KERAS_SUFFIXES = (".h5", ".keras")


class InceptionUnavailableError(RuntimeError):
  """The InceptionV3 weights asked for could not be found or loaded."""


def _how_to_fix(source):
  return (
    f"Looked for InceptionV3 at {source!r}. Give a local copy instead: download "
    f"{INCEPTION_TFHUB} (append '?tf-hub-format=compressed' for a .tar.gz) and "
    "extract it into a directory holding saved_model.pb, then pass that directory; or "
    "pass a Kaggle Models handle, or pre-fill the cache named below; or pass a Keras "
    "InceptionV3 weights file with its top (*.h5), whose numbers are not TF-GAN's."
  )


def _flatten(x):
  x = tf.convert_to_tensor(x)
  return tf.reshape(x, [tf.shape(x)[0], -1])


class InceptionNetwork:
  """InceptionV3 behind FID / IS: frames [N, H, W, 3] in [-1, 1] -> {"logits", "pool_3"}.

  Build with `load_inception(source)`. `name` says which weights ("tfgan_inception" or
  "keras_inception_v3"), `matches_tfgan` whether the numbers are TF-GAN's.
  """

  def __init__(self, fn, name, source, matches_tfgan, scale):
    self._fn = fn
    self.name = name
    self.source = source
    self.matches_tfgan = matches_tfgan
    self._scale = scale
    self._call = tf.function(self._forward, reduce_retracing=True)

  def _forward(self, frames):
    pixels = (tf.cast(frames, tf.float32) + 1.0) * 127.5
    resized = tf.image.resize(
      pixels, [INCEPTION_IMAGE_SIZE, INCEPTION_IMAGE_SIZE], method=tf.image.ResizeMethod.BILINEAR
    )
    outputs = self._fn(self._scale(resized))
    return {LOGITS: _flatten(outputs[LOGITS]), POOL_3: _flatten(outputs[POOL_3])}

  def __call__(self, frames):
    frames = tf.convert_to_tensor(frames)
    if frames.shape.rank != 4 or frames.shape[-1] != 3:
      raise ValueError(f"Expected frames [N, H, W, 3] in [-1, 1], received shape {frames.shape}.")
    return self._call(frames)


def _load_hub(source, allow_download):
  try:
    kind, target = hub_handles.resolve(source, allow_download)
  except hub_handles.UnavailableError as e:
    raise InceptionUnavailableError(f"{_how_to_fix(source)} {e}") from e
  if kind == "tfhub":
    try:
      import tensorflow_hub as hub  # Imported here: only handles need it.

      module = hub.load(target)
    except Exception as e:  # Network, cache or format errors all mean "not available".
      raise InceptionUnavailableError(f"{_how_to_fix(source)} Loading failed: {e}") from e
  else:
    if not os.path.isfile(os.path.join(target, "saved_model.pb")):
      raise InceptionUnavailableError(f"{_how_to_fix(source)} No saved_model.pb in {target!r}.")
    try:
      module = tf.saved_model.load(target)
    except Exception as e:
      raise InceptionUnavailableError(f"{_how_to_fix(source)} Loading failed: {e}") from e
  if callable(module):
    fn = module
  elif "default" in getattr(module, "signatures", {}):
    fn = module.signatures["default"]
  else:
    raise InceptionUnavailableError(
      f"Expected a module callable as module(images) -> {{'logits', 'pool_3'}} at "
      f"{source!r}, received one that is not callable and has no 'default' signature."
    )
  return InceptionNetwork(
    fn, "tfgan_inception", source, matches_tfgan=True, scale=lambda x: (x - 128.0) / 128.0
  )


def _load_keras(source):
  if not os.path.isfile(source):
    raise InceptionUnavailableError(f"{_how_to_fix(source)} No such file.")
  import keras  # Imported here: the hub path does not need Keras.

  try:
    model = keras.applications.InceptionV3(
      weights=source, include_top=True, classifier_activation=None
    )
  except Exception as e:
    raise InceptionUnavailableError(
      f"{_how_to_fix(source)} Expected InceptionV3 weights with the top (1000 classes), "
      f"loading failed: {e}"
    ) from e
  outputs = keras.Model(
    model.inputs,
    {LOGITS: model.get_layer("predictions").output, POOL_3: model.get_layer("avg_pool").output},
  )
  return InceptionNetwork(
    lambda x: outputs(x, training=False),
    "keras_inception_v3",
    source,
    matches_tfgan=False,
    scale=lambda x: x / 127.5 - 1.0,
  )


def load_inception(source=INCEPTION_TFHUB, allow_download=True):
  """An `InceptionNetwork` from a TF-Hub handle, a SavedModel directory or a Keras file.

  `allow_download=False` never touches the network: a handle must already be in
  tensorflow_hub's cache (TFHUB_CACHE_DIR), as `fvd.load_i3d` does.
  """
  if not isinstance(source, str) or not source:
    raise ValueError(
      f"Expected a TF-Hub handle, a directory or a Keras weights file, received: {source!r}."
    )
  if source.endswith(_KERAS_SUFFIXES):
    return _load_keras(source)
  return _load_hub(source, allow_download)


def inception_score_from_logits(logits, splits=10):
  """(mean, std) over `splits` consecutive parts of exp(mean_x KL(p(y|x) || p(y))).

  Each part follows TF-GAN's `classifier_score_from_logits` in float64: p = softmax(logits),
  q = mean of p over the part, KL = sum p (log_softmax(logits) - log q). Parts are
  `np.array_split` slices, so sizes differ by at most one; std is the population std (ddof 0,
  as the improved-GAN code).
  """
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2:
    raise ValueError(f"Expected logits of rank 2 [N, classes], received shape {logits.shape}.")
  if not isinstance(splits, int) or splits < 1 or logits.shape[0] < splits:
    raise ValueError(f"Expected 1 <= splits <= N = {logits.shape[0]}, received: {splits!r}.")
  scores = []
  for part in np.array_split(logits, splits):
    log_p = part - part.max(axis=1, keepdims=True)
    log_p -= np.log(np.sum(np.exp(log_p), axis=1, keepdims=True))
    p = np.exp(log_p)
    q = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
      # 0 * log(0 / q) is 0: classes a sample gives no mass to contribute nothing.
      kl = np.sum(np.where(p > 0, p * (log_p - np.log(q)), 0.0), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


class InceptionAccumulator:
  """Streams videos or frames through an `InceptionNetwork`.

  Keeps the `pool_3` features as `frechet.GaussianStats` (for FID) and the logits (for IS;
  IS needs p(y) over the whole set, so they are kept, as float32, N x 1008).
  """

  def __init__(self, network, batch_size=50):
    if batch_size < 1:
      raise ValueError(f"Expected a positive batch_size, received: {batch_size!r}.")
    self.network = network
    self.batch_size = batch_size
    self.stats = frechet.GaussianStats()
    self._logits = []

  def update(self, clips):
    """Adds videos [B, T, H, W, 3] or frames [N, H, W, 3] in [-1, 1]; returns self."""
    clips = np.asarray(clips)
    if clips.ndim == 5:
      clips = clips.reshape((-1,) + clips.shape[2:])
    if clips.ndim != 4:
      raise ValueError(
        f"Expected videos [B, T, H, W, 3] or frames [N, H, W, 3], received shape {clips.shape}."
      )
    for start in range(0, clips.shape[0], self.batch_size):
      outputs = self.network(clips[start : start + self.batch_size])
      self.stats.update(outputs[POOL_3].numpy())
      self._logits.append(outputs[LOGITS].numpy().astype(np.float32))
    return self

  def restore(self, stats, logits):
    """Takes the `pool_3` statistics and logits of frames already added (a stopped
    evaluation going on); returns self."""
    self.stats = stats
    self._logits = [np.asarray(logits, np.float32)]
    return self

  @property
  def logits(self):
    if not self._logits:
      raise ValueError("Expected at least one update before reading logits, received none.")
    return np.concatenate(self._logits, axis=0)

  def inception_score(self, splits=10):
    """(mean, std) Inception Score of every frame added."""
    return inception_score_from_logits(self.logits, splits)


def frechet_inception_distance(real, fake):
  """FID between two `InceptionAccumulator`s or `frechet.GaussianStats` (pool_3 features)."""
  real = real.stats if isinstance(real, InceptionAccumulator) else real
  fake = fake.stats if isinstance(fake, InceptionAccumulator) else fake
  return frechet.frechet_distance_from_stats(real, fake)
