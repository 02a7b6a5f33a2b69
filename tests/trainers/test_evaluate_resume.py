"""An evaluation that is stopped goes on from the clips it had embedded (trainers.evaluate's
ResumeFile and the sources' `start`), to the numbers of an evaluation never stopped."""

import logging
import os

import numpy as np
import pytest

import eval_helpers
import trainer_helpers
from trainers import evaluate
from trainers import loop
from trainers import workdir as workdir_lib
from trainers.data import synthetic
from trainers.data import video_io
from trainers.eval import sources

pytestmark = pytest.mark.usefixtures("one_blas_thread")
one_blas_thread = eval_helpers.one_blas_thread  # the fixture, used by pytestmark
stand_in = eval_helpers.stand_in_i3d  # a saved stand-in I3D module (fixture)

METRICS = "fvd,kvd,fd_r3d"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  """12 readable clips (6 frames, 16x16) as MP4 and GIF, and one broken file among them."""
  folder = tmp_path_factory.mktemp("videos")
  clips = synthetic.clips(7, range(12), 6, 16, 16)["video"]
  for i, clip in enumerate(clips):
    video_io.write_video(str(folder / f"clip_{i:02d}{'.gif' if i % 2 else '.mp4'}"), clip)
  (folder / "clip_05_broken.mp4").write_bytes(b"not a video" * 10)
  return str(folder)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("wd"))
  loop.run(trainer_helpers.tiny_config(steps=2), wd)
  return wd


@pytest.fixture
def save_every_batch(monkeypatch):
  monkeypatch.setattr(evaluate, "RESUME_SAVE_SECONDS", 0.0)


class StopAfter(sources.Source):
  """Another source's batches, raising KeyboardInterrupt (Ctrl-C) after `batches` of them."""

  def __init__(self, source, batches):
    super().__init__(source.spec)
    self.source, self.left = source, batches
    self.kind = source.kind

  def batches(self, *args, **kwargs):
    for batch in self.source.batches(*args, **kwargs):
      if self.left == 0:
        raise KeyboardInterrupt
      self.left -= 1
      yield batch

  def identity(self):
    return self.source.identity()

  def manifest(self):
    return self.source.manifest()


def _kwargs(stand_in, **more):
  return dict(
    num_videos=10,
    num_frames=4,
    height=8,
    width=8,
    batch_size=4,
    networks=evaluate.Networks(METRICS, i3d=stand_in, allow_download=False),
    **more,
  )


@pytest.mark.parametrize("stop", ["real", "fake"])
def test_a_stopped_evaluation_goes_on_to_the_same_numbers(
  folder, workdir, stand_in, tmp_path, save_every_batch, caplog, stop
):
  caplog.set_level(logging.INFO, logger="absl")
  kwargs = _kwargs(stand_in)
  whole = evaluate.evaluate(folder, workdir, METRICS, **kwargs)
  partial = str(tmp_path / "results_partial.npz")
  real, fake = sources.open_source(folder), sources.open_source(workdir)
  with pytest.raises(KeyboardInterrupt):
    evaluate.evaluate(
      StopAfter(real, 2) if stop == "real" else real,
      StopAfter(fake, 1) if stop == "fake" else fake,
      METRICS,
      resume_file=partial,
      **kwargs,
    )
  assert os.path.exists(partial)
  done = {"real": "real 8 clips", "fake": "real 10 clips, fake 4 clips"}[stop]
  real, fake = sources.open_source(folder), sources.open_source(workdir)
  again = evaluate.evaluate(
    real,
    fake,
    METRICS,
    resume_file=partial,
    **kwargs,
    out=str(tmp_path / "results.json"),
  )
  assert f"Going on from {partial}: {done}." in caplog.text
  for metric in ("fvd", "kvd", "fd_r3d"):
    assert again["metrics"][metric] == pytest.approx(whole["metrics"][metric], rel=1e-9, abs=1e-12)
  assert again["protocol"]["num_real_clips"] == 10 and again["protocol"]["num_fake_clips"] == 10
  # The clips passed over are in the manifest all the same: every file and the broken one.
  assert again["manifests"]["real"] == whole["manifests"]["real"]
  assert again["manifests"]["real"]["num_skipped"] == 1
  assert again["manifests"]["fake"]["num_clips"] == 10
  assert not os.path.exists(partial)  # complete: nothing left behind


def test_going_on_embeds_only_the_clips_left(
  folder, workdir, stand_in, tmp_path, save_every_batch, monkeypatch
):
  kwargs = _kwargs(stand_in)
  partial = str(tmp_path / "partial.npz")
  real, fake = sources.open_source(folder), sources.open_source(workdir)
  with pytest.raises(KeyboardInterrupt):
    evaluate.evaluate(real, StopAfter(fake, 2), METRICS, resume_file=partial, **kwargs)
  seen = []
  original = evaluate.Embeddings.update

  def counting(self, batch):
    seen.append(len(batch))
    return original(self, batch)

  monkeypatch.setattr(evaluate.Embeddings, "update", counting)
  evaluate.evaluate(folder, workdir, METRICS, resume_file=partial, **kwargs)
  assert seen == [2]  # fake clips 8 and 9: nothing of the real side, nothing before clip 8


