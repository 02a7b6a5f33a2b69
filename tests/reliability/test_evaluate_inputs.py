"""trainers.evaluate checks every input before it generates a single fake clip."""

import numpy as np
import pytest

from trainers import evaluate
from trainers.eval import sources


class _NeverAsked(sources.ArraySource):
  """A fake source that fails the test if a clip is asked of it."""

  def _batches(self, num_videos, batch_size, clip_spec):
    raise AssertionError("a fake clip was generated before the inputs were checked")


def test_too_few_real_clips_fail_before_any_fake_clip():
  real = sources.ArraySource("two clips", np.zeros([2, 4, 16, 16, 3], np.float32))
  fake = _NeverAsked("fake", np.zeros([4, 4, 16, 16, 3], np.float32))
  with pytest.raises(ValueError, match="Expected 4 clips from --real='two clips', received 2"):
    evaluate.evaluate(
      real,
      fake,
      "fd_r3d",
      num_videos=4,
      num_frames=4,
      height=16,
      width=16,
      batch_size=2,
      networks=evaluate.Networks("fd_r3d"),
    )
