"""export.sample and export.animate: files written, sizes, seeds, and the error messages."""

import os
import re
import subprocess
import sys

from absl import flags
from absl.testing import flagsaver
import av
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import test_export_helpers as helpers

from export import animate as animate_lib
from export import export as export_lib
from export import preprocess
from export import sample as sample_lib
from trainers import cli as trainers_cli
from trainers.data import make_tfrecords
from trainers.data import video_io

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_mp4(path):
  with av.open(path) as container:
    return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def read_gif(path):
  with Image.open(path) as image:
    return image.n_frames, image.size


def run_cli(main, argv):
  with flagsaver.flagsaver():
    flags.FLAGS(["prog"] + argv)
    main(["prog"])


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli")
  two_stream = helpers.make_workdir(root / "two_stream", "test_export_two_stream")[0]
  image = helpers.make_workdir(root / "image", "test_export_image")[0]
  return {"two_stream": two_stream, "image": image}


def test_sample_cli_writes_mp4_and_gif(workdirs, tmp_path):
  out = str(tmp_path / "grid.mp4")
  run_cli(
    sample_lib.main, [f"--workdir={workdirs['two_stream']}", f"--out={out}", "--num=5", "--seed=1"]
  )
  # 5 clips of 8x8 -> 3 columns x 2 rows with 2-pixel padding: 22 x 32.
  frames = read_mp4(out)
  assert frames.shape == (helpers.T, 22, 32, 3)
  assert read_gif(str(tmp_path / "grid.gif")) == (helpers.T, (32, 22))
  # The file asked for is written as named: `--out=grid.GIF` wrote grid.gif.
  run_cli(sample_lib.main, [f"--workdir={workdirs['two_stream']}", f"--out={tmp_path}/up.GIF"])
  assert sorted(p.name for p in tmp_path.glob("up.*")) == ["up.GIF", "up.mp4"]
  # An animated WebP asked for takes the GIF's place.
  args = [f"--workdir={workdirs['two_stream']}", f"--out={tmp_path}/w.webp", "--num=5"]
  run_cli(sample_lib.main, args)
  assert sorted(p.name for p in tmp_path.glob("w.*")) == ["w.mp4", "w.webp"]
  assert video_io.read_video(str(tmp_path / "w.webp"))[0].shape == (helpers.T, 22, 32, 3)


def test_seeded_sampling_is_reproducible_and_ema_by_default(workdirs, tmp_path):
  wd = workdirs["two_stream"]
  a = sample_lib.write_samples(wd, str(tmp_path / "a.gif"), num=3, seed=3)["videos"]
  b = sample_lib.write_samples(wd, str(tmp_path / "b.gif"), num=3, seed=3)["videos"]
  c = sample_lib.write_samples(wd, str(tmp_path / "c.gif"), num=3, seed=4)["videos"]
  raw = sample_lib.write_samples(wd, str(tmp_path / "d.gif"), num=3, seed=3, ema=False)["videos"]
  np.testing.assert_array_equal(a, b)
  assert np.any(a != c)
  assert np.any(a != raw)
  assert a.shape == (3, helpers.T, helpers.H, helpers.W, 3)
  with open(tmp_path / "a.gif", "rb") as f1, open(tmp_path / "b.gif", "rb") as f2:
    assert f1.read() == f2.read()


def test_sample_streams_panel(workdirs, tmp_path):
  result = sample_lib.write_samples(
    workdirs["two_stream"], str(tmp_path / "grid.mp4"), num=4, streams=True
  )
  assert result["stream_paths"] == [
    str(tmp_path / "grid_streams.mp4"),
    str(tmp_path / "grid_streams.gif"),
  ]
  # Four panels (foreground, background, mask, composite) of a 2x2 grid (22 x 22), 4 apart.
  width = 4 * 22 + 3 * video_io.PANEL_PAD
  assert read_gif(str(tmp_path / "grid_streams.gif")) == (helpers.T, (width, 22))
  assert read_mp4(str(tmp_path / "grid_streams.mp4")).shape == (helpers.T, 22, width, 3)
  composite = result["panel"][:, :, -22:]
  np.testing.assert_array_equal(composite, result["grid"])


def test_sample_refuses_a_conditional_model(workdirs, tmp_path):
  with pytest.raises(ValueError, match="export.animate") as error:
    sample_lib.write_samples(workdirs["image"], str(tmp_path / "grid.mp4"))
  assert workdirs["image"] in str(error.value)
  with pytest.raises(ValueError, match="Expected --out to end in .mp4, .gif or .webp"):
    sample_lib.write_samples(workdirs["two_stream"], str(tmp_path / "grid.avi"))


@pytest.mark.parametrize("ext", [".mp4", ".gif", ".webp"])
def test_animate_odd_sized_png(workdirs, tmp_path, ext):
  photo = str(tmp_path / "photo.png")
  pixels = np.random.default_rng(0).integers(0, 256, (23, 37, 4), np.uint8)
  Image.fromarray(pixels).save(photo)  # RGBA on purpose: converted to RGB
  out = str(tmp_path / f"clip{ext}")
  run_cli(
    animate_lib.main,
    [f"--workdir={workdirs['image']}", f"--image={photo}", f"--out={out}", "--seed=2"],
  )
  if ext == ".mp4":
    assert read_mp4(out).shape == (helpers.T, helpers.H, helpers.W, 3)
  elif ext == ".gif":
    assert read_gif(out) == (helpers.T, (helpers.W, helpers.H))
  else:
    assert video_io.read_video(out)[0].shape == (helpers.T, helpers.H, helpers.W, 3)


