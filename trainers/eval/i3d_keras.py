"""FVD's embedder on the Keras I3D (`zoo.i3d`) with DeepMind's kinetics-i3d weights.

`I3DEmbedder` is a drop-in for `fvd.HubI3DEmbedder` when a TF1 kinetics-i3d checkpoint is at
hand instead of the TF-Hub module: same preprocessing (`fvd.preprocess`: TF1 bilinear resize
to 224x224, uint8 mapped by 2x/255 - 1, float clips checked to lie in [-1, 1]), same output
(the 400 Kinetics logits, float32 numpy [B, 400]), name "i3d_keras" so `fvd.metric_name`
calls its distance FVD. Importing this module registers the factory "i3d_keras" with
`fvd.make_embedder`, where `i3d_path` is the checkpoint prefix (e.g. `.../rgb_imagenet/model.ckpt`).

Decisions: there is no random-weight fallback; without a checkpoint (or an explicitly given,
already loaded model) construction raises `fvd.I3DUnavailableError`. The logits equal the hub
module's only if the checkpoint is the one the module was exported from; which of the
release's RGB checkpoints that is has not been verified offline, so numbers from the two
embedders should not be mixed in one comparison. `resolution` other than 224x224 is for tests
and experiments only: FVD is defined at 224x224.
"""

import numpy as np
import tensorflow as tf

from trainers.eval import features
from trainers.eval import fvd
from zoo.i3d import checkpoint as i3d_checkpoint
from zoo.i3d import i3d

NAME = "i3d_keras"


class I3DEmbedder(features.Embedder):
  """Keras I3D Kinetics-400 logits of `fvd.preprocess`ed clips [B, T, H, W, 3] -> [B, 400]."""

  name = NAME
  dim = fvd.I3D_DIM

  def __init__(
    self,
    checkpoint_path=None,
    model=None,
    scope=i3d_checkpoint.DEFAULT_SCOPE,
    resolution=fvd.I3D_RESOLUTION,
  ):
    if checkpoint_path is None and model is None:
      raise fvd.I3DUnavailableError(
        f"Expected a kinetics-i3d TF1 checkpoint prefix for {NAME!r} (e.g. --i3d=PATH), "
        "received none; FVD is never computed with random weights."
      )
    if checkpoint_path is not None and model is not None:
      raise ValueError(
        f"Expected one of checkpoint_path or model, received both "
        f"({checkpoint_path!r} and {model!r})."
      )
    if model is None:
      model = i3d.InceptionI3D(num_classes=fvd.I3D_DIM)
      try:
        i3d_checkpoint.load_kinetics_i3d_checkpoint(model, checkpoint_path, scope=scope)
      except FileNotFoundError as e:
        raise fvd.I3DUnavailableError(
          f"Could not load kinetics-i3d weights for {NAME!r} from {checkpoint_path!r}: {e} "
          "Give the prefix of a checkpoint from github.com/deepmind/kinetics-i3d "
          "(data/checkpoints/rgb_imagenet/model.ckpt); FVD is never computed with random "
          "weights."
        ) from e
    if model.num_classes != fvd.I3D_DIM:
      raise ValueError(
        f"Expected an I3D with {fvd.I3D_DIM} Kinetics logits, received "
        f"num_classes={model.num_classes}."
      )
    self.model = model
    self.resolution = tuple(resolution)
    self._logits = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

  def __call__(self, videos):
    logits = self._logits(fvd.preprocess(videos, self.resolution))
    return np.asarray(logits, np.float32)


if NAME not in fvd.embedder_names():
  fvd.register_embedder(
    NAME, lambda i3d_path=None, **kwargs: I3DEmbedder(checkpoint_path=i3d_path, **kwargs)
  )
