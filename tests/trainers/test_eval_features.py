"""trainers.eval.features: FD-R3D's fixed random network and the input conversions."""

import numpy as np
import pytest

from trainers.eval import features
from trainers.eval import frechet
from trainers.eval import fvd


@pytest.fixture(scope="module")
def embedder():
  return features.R3DEmbedder()


SHAPE = (8, 32, 32)  # frames, height, width


def _noise(n, seed):
  return np.random.RandomState(seed).uniform(-1, 1, size=(n,) + SHAPE + (3,)).astype(np.float32)


def _smooth(n, seed):
  """A drifting sinusoid grating with a random phase per clip."""
  t, y, x = np.meshgrid(*[np.arange(s) for s in SHAPE], indexing="ij")
  phase = np.random.RandomState(seed).uniform(0, 2 * np.pi, size=(n, 1, 1, 1))
  wave = 0.8 * np.sin(0.4 * x + 0.3 * y + 0.5 * t + phase)
  return np.repeat(wave[..., None], 3, axis=-1).astype(np.float32)


def test_two_builds_identical(embedder):
  other = features.R3DEmbedder()
  for a, b in zip(embedder.model.get_weights(), other.model.get_weights(), strict=True):
    np.testing.assert_array_equal(a, b)
  clips = _noise(3, 0)
  np.testing.assert_array_equal(embedder(clips), other(clips))
  different = features.build_r3d(seed=1).get_weights()[0]
  assert not np.array_equal(different, embedder.model.get_weights()[0])
  assert embedder.name == "r3d" and fvd.metric_name(embedder) == "FD-R3D"


def test_any_clip_size_and_uint8(embedder):
  assert embedder(np.zeros([2, 1, 9, 13, 3], np.float32)).shape == (2, 256)
  assert embedder(np.zeros([1, 7, 32, 24, 3], np.float32)).shape == (1, 256)
  as_uint8 = np.full([1, 2, 8, 8, 3], 255, np.uint8)
  np.testing.assert_allclose(embedder(as_uint8), embedder(np.ones([1, 2, 8, 8, 3])), rtol=1e-6)
  with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
    embedder(np.full([1, 2, 8, 8, 3], 3.0, np.float32))


def _fd(embedder, a, b):
  sa = fvd.embed_stream(embedder, [a]).stats
  sb = fvd.embed_stream(embedder, [b]).stats
  return frechet.frechet_distance_from_stats(sa, sb)


def test_fd_r3d_self_zero_and_noise_vs_smooth(embedder):
  noise = _noise(32, 1)
  assert abs(_fd(embedder, noise, noise)) < 1e-6
  # 32 clips in 256 dimensions: two noise sets are apart by the estimator's bias alone.
  assert _fd(embedder, noise, _smooth(32, 2)) > 1.5 * _fd(embedder, noise, _noise(32, 3)) > 0
