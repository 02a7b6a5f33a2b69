"""trainers.eval.fvd with a stand-in I3D SavedModel built here (nothing is downloaded)."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import eval_helpers
from trainers.eval import frechet
from trainers.eval import fvd
from trainers.eval import hub_handles

stand_in = eval_helpers.stand_in_i3d  # a saved stand-in I3D module (fixture)


def _clips(n, seed=0):
  return np.random.RandomState(seed).randint(0, 256, size=(n, 2, 8, 8, 3)).astype(np.uint8)


def test_embeddings_independent_of_batching(stand_in):
  embedder = fvd.make_embedder("i3d", stand_in)
  assert embedder.name == "i3d" and fvd.metric_name(embedder) == "FVD"
  clips = _clips(37)
  results = []
  for size in (5, 16, 37):
    batches = (clips[i : i + size] for i in range(0, 37, size))
    out = fvd.embed_stream(embedder, batches, keep=True)
    assert out.count == 37 and out.stats.n == 37 and out.embeddings.shape == (37, 400)
    results.append(out.embeddings)
  np.testing.assert_array_equal(results[0], results[1])
  np.testing.assert_array_equal(results[0], results[2])
  # The same clips embedded directly, in groups of 16, agree with the stream.
  np.testing.assert_array_equal(embedder(clips[16:32]), results[0][16:32])


def test_max_clips_and_fvd(stand_in):
  embedder = fvd.HubI3DEmbedder(stand_in)
  real = fvd.embed_stream(embedder, [_clips(20, 1)], max_clips=18)
  assert real.count == 18 and real.stats.n == 18 and real.embeddings is None
  same = fvd.embed_stream(embedder, [_clips(20, 1)[:18]])
  assert fvd.compute_fvd(real.stats, same.stats) == pytest.approx(0.0, abs=1e-6)
  dark = fvd.embed_stream(embedder, [_clips(18, 2) // 8])
  assert fvd.compute_fvd(real.stats, dark.stats) > 1.0


def test_default_handle_resolves_from_tfhub_cache(stand_in, tmp_path, monkeypatch):
  monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
  monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)
  cached = hub_handles.tfhub_cache_path(fvd.I3D_HANDLE)
  assert os.path.dirname(cached) == str(tmp_path)
  shutil.copytree(stand_in, cached)
  module = fvd.load_i3d(allow_download=False)  # the default handle, from the cache only
  out = module.signatures["default"](tf.zeros([1, 2, 224, 224, 3]))["default"]
  assert out.shape == (1, 400)


@pytest.mark.parametrize(
  "spelling",
  [
    fvd.I3D_KAGGLE,
    "https://www.kaggle.com/models/" + fvd.I3D_KAGGLE,
    "https://www.kaggle.com/models/deepmind/i3d-kinetics/frameworks/tensorFlow2/variations/400"
    "/versions/1",
  ],
)
def test_kaggle_handle_resolves_from_kagglehub_cache_offline(
  stand_in, tmp_path, monkeypatch, spelling
):
  monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kh"))
  cached = tmp_path / "kh" / "models" / "deepmind" / "i3d-kinetics" / "tensorFlow2" / "400" / "1"
  assert hub_handles.kaggle_cache_path(hub_handles.kaggle_handle(spelling)) == str(cached)
  with pytest.raises(fvd.I3DUnavailableError, match="KAGGLEHUB_CACHE") as info:
    fvd.load_i3d(spelling, allow_download=False)
  assert str(cached) in str(info.value)  # the error names the folder to pre-fill
  shutil.copytree(stand_in, cached)
  module = fvd.load_i3d(spelling, allow_download=False)
  assert module.signatures["default"](tf.zeros([1, 2, 224, 224, 3]))["default"].shape == (1, 400)


def test_handle_kinds():
  assert hub_handles.kaggle_handle(fvd.I3D_HANDLE) is None  # a TF-Hub URL
  assert hub_handles.kaggle_handle("/models/i3d") is None  # a path
  assert hub_handles.kaggle_handle("a/b/c") is None  # too short for owner/model/fw/variation
  unversioned = hub_handles.kaggle_handle("deepmind/i3d-kinetics/tensorFlow2/400")
  assert unversioned and hub_handles.kaggle_cache_path(unversioned) is None
  with pytest.raises(hub_handles.UnavailableError, match="append /VERSION"):
    hub_handles.resolve(unversioned, allow_download=False)


def test_unavailable_errors(tmp_path, monkeypatch):
  missing = str(tmp_path / "no_i3d_here")
  with pytest.raises(fvd.I3DUnavailableError, match="--i3d=PATH") as info:
    fvd.load_i3d(missing)
  assert missing in str(info.value)
  monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
  with pytest.raises(fvd.I3DUnavailableError) as info:
    fvd.load_i3d(fvd.I3D_HANDLE, allow_download=False)
  assert fvd.I3D_HANDLE in str(info.value) and str(tmp_path / "cache") in str(info.value)
  (tmp_path / "not_a_model").mkdir()
  with pytest.raises(fvd.I3DUnavailableError, match="not_a_model"):
    fvd.load_i3d(str(tmp_path / "not_a_model"))


def test_resize_is_tf1_bilinear_without_half_pixel():
  frame = np.array([[-1.0, 0.5], [0.0, 1.0]], np.float32)
  video = np.repeat(frame[None, None, :, :, None], 3, axis=-1)  # [1, 1, 2, 2, 3]
  got = fvd.preprocess(video, resolution=(4, 4)).numpy()[0, 0, :, :, 0]
  # Output pixel i samples input coordinate i * 2 / 4 (clamped): 0, 0.5, 1, 1.5 -> 1.
  expected = np.array(
    [
      [-1.0, -0.25, 0.5, 0.5],
      [-0.5, 0.125, 0.75, 0.75],
      [0.0, 0.5, 1.0, 1.0],
      [0.0, 0.5, 1.0, 1.0],
    ],
    np.float32,
  )
  np.testing.assert_array_equal(got, expected)
  half_pixel = tf.image.resize(video[0], (4, 4), method="bilinear").numpy()[0, :, :, 0]
  assert not np.allclose(half_pixel, expected)  # the wrong function would fail above
  legacy = tf.compat.v1.image.resize_bilinear(video[0], (4, 4), align_corners=False)
  np.testing.assert_array_equal(legacy.numpy()[0, :, :, 0], expected)


def test_preprocess_uint8_mapping_and_range_check():
  video = np.zeros([1, 2, 3, 5, 3], np.uint8)
  video[:, 1] = 255
  out = fvd.preprocess(video).numpy()
  assert out.shape == (1, 2, 224, 224, 3) and out.dtype == np.float32
  assert np.all(out[:, 0] == -1.0) and np.all(out[:, 1] == 1.0)
  with pytest.raises(ValueError, match=r"in \[-1, 1\]"):
    fvd.preprocess(np.full([1, 1, 2, 2, 3], 255.0, np.float32))
  with pytest.raises(ValueError, match="rank 5"):
    fvd.preprocess(np.zeros([2, 2, 2, 3], np.uint8))


def test_names_and_registry():
  assert fvd.metric_name("r3d") == "FD-R3D" and fvd.metric_name("i3d_keras") == "FVD"
  # "i3d_keras" joins the list once trainers.eval.i3d_keras is imported (by another test).
  with pytest.raises(ValueError, match=r"\['i3d', (?:'i3d_keras', )?'r3d'\].*'nope'"):
    fvd.make_embedder("nope")
  assert (fvd.NUM_REAL_CLIPS, fvd.NUM_FAKE_CLIPS, fvd.NUM_FRAMES, fvd.FRAME_STRIDE) == (
    2048,
    2048,
    16,
    1,
  )
  assert isinstance(
    fvd.embed_stream(lambda v: np.ones([len(v), 2]), [_clips(3)]).stats, frechet.GaussianStats
  )
