"""trainers.evaluate and trainers.eval.sources: sources, metrics, outputs, the CLI, periodic eval.

The I3D is a stand-in SavedModel built here with the TF-Hub module's calling convention, as in
test_eval_fvd.py; nothing is downloaded.
"""

from fractions import Fraction
import json
import logging
import os
import subprocess
import sys
from unittest import mock

from absl import flags
import av
import numpy as np
import pytest
import tensorflow as tf

import eval_helpers
import trainer_helpers
from trainers import evaluate
from trainers import loop
from trainers import workdir as workdir_lib
from trainers.data import synthetic
from trainers.data import video_io
from trainers.eval import fvd
from trainers.eval import sources

pytestmark = pytest.mark.usefixtures("one_blas_thread")
one_blas_thread = eval_helpers.one_blas_thread  # the fixture, used by pytestmark

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


stand_in = eval_helpers.stand_in_i3d  # a saved stand-in I3D module (fixture)


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
  """10 readable synthetic clips (6 frames, 20x24) as MP4 and GIF, one broken, one too short."""
  folder = tmp_path_factory.mktemp("videos")
  clips = synthetic.clips(5, range(11), 6, 20, 24)["video"]
  clips[:, :, :2, :2] = (np.arange(6) * 40)[None, :, None, None, None]  # no two frames alike
  for i in range(10):
    ext = ".gif" if i % 2 else ".mp4"
    video_io.write_video(str(folder / f"clip_{i:02d}{ext}"), clips[i])
  (folder / "clip_03_broken.mp4").write_bytes(b"not a video at all" * 10)
  video_io.write_gif(str(folder / "clip_04_short.gif"), clips[10][:2])
  return str(folder)


@pytest.fixture(scope="module")
def tiny_workdir(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("wd"))
  loop.run(trainer_helpers.tiny_config(steps=2, ema_decay=0.9), wd)
  return wd


SPEC = sources.ClipSpec(4, 1, 16, 16)


def test_folder_source_counts_unreadable_and_short_files(video_folder, caplog):
  source = sources.open_source(video_folder)
  assert isinstance(source, sources.FolderSource) and source.native_size() == (20, 24)
  clips = np.concatenate(list(source.batches(20, 4, SPEC)))
  assert clips.shape == (10, 4, 16, 16, 3) and clips.dtype == np.float32
  assert clips.min() >= -1.0 and clips.max() <= 1.0
  manifest = source.manifest()
  assert manifest["num_clips"] == 10 and manifest["num_skipped"] == 2
  assert sorted(os.path.basename(p) for p in manifest["skipped"]) == [
    "clip_03_broken.mp4",
    "clip_04_short.gif",
  ]
  assert (
    "Expected at least 4 frames"
    in manifest["skipped"][os.path.join(video_folder, "clip_04_short.gif")]
  )
  assert "clip_03_broken.mp4" in caplog.text
  assert manifest["files"][0].endswith("clip_00.mp4") and len(manifest["files"]) == 10


def test_a_video_named_as_downloads_are_with_wide_pixels_is_read_as_shown(tmp_path):
  # Before: the exact name was globbed ("[sar]" a character class: "nothing exists there"),
  # and the 24 stored columns of pixels twice as wide as tall were read as 24, not 48.
  shown = np.zeros((6, 32, 48, 3), np.uint8)
  shown[:, :, :24] = (255, 0, 0)
  shown[:, :, 24:] = (0, 0, 255)
  path = tmp_path / "clip [sar 2].mp4"
  with av.open(str(path), "w") as container:
    stream = container.add_stream("libx264", rate=8)
    stream.width, stream.height, stream.pix_fmt = 24, 32, "yuv420p"
    stream.codec_context.sample_aspect_ratio = Fraction(2, 1)
    for frame in shown[:, :, ::2]:  # the stored frame: every other column
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  source = sources.open_source(str(path))
  assert isinstance(source, sources.FolderSource) and source.native_size() == (32, 48)
  (clip,) = np.concatenate(list(source.batches(1, 1, sources.ClipSpec(4, 1, 16, 24))))
  expected = sources.resize_clips(shown[None, :4].astype(np.float32) / 127.5 - 1.0, 16, 24)[0]
  assert np.abs(clip - expected).mean() < 0.05, np.abs(clip - expected).mean()