def test_animate_seed_changes_the_clip(workdirs, tmp_path):
  photo = str(tmp_path / "photo.jpg")
  Image.fromarray(np.full((30, 20, 3), 128, np.uint8)).save(photo)
  a = animate_lib.animate_file(workdirs["image"], photo, str(tmp_path / "a.gif"), seed=0)
  b = animate_lib.animate_file(workdirs["image"], photo, str(tmp_path / "b.gif"), seed=0)
  c = animate_lib.animate_file(workdirs["image"], photo, str(tmp_path / "c.gif"), seed=1)
  np.testing.assert_array_equal(a, b)
  assert np.any(a != c)


def test_animate_errors_name_the_file_and_the_model_kind(workdirs, tmp_path):
  bad = str(tmp_path / "notes.png")
  with open(bad, "w") as f:
    f.write("not an image")
  with pytest.raises(ValueError, match="notes.png"):
    animate_lib.animate_file(workdirs["image"], bad, str(tmp_path / "clip.mp4"))
  with pytest.raises(ValueError, match="missing.jpg"):
    animate_lib.animate_file(
      workdirs["image"], str(tmp_path / "missing.jpg"), str(tmp_path / "clip.mp4")
    )
  photo = str(tmp_path / "photo.png")
  Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(photo)
  with pytest.raises(ValueError, match="unconditional|export.sample"):
    animate_lib.animate_file(workdirs["two_stream"], photo, str(tmp_path / "clip.mp4"))


def test_in_graph_and_eager_resize_agree():
  image = np.random.default_rng(1).integers(0, 256, (1, 31, 17, 3), np.uint8)
  graph_fn = tf.function(
    lambda x: preprocess.resize_and_crop(x, 8, 8),
    input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
  )
  eager = preprocess.resize_and_crop(image, 8, 8).numpy()
  in_graph = graph_fn(tf.constant(image)).numpy()
  assert eager.shape == (1, 8, 8, 3)
  assert np.abs(eager - in_graph).max() <= 2 / 255  # 1/255 of the [0, 255] range
  # A non-square target: the image must cover it, then the centre is cut.
  wide = preprocess.resize_and_crop(image, 4, 10).numpy()
  assert wide.shape == (1, 4, 10, 3) and np.abs(wide).max() <= 1.0


def test_cli_process_reports_a_bad_image(tmp_path):
  bad = str(tmp_path / "broken.jpg")
  with open(bad, "wb") as f:
    f.write(b"\x00" * 10)
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "export.animate",
      f"--workdir={tmp_path}",
      f"--image={bad}",
      f"--out={tmp_path / 'clip.mp4'}",
    ],
    capture_output=True,
    text=True,
    cwd=ROOT,
    env=env,
    timeout=300,
  )
  assert proc.returncode != 0
  assert "Expected an image file Pillow can read" in proc.stderr and "broken.jpg" in proc.stderr


@pytest.mark.parametrize("out", ["gs://bucket/exports", "file:///tmp/exports"])
def test_an_output_named_by_url_is_one_line_and_writes_nothing(
  workdirs, tmp_path, capsys, monkeypatch, out
):
  """The exports, the converter's shards and sampled clips are local files: a URL would have
  been written, silently, under a folder named `gs:` in the current directory, and reported
  under its URL."""
  monkeypatch.chdir(tmp_path)
  argv = ["export", f"--workdir={workdirs['two_stream']}", f"--out={out}", "--formats=saved_model"]
  with flagsaver.flagsaver(), pytest.raises(SystemExit) as info:
    trainers_cli.run(export_lib.main, argv=argv)
  assert info.value.code == trainers_cli.EXIT_USER_ERROR
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1] == (
    f"export: error: Expected --out to be a local path, received {out}: this program writes "
    "local files; copy them there afterwards (gcloud storage cp -r, gsutil -m cp -r)."
  )
  assert os.listdir(tmp_path) == []
  for flag in ("--output", "--out"):  # the converter's; sample, animate and from_mask's
    with pytest.raises(video_io.InputError, match=f"Expected {flag} to be a local path"):
      video_io.check_output_directory(out + "/clip.mp4", flag)
  with pytest.raises(video_io.InputError, match="Expected --input to name local files"):
    make_tfrecords.resolve_inputs(out + "/*.mp4")  # was "matching none", files or not
  listing = tmp_path / "videos.txt"  # was: each URL skipped as a missing file of the list's folder
  listing.write_text("# downloaded later\nhttps://example.com/a.mp4\nb.mp4\ngs://b/c.mp4\n")
  expected = (
    f"Expected {listing} to list local files, received 'https://example.com/a.mp4' on line 2 "
    "(2 such lines): copy them here first"
  )
  with pytest.raises(video_io.InputError, match=re.escape(expected)):
    make_tfrecords.resolve_inputs(str(listing))
  listing.unlink()
  assert os.listdir(tmp_path) == []


def test_export_to_an_existing_target_is_one_line(workdirs, tmp_path, capsys):
  out = tmp_path / "out"
  (out / "test_export_two_stream" / "1").mkdir(parents=True)
  argv = ["export", f"--workdir={workdirs['two_stream']}", f"--out={out}", "--formats=saved_model"]
  with flagsaver.flagsaver(), pytest.raises(SystemExit) as info:
    trainers_cli.run(export_lib.main, argv=argv)
  assert info.value.code == trainers_cli.EXIT_USER_ERROR
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith("export: error: Expected ") and "--overwrite" in err[-1], err
  assert not any("Traceback" in line for line in err)
  assert os.listdir(out / "test_export_two_stream" / "1") == []  # untouched
