"""(Re)live Photos models through the one export path: a predictor's predict(frames, horizon)
(SavedModel, and TFLite with the LSTM unrolled into builtin ops), a conditional WGAN's
animate(image), and the segmentation model's animate(image, segmentation) and, with a
segmenter embedded, segment_and_animate(image) (SavedModel and TFLite), each verified for
parity in a fresh process by export.verify."""

import os

from ai_edge_litert import interpreter as litert
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import test_export_helpers as helpers

from export import animate as animate_lib
from export import export as export_lib
from export import signatures
from export import tflite
from export import verify
import segmenter_helpers
from trainers import config_files
from trainers import loop
from zoo import inputs as zoo_inputs
from zoo import segmenter as segmenter_lib


def trained_workdir(tmp_path, name, arg="smoke"):
  c = config_files.load(f"{name}:{arg}" if arg else name)
  c.train.steps = 1
  c.train.sample_every = 0
  c.objective.d_steps = 1
  wd = str(tmp_path / "wd")
  loop.run(c, wd)
  return wd


def test_lstm_predict_signature_and_tflite_parity(tmp_path):
  """The smoke LSTM's workdir (written as the trainer lays it out; the loop's own run is in
  tests/trainers/test_relive_training.py) through export_workdir."""
  args = config_files.load("relive_lstm:smoke").model.generator.args.to_dict()
  wd, _, _ = helpers.make_workdir(str(tmp_path / "wd"), "relive_lstm", **args)
  result = export_lib.export_workdir(
    wd, str(tmp_path / "out"), formats=("saved_model", "tflite"), tflite_variants=("float32",)
  )
  assert result["saved_model"]["verification"]["worst"] <= 1e-5
  assert result["tflite"]["verification"]["worst"] <= 1e-4
  assert result["tflite"]["verification"]["select_tf_ops"] == {"float32": []}  # builtin ops
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  assert sorted(loaded.signatures) == ["predict", "serving_default"]
  frames = np.zeros([1, 1, 16, 16, 3], np.uint8)
  out = loaded.signatures["predict"](frames=frames, horizon=tf.constant(3))
  assert tuple(out["video"].shape) == (1, 3, 16, 16, 3)
  assert out["video_uint8"].dtype == tf.uint8


def test_predict_signature_spec():
  from zoo import registry

  p = registry.build(
    "relive_cnn_next_frame", video_shape=(4, 16, 16, 3), encoder_widths=(4, 8), decoder_widths=(4,)
  )
  p(tf.zeros([1, 1, 16, 16, 3]))
  module = signatures.GeneratorModule(p)
  frames, horizon = module.predict.input_signature
  assert (frames.dtype, frames.shape.as_list(), horizon.dtype, horizon.shape.rank) == (
    tf.uint8,
    [None, 1, 16, 16, 3],
    tf.int32,
    0,
  )
  out = module.predict(tf.zeros([2, 1, 16, 16, 3], tf.uint8), tf.constant(5))
  assert tuple(out["video"].shape) == (2, 5, 16, 16, 3)  # beyond the training length too
  assert tflite.flex_ops(tflite.convert(p, "float32")[0]) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relive_conditional_wgan", "relive_convlstm"])
def test_other_relive_models_export(tmp_path, name):
  wd = trained_workdir(tmp_path, name)
  formats = ("saved_model",) if name == "relive_conditional_wgan" else ("saved_model", "tflite")
  result = export_lib.export_workdir(
    wd, str(tmp_path / "out"), formats=formats, tflite_variants=("float32",)
  )
  for fmt in formats:
    assert os.path.isdir(result[fmt]["path"])
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  assert ("animate" if name == "relive_conditional_wgan" else "predict") in loaded.signatures


@pytest.fixture(scope="module")
def segmentation_export(tmp_path_factory):
  """The smoke segmentation model (4 classes, 8x16x16) exported in every format with a
  4-class segmenter embedded: (result, EMA generator, Segmenter, workdir)."""
  root = tmp_path_factory.mktemp("relive_seg")
  args = config_files.load("relive_segmentation_conditional:smoke").model.generator.args
  wd, _, ema = helpers.make_workdir(
    str(root / "wd"), "relive_segmentation_conditional", **args.to_dict()
  )
  path = segmenter_helpers.save(root / "segmenter")
  result = export_lib.export_workdir(
    wd, str(root / "out"), tflite_variants=("float32", "int8"), segmenter=path
  )
  return result, ema, segmenter_lib.Segmenter(path), wd