def test_resize_rule_matches_the_pipeline():
  assert sources.cover_size(20, 24, 16, 16) == (16, 19)
  assert sources.cover_size(100, 200, 64, 32) == (64, 128)
  assert sources.cover_size(16, 16, 16, 16) == (16, 16)
  clip = np.linspace(-1, 1, 2 * 20 * 24 * 3, dtype=np.float32).reshape(1, 2, 20, 24, 3)
  out = sources.resize_clips(clip, 16, 16)
  assert out.shape == (1, 2, 16, 16, 3)
  np.testing.assert_array_equal(sources.resize_clips(clip, 20, 24), clip)  # untouched


def test_bad_source_names_it(tmp_path):
  missing = str(tmp_path / "nowhere")
  with pytest.raises(ValueError, match="--real.*nowhere"):
    sources.open_source(missing, flag="real")
  with pytest.raises(ValueError, match="synthetic:SEED"):
    sources.open_source("synthetic:abc")
  with pytest.raises(ValueError, match="--height and --width"):
    sources.resolve_clip_spec([sources.open_source("synthetic")], 4, 1)


def test_tfrecord_and_synthetic_sources(tmp_path):
  from trainers.data import format as record_format

  videos = synthetic.clips(1, range(5), 4, 16, 16)["video"]
  with tf.io.TFRecordWriter(str(tmp_path / "clips-00000-of-00001.tfrecord")) as w:
    for v in videos:
      w.write(record_format.encode_clip(v, fmt="png").SerializeToString())
  source = sources.open_source(str(tmp_path / "*.tfrecord"))
  assert source.kind == "tfrecord"
  got = np.concatenate(list(source.batches(8, 2, SPEC)))  # 5 records: the last batch is kept
  assert got.shape == (5, 4, 16, 16, 3)
  np.testing.assert_allclose(got, videos / 127.5 - 1.0, atol=1e-6)
  manifest = source.manifest()
  assert manifest["num_clips"] == 5 and len(manifest["files"]) == 1
  assert source.skips() == ""
  # Read at 8 frames, each 4-frame record is skipped, and the source says so.
  assert not list(source.batches(8, 2, sources.ClipSpec(8, 1, 16, 16)))
  path = str(tmp_path / "clips-00000-of-00001.tfrecord")
  assert source.skips() == f"records skipped as unusable: 5 in {path} (5 too_short)"
  synth = sources.open_source("synthetic:1")
  a = np.concatenate(list(synth.batches(6, 4, SPEC)))
  b = np.concatenate(list(synth.batches(6, 3, SPEC)))
  np.testing.assert_array_equal(a, b)
  assert "seed 1" in synth.manifest()["clips"]


def test_workdir_source_is_reproducible(tiny_workdir):
  source = sources.open_source(tiny_workdir, seed=3)
  assert isinstance(source, sources.WorkdirSource) and source.step == 2 and source.ema
  spec = sources.ClipSpec(4, 1, 8, 8)
  a = np.concatenate(list(source.batches(10, 4, spec)))
  assert a.shape == (10, 4, 8, 8, 3) and source.count == 10
  b = np.concatenate(list(sources.WorkdirSource(tiny_workdir, seed=3).batches(10, 3, spec)))
  np.testing.assert_allclose(a, b, atol=1e-6)  # clip k depends on (seed, k) only
  c = np.concatenate(list(sources.WorkdirSource(tiny_workdir, seed=4).batches(10, 4, spec)))
  assert np.abs(a - c).max() > 1e-3
  manifest = source.manifest()
  assert manifest["weights"] == "ema_generator" and "seed=[3, k]" in manifest["noise"]