def test_other_inputs_start_afresh_saying_why(
  folder, workdir, stand_in, tmp_path, save_every_batch, caplog
):
  kwargs = _kwargs(stand_in)
  partial = str(tmp_path / "partial.npz")
  with pytest.raises(KeyboardInterrupt):
    evaluate.evaluate(
      folder, StopAfter(sources.open_source(workdir), 1), METRICS, resume_file=partial, **kwargs
    )
  whole = evaluate.evaluate("synthetic:3", workdir, METRICS, **kwargs)
  again = evaluate.evaluate("synthetic:3", workdir, METRICS, resume_file=partial, **kwargs)
  assert f"Starting afresh: {partial} was saved by another evaluation" in caplog.text
  for metric in ("fvd", "kvd", "fd_r3d"):
    assert again["metrics"][metric] == whole["metrics"][metric]
  # A torn file is no better than none.
  with open(partial, "wb") as f:
    f.write(b"PK\x03\x04 not a whole file")
  evaluate.evaluate("synthetic:3", workdir, "fd_r3d", resume_file=partial, **kwargs)
  assert f"Starting afresh: {partial} is unreadable" in caplog.text


def test_a_file_rewritten_between_the_runs_changes_the_identity(folder, tmp_path):
  path = tmp_path / "a.mp4"
  clips = synthetic.clips(1, range(2), 4, 8, 8)["video"]
  video_io.write_video(str(path), clips[0])
  before = sources.FolderSource("f", [str(path)]).identity()
  assert before == sources.FolderSource("f", [str(path)]).identity()
  video_io.write_video(str(path), clips[1])
  os.utime(path, ns=(1, 1))  # a copy that kept an old time still differs in bytes or time
  assert sources.FolderSource("f", [str(path)]).identity() != before


def test_a_new_checkpoint_changes_a_workdir_identity(tmp_path):
  wd = str(tmp_path / "wd")
  loop.run(trainer_helpers.tiny_config(steps=1), wd)
  first = sources.open_source(wd).identity()
  assert first == sources.open_source(wd).identity()
  loop.run(trainer_helpers.tiny_config(steps=2), wd)
  assert sources.open_source(wd).identity() != first
  assert sources.open_source(wd, step=1).identity() == first


@pytest.mark.parametrize("start", [0, 4, 8, 10])
def test_sources_begin_at_a_clip(folder, workdir, start):
  spec = sources.ClipSpec(4, 1, 8, 8)
  for make in (
    lambda: sources.open_source(folder),
    lambda: sources.open_source(workdir, seed=2),
    lambda: sources.open_source("synthetic:1"),
  ):
    whole = np.concatenate(list(make().batches(10, 4, spec)))
    source = make()
    got = list(source.batches(10, 4, spec, start=start))
    assert source.count == 10
    if start == 10:
      assert got == []
    else:
      np.testing.assert_allclose(np.concatenate(got), whole[start:], atol=1e-6)


def test_a_conditional_generator_begins_at_its_conditions():
  c = trainer_helpers.tiny_config()
  c.model.generator.args.condition = "image"
  c.objective.condition = "first_frame"
  source = sources.GeneratorSource("tiny", workdir_lib.build_generator(c), c, seed=0)
  spec = sources.ClipSpec(4, 1, 8, 8)
  whole = np.concatenate(list(source.batches(9, 3, spec)))
  assert len(whole) == 9
  for start in (3, 6, 4):  # 4: not a whole batch, read and passed over
    got = np.concatenate(list(source.batches(9, 3, spec, start=start)))
    np.testing.assert_allclose(got, whole[start:], atol=1e-6)


def test_start_outside_the_request_is_refused(folder):
  with pytest.raises(ValueError, match="Expected 0 <= start <= num_videos \\(4\\), received 5"):
    next(sources.open_source(folder).batches(4, 2, sources.ClipSpec(4, 1, 8, 8), start=5))


def test_a_failed_save_is_logged_and_the_evaluation_goes_on(
  workdir, stand_in, tmp_path, save_every_batch, caplog
):
  blocked = tmp_path / "not_a_dir"
  blocked.write_text("a file where the folder should be")
  result = evaluate.evaluate(
    "synthetic:1",
    workdir,
    "fd_r3d",
    resume_file=str(blocked / "partial.npz"),
    **_kwargs(stand_in),
  )
  assert "Could not save the evaluation's progress" in caplog.text
  assert result["protocol"]["num_fake_clips"] == 10