def test_segmentation_export_parity_in_every_format(segmentation_export):
  result, ema, _, _ = segmentation_export
  saved = result["saved_model"]["verification"]
  assert saved["worst"] <= 1e-5
  for name in ("animate", "segment_and_animate"):  # tf.saved_model.load and a TF1 Session
    for via in ("", "[session]"):
      assert saved["max_abs_diff"][f"{name}{via}/video"] <= 1e-5
      assert saved["max_abs_diff"][f"{name}{via}/video_uint8"] <= 1
  assert saved["segmenter"].endswith("segmenter")
  assert result["hub"]["verification"]["worst"] <= 1e-5
  lite = result["tflite"]["verification"]
  assert lite["max_abs_diff"]["float32/video"] <= 1e-4
  assert lite["max_abs_diff"]["int8/video"] <= 0.1
  # Each variant twice: the generator's own two inputs, and the image alone with the
  # segmenter embedded (segment_and_animate), which also returns the segmentation it chose.
  keys = ["float32", "int8", "segment_and_animate_float32", "segment_and_animate_int8"]
  inputs = {
    k: s["serving_default"]["inputs"] for k, s in lite["fresh_process"]["signatures"].items()
  }
  assert inputs == {
    "float32": ["image", "segmentation"],
    "int8": ["image", "segmentation"],
    "segment_and_animate_float32": ["image"],
    "segment_and_animate_int8": ["image"],
  }
  assert {
    k: sorted(s["serving_default"]["outputs"])
    for k, s in lite["fresh_process"]["signatures"].items()
    if k.startswith("segment")
  } == {k: ["segmentation", "video"] for k in keys[2:]}
  assert lite["select_tf_ops"] == {k: [] for k in keys}
  assert sorted(lite["files"].values()) == sorted(
    f"relive_segmentation_conditional_{k}.tflite" for k in keys
  )
  assert lite["segmenter"] == saved["segmenter"]
  # float32: the whole chain, generator(image, segmenter(image)), and not one pixel of
  # another class; int8: the generator's part against its own segmentation, flips counted.
  assert lite["max_abs_diff"]["segment_and_animate_float32/video"] <= 1e-4
  assert lite["max_abs_diff"]["segment_and_animate_int8/video"] <= 0.1
  pixels = verify.BATCH * 16 * 16
  float32 = dict(lite["segment_and_animate"]["float32"])
  assert float32.pop("video_vs_float_chain") <= 1e-4
  assert float32 == {
    "flipped_pixels": 0,
    "pixels": pixels,
    "flipped_pixels_allowed": 0,
    "outputs_against": "generator(image, segmenter(image))",
  }
  assert lite["segment_and_animate"]["int8"]["flipped_pixels_allowed"] == "any (recorded)"
  assert 0 <= lite["segment_and_animate"]["int8"]["flipped_pixels"] <= pixels
  # The hub model is the generator alone: its variables, not the segmenter's.
  assert result["hub"]["verification"]["fresh_process"]["num_variables"] == len(ema.variables)
  with open(os.path.join(result["hub"]["path"], "README.md")) as f:
    card = f.read()
  assert "segmentation: int32 [B, 16, 16] class ids" in card and '"segmentation"' in card


def test_segmentation_signatures_build_the_one_hot_in_graph(segmentation_export):
  result, ema, segmenter, _ = segmentation_export
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  assert sorted(loaded.signatures) == ["animate", "segment_and_animate", "serving_default"]
  (image_spec,) = loaded.signatures["segment_and_animate"].structured_input_signature[1].values()
  assert (image_spec.dtype, image_spec.shape.as_list()) == (tf.uint8, [None, None, None, 3])
  specs = loaded.signatures["animate"].structured_input_signature[1]
  assert {k: (v.dtype, v.shape.as_list()) for k, v in specs.items()} == {
    "image": (tf.uint8, [None, None, None, 3]),
    "segmentation": (tf.int32, [None, None, None]),
  }
  assert list(loaded.signatures["serving_default"].structured_input_signature[1]) == ["image"]
  # The class ids go in; the one-hot is an op of the exported graph.
  library = loaded.signatures["animate"].graph.as_graph_def().library
  assert any(node.op == "OneHot" for f in library.function for node in f.node_def)
  rng = np.random.default_rng(1)
  photo = rng.integers(0, 256, (3, 16, 16, 3), np.uint8)
  ids = rng.integers(0, 4, (3, 16, 16), np.int32)
  served = loaded.signatures["animate"](image=photo, segmentation=ids)["video"].numpy()
  unit = zoo_inputs.uint8_to_unit(photo)  # a 16x16 photo is not resized
  keras_onehot = ema.encoder_input({"image": unit, "segmentation": ids})
  np.testing.assert_array_equal(keras_onehot[..., 3:].numpy(), tf.one_hot(ids, 4).numpy())
  keras_video = ema({"image": unit, "segmentation": ids}, training=False).numpy()
  assert served.shape == (3, 8, 16, 16, 3)
  assert np.abs(served - keras_video).max() <= 1e-5
  # segment_and_animate(image) is animate(image, the embedded segmenter's ids).
  segmented = loaded.signatures["segment_and_animate"](image=photo)["video"].numpy()
  again = loaded.signatures["animate"](image=photo, segmentation=segmenter(unit))["video"]
  assert np.abs(segmented - again.numpy()).max() <= 1e-6
  # The serving SavedModel holds the segmenter (its variable) beside the generator's variables.
  assert len(loaded.variables) == len(ema.variables)
  np.testing.assert_array_equal(
    loaded.segmenter.model.kernel.numpy(), segmenter_helpers.colour_kernel()
  )


