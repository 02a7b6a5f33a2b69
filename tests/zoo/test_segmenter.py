"""zoo.segmenter: the one loader of a user's segmentation SavedModel, on tiny models saved here."""

import numpy as np
import pytest
import tensorflow as tf

import segmenter_helpers
from zoo import segmenter as segmenter_lib


def painted(classes):
  """Frames [N, H, W, 3] painted in each class's colour (segmenter_helpers.COLOURS)."""
  return tf.gather(tf.constant(segmenter_helpers.COLOURS), classes)


@pytest.mark.parametrize("kind", ["scores", "ids", "signature_only"])
def test_scores_ids_and_signature_give_the_class_ids(tmp_path, kind):
  path = segmenter_helpers.save(
    tmp_path / kind, ids=kind == "ids", signature_only=kind == "signature_only"
  )
  segment = segmenter_lib.Segmenter(path)
  classes = tf.random.stateless_uniform([2, 5, 7], [3, 4], 0, 4, tf.int32)
  ids = segment(painted(classes))
  assert ids.dtype == tf.int32
  np.testing.assert_array_equal(ids.numpy(), classes.numpy())
  segment.check(8, 8, num_classes=4)


def test_refusals_name_the_path_and_the_shape(tmp_path):
  missing = str(tmp_path / "missing")
  with pytest.raises(
    segmenter_lib.SegmenterError,
    match="Expected a segmentation SavedModel directory, received .*missing",
  ):
    segmenter_lib.Segmenter(missing)
  not_callable = str(tmp_path / "empty")
  tf.saved_model.save(tf.Module(), not_callable)
  with pytest.raises(ValueError, match="Expected a callable SavedModel or a serving_default"):
    segmenter_lib.Segmenter(not_callable)
  halving = segmenter_lib.Segmenter(segmenter_helpers.save_resizing(tmp_path / "halving"))
  with pytest.raises(
    ValueError,
    match=r"halving.*given frames \[1, 8, 8, 3\] it returned "
    r"shape \[1, 4, 4, 3\]",
  ):
    halving.check(8, 8)
  many = segmenter_lib.Segmenter(segmenter_helpers.save(tmp_path / "many", num_classes=6))
  with pytest.raises(ValueError, match="many.* at most 4 classes .*received 6"):
    many.check(8, 8, num_classes=4)