def test_conditional_generator_takes_eval_conditions():
  c = trainer_helpers.tiny_config()
  c.model.generator.args.condition = "image"
  c.objective.condition = "first_frame"
  generator = workdir_lib.build_generator(c)
  source = sources.GeneratorSource("tiny", generator, c, seed=0)
  spec = sources.ClipSpec(4, 1, 8, 8)
  a = np.concatenate(list(source.batches(6, 4, spec)))
  b = np.concatenate(list(source.batches(6, 6, spec)))
  assert a.shape == (6, 4, 8, 8, 3)
  np.testing.assert_allclose(a, b, atol=1e-6)
  assert np.abs(a[0] - a[1]).max() > 1e-4  # different conditions, different clips
  assert source.manifest()["conditions"]["key"] == "first_frame"


# Eight clips of 4x16x16 a side, in batches of 4, nothing downloaded.
SMALL = dict(num_videos=8, num_frames=4, height=16, width=16, batch_size=4, allow_download=False)


def test_results_the_disk_refuses_are_in_the_one_line(video_folder, tmp_path):
  # Before: a full disk at --out ended in "Expected room on the disk to write ...", the
  # numbers of the whole evaluation only in a log line further up.
  import errno

  from trainers import errors

  def full(path, obj):
    raise OSError(errno.ENOSPC, "No space left on device", path)

  networks = evaluate.Networks("fd_r3d", allow_download=False)
  out = str(tmp_path / "results.json")
  with mock.patch.object(evaluate, "_write_json", full):
    with pytest.raises(errors.RunError) as error:
      evaluate.evaluate(video_folder, video_folder, "fd_r3d", out=out, networks=networks, **SMALL)
  assert str(error.value).startswith(
    f"Expected to write the results to {out}, failed: No space left on device (full disk). "
    "The results, not written: FD-R3D="
  )
  assert not os.path.exists(out)


def test_evaluate_fvd_zero_on_identical_sources_and_positive_when_shifted(
  video_folder, stand_in, tmp_path
):
  kwargs = dict(SMALL, i3d=stand_in)
  networks = evaluate.Networks("fvd,kvd,fd_r3d", i3d=stand_in, allow_download=False)
  out = str(tmp_path / "res" / "results.json")
  same = evaluate.evaluate(
    video_folder, video_folder, "fvd,kvd,fd_r3d", out=out, networks=networks, **kwargs
  )
  m = same["metrics"]
  assert m["fvd"] == pytest.approx(0.0, abs=1e-3) and m["fd_r3d"] == pytest.approx(0.0, abs=1e-3)
  assert same["names"] == {"fvd": "FVD", "kvd": "KVD", "fd_r3d": "FD-R3D"}
  clips = np.concatenate(list(sources.open_source(video_folder).batches(8, 8, SPEC)))
  shifted = sources.ArraySource("shifted", np.clip(clips * 0.5 - 0.4, -1, 1))
  diff = evaluate.evaluate(video_folder, shifted, "fvd,kvd,fd_r3d", networks=networks, **kwargs)
  assert diff["metrics"]["fvd"] > 1.0 and diff["metrics"]["fd_r3d"] > 1e-3
  assert diff["metrics"]["kvd"] > same["metrics"]["kvd"]
  # JSON with the protocol, and the manifests beside it.
  written = json.load(open(out))
  p = written["protocol"]
  assert (p["num_real_clips"], p["num_fake_clips"], p["num_frames"], p["frame_stride"]) == (
    8,
    8,
    4,
    1,
  )
  assert p["networks"]["i3d"]["weights"] == stand_in and p["networks"]["i3d"]["embedder"] == "i3d"
  assert "random" in p["networks"]["r3d"]["weights"]
  assert written["manifest_file"] == "results_manifest.json" and "manifests" not in written
  manifest = json.load(open(tmp_path / "res" / "results_manifest.json"))
  assert len(manifest["real"]["files"]) == 8 and manifest["real"]["num_skipped"] == 2


def test_too_few_clips_is_an_error_unless_allowed(video_folder):
  kwargs = dict(
    num_videos=12,
    num_frames=4,
    height=16,
    width=16,
    batch_size=4,
    networks=evaluate.Networks("fd_r3d"),
  )
  with pytest.raises(ValueError, match="Expected 12 clips.*received 10") as error:
    evaluate.evaluate("synthetic", video_folder, "fd_r3d", **kwargs)
  # Why, in the same line: before, only the count.
  broken = os.path.join(video_folder, "clip_03_broken.mp4")
  assert f"received 10 (2 video file(s) skipped, the first {broken}: " in str(error.value)
  result = evaluate.evaluate("synthetic", video_folder, "fd_r3d", allow_fewer=True, **kwargs)
  assert result["protocol"]["num_fake_clips"] == 10 and set(result["metrics"]) == {"fd_r3d"}