def test_served_segmentation_refuses_bad_class_ids_and_sizes(segmentation_export):
  loaded = tf.saved_model.load(segmentation_export[0]["saved_model"]["path"])
  photo = np.zeros([1, 20, 30, 3], np.uint8)
  with pytest.raises(
    tf.errors.InvalidArgumentError, match=r"Expected segmentation class ids in \[0, 4\)"
  ):
    loaded.signatures["animate"](image=photo, segmentation=np.full([1, 20, 30], 4, np.int32))
  with pytest.raises(
    tf.errors.InvalidArgumentError,
    match="Expected a segmentation .B, h, w. of the same batch and size as the image",
  ):
    loaded.signatures["animate"](image=photo, segmentation=np.zeros([1, 20, 29], np.int32))


def test_animate_cli_runs_the_segmenter_like_the_export(segmentation_export, tmp_path):
  result, _, _, wd = segmentation_export
  photo_path = str(tmp_path / "photo.png")
  photo = np.random.default_rng(2).integers(0, 256, (21, 35, 3), np.uint8)
  Image.fromarray(photo).save(photo_path)
  segmenter_path = segmentation_export[2].path
  clip = animate_lib.animate_file(
    wd, photo_path, str(tmp_path / "clip.gif"), segmenter=segmenter_path
  )
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  served = loaded.signatures["segment_and_animate"](image=photo[None])["video_uint8"].numpy()
  assert clip.shape == (8, 16, 16, 3)
  assert np.abs(clip.astype(int) - served[0].astype(int)).max() <= 1
  with pytest.raises(ValueError, match="Expected --segmenter=PATH .* received none"):
    animate_lib.animate_file(wd, photo_path, str(tmp_path / "clip.mp4"))


def test_segmenter_refusals_name_the_model_and_the_path(segmentation_export, tmp_path):
  wd = segmentation_export[3]
  other, _, _ = helpers.make_workdir(str(tmp_path / "image"), "test_export_image")
  segmenter_path = segmentation_export[2].path
  with pytest.raises(
    ValueError,
    match="Expected --segmenter only for a generator that reads a "
    "segmentation .*received 'test_export_image'",
  ):
    export_lib.export_workdir(other, str(tmp_path / "out"), segmenter=segmenter_path)
  with pytest.raises(
    segmenter_lib.SegmenterError,
    match="Expected a segmentation SavedModel directory, received .*nowhere",
  ):
    export_lib.export_workdir(wd, str(tmp_path / "out"), segmenter=str(tmp_path / "nowhere"))
  six = segmenter_helpers.save(tmp_path / "six", num_classes=6)
  with pytest.raises(ValueError, match="six.*at most 4 classes"):
    export_lib.export_workdir(wd, str(tmp_path / "out"), segmenter=six)
  assert not os.path.exists(tmp_path / "out")  # refused before anything was written


def _lite_runner(result, key):
  path = os.path.join(result["tflite"]["path"], f"relive_segmentation_conditional_{key}.tflite")
  return litert.Interpreter(model_path=path).get_signature_runner()


def test_segment_and_animate_tflite_is_the_generator_on_the_segmenters_ids(segmentation_export):
  """The embedded float32 .tflite, run here on a photo painted in the 4 classes' colours:
  its segmentation is the segmenter's, its clip the Keras generator's on those ids."""
  result, ema, segmenter, _ = segmentation_export
  image = np.zeros([1, 16, 16, 3], np.float32)
  for k, (rows, cols) in enumerate([(0, 0), (0, 8), (8, 0), (8, 8)]):
    image[0, rows : rows + 8, cols : cols + 8] = segmenter_helpers.COLOURS[k]
  image += np.random.default_rng(3).uniform(-0.2, 0.2, image.shape).astype(np.float32)
  out = _lite_runner(result, "segment_and_animate_float32")(image=image)
  ids = segmenter(image).numpy()
  assert sorted(np.unique(ids)) == [0, 1, 2, 3]
  assert out["segmentation"].dtype == np.int32
  np.testing.assert_array_equal(out["segmentation"], ids)
  keras_video = ema({"image": image, "segmentation": ids}, training=False).numpy()
  assert out["video"].shape == (1, 8, 16, 16, 3)
  assert np.abs(out["video"] - keras_video).max() <= 1e-4


