"""Inception Score / FID on frames: the pure IS function, loading paths, preprocessing.

The TF-Hub module is replaced by a stand-in SavedModel (eval_helpers) with the calling
convention of TF-GAN's `tfgan/eval/inception/1`: `module(images)`, images float32
[N, 299, 299, 3] in [-1, 1] -> {"logits": [N, 1008], "pool_3": [N, 1, 1, 2048]}. Its pool_3
starts with the centre pixel, min and max of what it received, so tests can see the
preprocessing.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import eval_helpers
from trainers.eval import frechet
from trainers.eval import inception


@pytest.fixture(scope="module")
def standin_dir(tmp_path_factory):
  return eval_helpers.save_stand_in_inception(tmp_path_factory)


def _tfgan_score(logits):
  """TF-GAN's classifier_score_from_logits, in TF ops."""
  logits = tf.constant(logits, tf.float64)
  p = tf.nn.softmax(logits)
  q = tf.reduce_mean(p, axis=0)
  kl = tf.reduce_sum(p * (tf.nn.log_softmax(logits) - tf.math.log(q)), axis=1)
  return float(tf.exp(tf.reduce_mean(kl)))


def test_is_of_uniform_predictions_is_one():
  mean, std = inception.inception_score_from_logits(np.zeros([40, 1008]), splits=10)
  assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_of_confident_evenly_spread_classes_is_the_number_of_classes():
  classes = np.tile(np.arange(5), 4)  # Each of the 2 splits holds every class twice.
  logits = 1000.0 * np.eye(7)[classes]
  mean, std = inception.inception_score_from_logits(logits, splits=2)
  assert mean == pytest.approx(5.0, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_is_matches_tfgan_formula_per_split():
  logits = np.random.default_rng(1).standard_normal([30, 11]) * 3
  mean, std = inception.inception_score_from_logits(logits, splits=1)
  assert mean == pytest.approx(_tfgan_score(logits), rel=1e-10) and std == 0.0
  parts = [_tfgan_score(part) for part in np.array_split(logits, 3)]
  mean, std = inception.inception_score_from_logits(logits, splits=3)
  assert mean == pytest.approx(np.mean(parts), rel=1e-10)
  assert std == pytest.approx(np.std(parts), rel=1e-8)


def test_is_rejects_more_splits_than_samples():
  with pytest.raises(ValueError, match="Expected 1 <= splits <= N = 3"):
    inception.inception_score_from_logits(np.zeros([3, 10]), splits=10)


def test_standin_hub_module_loads_and_sees_tfgan_preprocessing(standin_dir):
  network = inception.load_inception(standin_dir)
  assert network.matches_tfgan and network.name == "tfgan_inception"
  frames = np.full([2, 32, 48, 3], 0.5, np.float32)
  frames[1] = -1.0
  frames[1, :, :24] = 1.0
  out = network(frames)
  assert out["logits"].shape == (2, 1008) and out["pool_3"].shape == (2, 2048)
  pool = out["pool_3"].numpy()
  # [-1, 1] -> [0, 255] -> (x - 128) / 128, as TF-GAN's preprocess_image.
  np.testing.assert_allclose(pool[0, :3], (1.5 * 127.5 - 128) / 128, rtol=1e-6)
  assert pool[1, 3] == pytest.approx(-1.0) and pool[1, 4] == pytest.approx(127 / 128)


def test_accumulators_stream_pool_3_statistics_and_logits(standin_dir):
  network = inception.load_inception(standin_dir)
  rng = np.random.default_rng(2)
  real_videos = rng.uniform(-1, 1, [3, 4, 16, 16, 3]).astype(np.float32)
  fake_videos = np.clip(real_videos + 0.3, -1, 1)
  real = inception.InceptionAccumulator(network, batch_size=5).update(real_videos)
  again = inception.InceptionAccumulator(network, batch_size=12).update(
    real_videos.reshape(12, 16, 16, 3)
  )
  fake = inception.InceptionAccumulator(network).update(fake_videos)
  assert real.stats.n == 12 and real.logits.shape == (12, 1008)
  features = network(real_videos.reshape(-1, 16, 16, 3))["pool_3"].numpy().astype(np.float64)
  # Batching does not change the statistics, up to the float32 features' last bits: the
  # network's sums are blocked by batch size (1e-8 apart on features of 0.2 with TensorFlow's
  # own kernels on an AVX2 CPU).
  for stats in (real.stats, again.stats):
    np.testing.assert_allclose(stats.mean, features.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(stats.cov, np.cov(features, rowvar=False), rtol=1e-5, atol=1e-7)
  direct = network(fake_videos.reshape(-1, 16, 16, 3))["logits"].numpy()
  assert fake.inception_score(splits=3) == pytest.approx(
    inception.inception_score_from_logits(direct, splits=3), rel=1e-5
  )
  assert 1.0 <= fake.inception_score(splits=3)[0] <= 1008


def test_fid_is_the_frechet_distance_of_the_feature_gaussians():
  # Small dimensions: a 2048-d FID costs two 2048x2048 SVDs (tens of seconds on shared CPUs).
  rng = np.random.default_rng(3)
  a, b = rng.standard_normal([50, 4]), rng.standard_normal([60, 4]) * 1.5 + 0.2
  expected = frechet.frechet_distance(
    a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
  )
  fid = inception.frechet_inception_distance(
    frechet.GaussianStats().update(a), frechet.GaussianStats().update(b)
  )
  assert fid == pytest.approx(expected, rel=1e-9) and fid > 0.1


def test_missing_sources_raise_with_the_path(tmp_path):
  missing_dir = os.path.join(tmp_path, "no_such_inception")
  with pytest.raises(inception.InceptionUnavailableError, match="no_such_inception"):
    inception.load_inception(missing_dir)
  with pytest.raises(inception.InceptionUnavailableError, match="No saved_model.pb"):
    inception.load_inception(str(tmp_path))
  missing_h5 = os.path.join(tmp_path, "inception_v3_weights.h5")
  with pytest.raises(inception.InceptionUnavailableError, match="inception_v3_weights.h5"):
    inception.load_inception(missing_h5)


def test_handle_without_cache_and_downloads_disabled_raises(tmp_path, monkeypatch):
  monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
  with pytest.raises(inception.InceptionUnavailableError, match="downloads are disabled") as info:
    inception.load_inception(inception.INCEPTION_TFHUB, allow_download=False)
  assert str(tmp_path) in str(info.value) and inception.INCEPTION_TFHUB in str(info.value)


def test_keras_weights_file_gives_1000_logits_and_says_it_is_not_tfgan(tmp_path):
  import keras

  path = os.path.join(tmp_path, "inception_v3.weights.h5")
  keras.applications.InceptionV3(weights=None).save_weights(path)
  network = inception.load_inception(path)
  assert not network.matches_tfgan and network.name == "keras_inception_v3"
  out = network(np.zeros([1, 64, 64, 3], np.float32))
  assert out["logits"].shape == (1, 1000) and out["pool_3"].shape == (1, 2048)