def test_metric_names_and_unknown_metrics():
  assert evaluate.parse_metrics("FD-R3D,fvd") == ("fvd", "fd_r3d")
  assert evaluate.NAMES["fd_r3d"] == "FD-R3D"
  with pytest.raises(ValueError, match="--metrics among.*'psnr'"):
    evaluate.parse_metrics("fvd,psnr")


# The CLI in a fresh process, with the tiny test networks registered (a workdir names them).
_RUN_CLI = (
  "import sys, trainer_helpers; from absl import app; from trainers import evaluate; "
  "evaluate.define_flags(); sys.argv[0] = 'evaluate'; app.run(evaluate.main)"
)


def _cli(*args):
  here = os.path.dirname(os.path.abspath(__file__))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join([here, ROOT]))
  return subprocess.run(
    [sys.executable, "-c", _RUN_CLI, *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )


def test_cli_without_i3d_exits_nonzero_and_writes_nothing(tmp_path):
  missing = str(tmp_path / "no_i3d_here")
  out = tmp_path / "results.json"
  proc = _cli(
    "--real=synthetic",
    "--fake=synthetic:1",
    "--metrics=fvd,fd_r3d",
    f"--i3d={missing}",
    f"--out={out}",
    "--num_videos=4",
    "--num_frames=4",
    "--height=16",
    "--width=16",
    "--noallow_download",
  )
  assert proc.returncode == 2, proc.stderr
  assert missing in proc.stderr and "--i3d=PATH" in proc.stderr
  assert '"fvd"' not in proc.stdout and not out.exists()
  assert not (tmp_path / "results_manifest.json").exists()


def test_cli_workdir_fake_writes_json_manifest_and_scalars(tiny_workdir, tmp_path, capsys, caplog):
  out = tmp_path / "r.json"
  fv = flags.FlagValues()
  evaluate.define_flags(fv)
  fv(
    [
      "evaluate",
      "--real=synthetic",
      f"--fake={tiny_workdir}",
      "--metrics=fd_r3d",
      "--num_videos=8",
      "--num_frames=4",
      "--batch_size=4",
      f"--out={out}",
    ]
  )
  with caplog.at_level(logging.INFO, logger="absl"):
    assert evaluate.run(fv) == 0
  printed = json.loads(capsys.readouterr().out)
  assert set(printed["metrics"]) == {"fd_r3d"} and printed["names"]["fd_r3d"] == "FD-R3D"
  assert printed["protocol"]["height"] == 8  # the generator's own size
  assert "fake: 8/8 clips" in caplog.text  # progress
  manifest = json.load(open(tmp_path / "r_manifest.json"))
  assert manifest["fake"]["checkpoint"].endswith("ckpt-2")
  assert "indices 0..7" in manifest["real"]["clips"]
  events = tf.io.gfile.glob(os.path.join(tiny_workdir, "eval", "events.*"))
  tags = {
    v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(e) for v in ev.summary.value
  }
  assert "eval/fd_r3d" in tags
  fv.unparse_flags()
  fv(["evaluate", "--real=synthetic", f"--fake={tmp_path / 'nothing'}", "--metrics=fd_r3d"])
  assert evaluate.run(fv) == 1
  assert "--fake" in capsys.readouterr().err


def test_a_workdir_that_cannot_be_written_still_prints_the_results(
  tiny_workdir, monkeypatch, capsys, caplog
):
  """Evaluating a workdir on a read-only mount (or another user's) computed every clip, then
  stopped in a PermissionDeniedError traceback writing metrics.json: the results were lost
  unless --out was given. Now the records are skipped with a warning and the results print."""

  def refuse(path, value):
    raise tf.errors.PermissionDeniedError(None, None, f"{path}.tmp; Read-only file system")

  monkeypatch.setattr(workdir_lib, "write_json", refuse)
  fv = flags.FlagValues()
  evaluate.define_flags(fv)
  fv(["evaluate", f"--workdir={tiny_workdir}", "--metrics=fd_r3d", "--num_videos=8"])
  with caplog.at_level(logging.WARNING, logger="absl"):
    assert evaluate.run(fv) == 0
  printed = json.loads(capsys.readouterr().out)
  assert printed["metrics"]["fd_r3d"] > 0
  assert "Could not record the results" in caplog.text and "Read-only" in caplog.text


def test_periodic_eval_defaults_to_fd_r3d_and_caches_real_stats(tmp_path, stand_in):
  c = trainer_helpers.tiny_config()
  c.eval.num_videos = 8
  assert evaluate.eval_metrics(c.eval) == ("fd_r3d",)
  clips = synthetic.clips(9, range(8), 4, 8, 8)["video"] / 127.5 - 1.0
  fake_fn = lambda n, b: (clips[i : i + b] for i in range(0, n, b))
  writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
  first = evaluate.periodic_eval(fake_fn, c, 10, writer, workdir=str(tmp_path))
  cached = tf.io.gfile.glob(str(tmp_path / "eval" / "real_stats_r3d_*.npz"))
  assert set(first) == {"fd_r3d"} and first["fd_r3d"] > 0 and len(cached) == 1
  os.utime(cached[0], (0, 0))
  second = evaluate.periodic_eval(fake_fn, c, 20, None, workdir=str(tmp_path))
  assert second == first and os.stat(cached[0]).st_mtime == 0  # read, not rewritten
  c.eval.i3d = str(tmp_path / "missing_i3d")
  assert evaluate.eval_metrics(c.eval) == ("fvd",)
  with pytest.raises(fvd.I3DUnavailableError, match="missing_i3d"):
    evaluate.periodic_eval(fake_fn, c, 30, None, workdir=str(tmp_path))
  c.eval.i3d = stand_in
  c.eval.metrics = ("fvd", "fd_r3d")
  values = evaluate.periodic_eval(fake_fn, c, 30, None, workdir=str(tmp_path))
  assert set(values) == {"fvd", "fd_r3d"} and values["fd_r3d"] == first["fd_r3d"]


def test_evaluate_workdir_records_metrics_that_reach_the_model_card(tiny_workdir, tmp_path):
  from export import export as export_lib

  fv = flags.FlagValues()
  evaluate.define_flags(fv)
  fv(
    [
      "evaluate",
      f"--workdir={tiny_workdir}",
      "--metrics=fd_r3d",
      "--num_videos=8",
      "--batch_size=4",
    ]
  )
  assert evaluate.run(fv) == 0
  record = workdir_lib.load_metrics(tiny_workdir)
  assert record["step"] == 2 and record["written_by"] == "trainers.evaluate"
  assert record["num_fake_clips"] == 8 and record["num_real_clips"] == 8
  assert record["networks"]["r3d"]["metrics"] == ["fd_r3d"]
  assert record["metrics"]["fd_r3d"] > 0 and record["date"].startswith("20")
  result = export_lib.export_workdir(tiny_workdir, str(tmp_path / "out"), formats=("hub",))
  with open(os.path.join(result["hub"]["path"], "README.md")) as f:
    card = f.read()
  assert f"| FD-R3D | {record['metrics']['fd_r3d']:.6g} | r3d (" in card, card
  assert "Evaluated at step 2" in card and "8 generated clips against 8 real" in card
  fv.unparse_flags()
  fv(["evaluate", f"--workdir={tiny_workdir}", f"--fake={tiny_workdir}"])
  assert evaluate.run(fv) == 1


def test_periodic_eval_of_a_trainer_records_metrics_in_its_workdir(tmp_path):
  c = trainer_helpers.tiny_config(steps=1)
  c.eval.num_videos = 8
  c.eval.batch_size = 4
  trainer = loop.Trainer(c, str(tmp_path))
  evaluate.periodic_eval(trainer, c, 5, None)
  record = workdir_lib.load_metrics(str(tmp_path))
  assert record["step"] == 5 and record["written_by"] == "periodic_eval"
  assert set(record["metrics"]) == {"fd_r3d"} and record["num_fake_clips"] == 8