def test_segment_and_animate_rule_per_variant(segmentation_export):
  """export.verify's rule, on made-up outputs: a quantized variant whose segmenter chose
  another class at 2 pixels passes when its clip is the generator's on its own ids (the 2
  recorded); float32 fails on the same ids; ids out of range and a clip off the bound fail."""
  _, ema, segmenter, _ = segmentation_export
  job = verify.tflite_job({}, ema, {"float32": "f.tflite", "int8": "i.tflite"}, segmenter)
  image = job.cases[0][1]["image"]
  ids = segmenter(image).numpy()
  flipped = ids.copy()
  flipped[0, :2, 0] = (ids[0, :2, 0] + 1) % 4
  own = {
    k: v.numpy()
    for k, v in signatures.outputs(
      ema, {"image": tf.constant(image), "segmentation": tf.constant(flipped)}
    ).items()
  }

  def judge(int8_shift=0.01, int8_ids=flipped):
    outputs = {f"segment_and_animate_float32/{k}": v for k, v in own.items()}
    outputs.update({f"segment_and_animate_int8/{k}": v + int8_shift for k, v in own.items()})
    outputs["segment_and_animate_float32/segmentation"] = flipped
    outputs["segment_and_animate_int8/segmentation"] = int8_ids
    outputs = {f"tflite:{k}": v for k, v in outputs.items()}  # the child's "<job id>:" keys
    return verify._judge(job, outputs, {}, [])

  result, problems = judge()
  assert result["segment_and_animate"]["int8"]["flipped_pixels"] == 2
  assert result["segment_and_animate"]["float32"]["flipped_pixels"] == 2
  assert abs(result["max_abs_diff"]["segment_and_animate_int8/video"] - 0.01) < 1e-6
  assert not [p for p in problems if "int8" in p]
  assert (
    f"segment_and_animate_float32/segmentation: expected the segmenter's classes, "
    f"received another class at 2 of {ids.size} pixels"
  ) in problems
  assert any(
    "segment_and_animate_int8/video: max |diff| 0.2 > bound 0.1" in p
    for p in judge(int8_shift=0.2)[1]
  )
  assert (
    "segment_and_animate_int8/segmentation: expected class ids in [0, 4), received [4, 4]"
  ) in judge(int8_ids=np.full_like(ids, 4))[1]


def test_segmenter_without_builtin_ops_is_refused_naming_path_and_ops(
  segmentation_export, tmp_path
):
  wd = segmentation_export[3]
  path = segmenter_helpers.save_cumprod(tmp_path / "cumprod_seg")
  with pytest.raises(
    tflite.SegmenterConversionError,
    match=r"Expected the segmenter '.*cumprod_seg' to convert to TFLite builtin "
    r"ops, to be embedded in the segment_and_animate float32 model; received "
    r"Select TF ops Cumprod\. Export the \.tflite files without --segmenter",
  ):
    export_lib.export_workdir(
      wd, str(tmp_path / "out"), formats=("tflite",), tflite_variants=("float32",), segmenter=path
    )
  assert not os.path.exists(tmp_path / "out")  # all or nothing: the staging is gone


def test_quantized_segmenter_flips_are_recorded_and_the_generator_part_verified(
  segmentation_export, tmp_path
):
  """A segmenter that int8 really quantizes: its argmax flips at a few pixels, the export
  still verifies (the clip against the generator on the model's own ids) and records them.

  It asserts that at least one pixel flips with TF 2.21's int8 quantizer: a release that
  quantizes this segmenter differently can fail it with nothing broken (then pick a
  segmenter that flips again).
  """
  path = segmenter_helpers.save_hidden(tmp_path / "hidden")
  result = export_lib.export_workdir(
    segmentation_export[3],
    str(tmp_path / "out"),
    formats=("tflite",),
    tflite_variants=("float32", "int8"),
    segmenter=path,
  )
  lite = result["tflite"]["verification"]
  seg = lite["segment_and_animate"]
  assert seg["float32"]["flipped_pixels"] == 0
  assert seg["int8"]["flipped_pixels"] > 0  # measured 3 of 512 (TF 2.21)
  assert lite["max_abs_diff"]["segment_and_animate_int8/video"] <= 0.1
  # Why the float chain is no reference for int8: 3 flipped pixels moved the clip by 2e-2,
  # eight times what the weights' rounding did (3e-3).
  assert (
    seg["int8"]["video_vs_float_chain"] > lite["max_abs_diff"]["segment_and_animate_int8/video"]
  )
