"""export.export / export.verify: layouts, signatures, parity per format, failure handling.

One export per model kind: the two-stream generator in every format and TFLite variant,
the image-conditioned one as saved_model + hub + float32 TFLite under a custom name and
version (both module-scoped fixtures), the mask-conditioned one as saved_model + hub with
the hub check made to fail. Each export is verified by one fresh process.
"""

import json
import os

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest
import tensorflow as tf
import test_export_helpers as helpers

from export import export as export_lib
from export import model_card
from export import preprocess
from export import signatures
from export import verify
from trainers import workdir as workdir_lib
from zoo import inputs as zoo_inputs

TWO_STREAM_OUTPUTS = {"video", "video_uint8", "foreground", "background", "mask"}


def _listing(root):
  return [
    os.path.relpath(os.path.join(d, n), root)
    for d, dirs, files in os.walk(root)
    for n in dirs + files
  ]


def _load_json(path):
  with open(path) as f:
    return json.load(f)


@pytest.fixture(scope="module")
def two_stream(tmp_path_factory):
  root = tmp_path_factory.mktemp("two_stream")
  workdir, generator, ema = helpers.make_workdir(root / "wd", "test_export_two_stream")
  out = str(root / "out")
  results = export_lib.export_workdir(workdir, out)
  return {"out": out, "results": results, "generator": generator, "ema": ema, "workdir": workdir}


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
  # Through the CLI's flags, reading the results back from the verification.json files.
  root = tmp_path_factory.mktemp("image")
  workdir, generator, ema = helpers.make_workdir(root / "wd", "test_export_image")
  out = str(root / "out")
  with flagsaver.flagsaver():
    flags.FLAGS(
      [
        "export",
        f"--workdir={workdir}",
        f"--out={out}",
        "--name=animator",
        "--version=3",
        "--formats=saved_model,hub,tflite",
        "--tflite_variants=float32",
      ]
    )
    export_lib.main(["export"])
  paths = export_lib.destinations(out, "animator", 3)
  results = {
    fmt: {"path": path, "verification": _load_json(os.path.join(path, "verification.json"))}
    for fmt, path in paths.items()
    if fmt in ("saved_model", "hub", "tflite")
  }
  return {"out": out, "results": results, "generator": generator, "ema": ema, "workdir": workdir}


def test_layout_is_tf_serving_and_nothing_temporary_remains(two_stream, image_model):
  out = two_stream["out"]
  name = "test_export_two_stream"
  assert two_stream["results"]["saved_model"]["path"] == os.path.join(out, name, "1")
  assert os.path.isfile(os.path.join(out, name, "1", "saved_model.pb"))
  assert os.path.isdir(os.path.join(out, name, "1", "variables"))
  assert os.path.isfile(os.path.join(out, "hub", name, "1", "saved_model.pb"))
  assert os.path.isfile(os.path.join(out, "hub", name, "1", "README.md"))
  for variant in ("float32", "float16", "int8"):
    assert os.path.isfile(os.path.join(out, "tflite", name, "1", f"{name}_{variant}.tflite"))
  assert os.path.isfile(os.path.join(out, "keras", name, "1", f"{name}.keras"))
  assert sorted(two_stream["results"]) == sorted(export_lib.FORMATS)
  for result in two_stream["results"].values():
    assert os.path.isfile(os.path.join(result["path"], "verification.json"))
  assert os.path.isfile(os.path.join(image_model["out"], "animator", "3", "saved_model.pb"))
  for root in (out, image_model["out"]):
    assert not [p for p in _listing(root) if ".tmp" in p]


def test_saved_model_parity_signatures_and_outputs(two_stream):
  result = two_stream["results"]["saved_model"]["verification"]
  assert result["passed"] and result["worst"] <= 1e-5
  # Through tf.saved_model.load and through a TF1 Session, as TF Serving loads it.
  assert set(result["max_abs_diff"]) == {
    f"{s}{via}/{k}"
    for s in ("sample", "sample_seeded")
    for via in ("", "[session]")
    for k in TWO_STREAM_OUTPUTS
  }
  seen = result["fresh_process"]["signatures"]
  assert set(seen) == {"sample", "sample_seeded", "serving_default"}
  for name in seen:
    assert set(seen[name]["outputs"]) == TWO_STREAM_OUTPUTS
  assert seen["sample"]["inputs"] == {"z": ["float32", [None, 16]]}
  assert seen["sample_seeded"]["inputs"] == {"seed": ["int64", []], "batch_size": ["int32", []]}
  assert seen["sample"]["outputs"]["video_uint8"][0] == "uint8"
  on_disk = _load_json(
    os.path.join(two_stream["results"]["saved_model"]["path"], "verification.json")
  )
  assert on_disk["max_abs_diff"] == result["max_abs_diff"]
  assert on_disk["ema_weights"] and on_disk["step"] == 7


def test_saved_model_holds_the_ema_weights(two_stream):
  loaded = tf.saved_model.load(two_stream["results"]["saved_model"]["path"])
  z = helpers.fixed_z(two_stream["ema"])
  served = loaded.signatures["sample"](z=tf.constant(z))["video"].numpy()
  np.testing.assert_allclose(served, two_stream["ema"](z).numpy(), atol=1e-5)
  assert np.abs(served - two_stream["generator"](z).numpy()).max() > 1e-3
  seeded = loaded.signatures["sample_seeded"](
    seed=tf.constant(3, tf.int64), batch_size=tf.constant(2)
  )
  z3 = zoo_inputs.noise(two_stream["ema"], 2, tf.constant([3, 0], tf.int64))
  np.testing.assert_allclose(seeded["video"].numpy(), two_stream["ema"](z3).numpy(), atol=1e-5)


def test_hub_load_and_keras_layer_match_keras(two_stream):
  result = two_stream["results"]["hub"]["verification"]
  assert result["passed"]
  assert result["max_abs_diff"]["hub_load/video"] <= 1e-5
  assert result["max_abs_diff"]["keras_layer/video"] <= 1e-5
  process = result["fresh_process"]
  assert process["keras_layer_module"].startswith("tf_keras")
  assert process["num_regularization_losses"] == 0
  assert process["num_variables"] == len(two_stream["ema"].variables)
  assert process["project_modules"] == []


def test_hub_variables_are_the_ones_call_reads(two_stream):
  # Fine-tuning through hub.KerasLayer(trainable=True) needs gradients for every listed
  # variable: a saved copy that __call__ does not read would get None.
  loaded = tf.saved_model.load(two_stream["results"]["hub"]["path"])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(loaded(tf.constant(helpers.fixed_z(two_stream["ema"]))))
  grads = tape.gradient(loss, loaded.trainable_variables)
  assert len(grads) == len(two_stream["ema"].trainable_variables)
  assert all(g is not None for g in grads)


def test_model_card(two_stream):
  with open(os.path.join(two_stream["results"]["hub"]["path"], "README.md")) as f:
    card = f.read()
  assert "`test_export_two_stream` (TwoStreamGenerator)" in card
  assert "Paper: Test stand-in for a VGAN-like two-stream generator" in card
  assert "Data: `synthetic`" in card
  assert "Steps: 7" in card
  assert "Not evaluated" in card
  assert "EMA (decay 0.999)" in card


def test_model_card_lists_metrics(tmp_path):
  workdir, generator, _ = helpers.make_workdir(
    tmp_path / "wd", "test_export_mask", step=12, metrics={"fvd": 123.5, "is": 2.5}
  )
  config = workdir_lib.load_config(workdir)
  path = os.path.join(workdir, "checkpoints", "ckpt-12")
  card = model_card.render(generator, config, path, workdir, "masks", ema=False)
  assert "| fvd | 123.5 | - |" in card and "| is | 2.5 | - |" in card
  assert "Evaluated at step 12" in card and "16 generated clips" in card
  assert "not to the exported" not in card
  assert "Steps: 12" in card and "raw generator" in card
  assert "8 fps (the source videos' rate" in card  # synthetic data
  assert "Not evaluated" not in card


def test_tflite_parity_per_variant(two_stream):
  result = two_stream["results"]["tflite"]["verification"]
  figures = result["max_abs_diff"]
  assert result["passed"]
  for key in ("video", "foreground", "background", "mask"):
    assert 0 <= figures[f"float32/{key}"] <= 1e-4  # a NaN would fail both comparisons
    assert figures[f"float16/{key}"] <= 2e-2
    assert figures[f"int8/{key}"] <= 0.1
  # The int8 variant really is quantized (its dense kernels exceed 1024 elements).
  assert figures["int8/video"] > 1e-5
  assert result["select_tf_ops"] == {"float32": [], "float16": [], "int8": []}
  runner_sigs = result["fresh_process"]["signatures"]["float32"]
  assert set(runner_sigs["serving_default"]["outputs"]) == TWO_STREAM_OUTPUTS - {"video_uint8"}


def test_image_model_signatures_and_in_graph_resize(image_model):
  result = image_model["results"]["saved_model"]["verification"]
  assert result["passed"] and result["worst"] <= 1e-5
  seen = result["fresh_process"]["signatures"]
  assert set(seen) == {"animate", "animate_seeded", "serving_default"}
  assert seen["animate"]["inputs"] == {"image": ["uint8", [None, None, None, 3]]}
  assert set(seen["animate_seeded"]["inputs"]) == {"image", "seed"}
  assert set(seen["animate"]["outputs"]) == {"video", "video_uint8"}
  hub_result = image_model["results"]["hub"]["verification"]
  assert hub_result["max_abs_diff"]["keras_layer/video"] <= 1e-5  # dict inputs {z, image}
  assert image_model["results"]["tflite"]["verification"]["max_abs_diff"]["float32/video"] <= 1e-4


def test_served_animate_equals_eager_preprocessing(image_model, tmp_path):
  loaded = tf.saved_model.load(image_model["results"]["saved_model"]["path"])
  image = np.random.default_rng(0).integers(0, 256, (1, 21, 13, 3), np.uint8)
  served = loaded.signatures["animate"](image=tf.constant(image))["video"].numpy()
  g = image_model["ema"]
  condition = preprocess.resize_and_crop(image, 8, 8)
  z = zoo_inputs.noise(g, 1, tf.constant([0, 0], tf.int64))
  np.testing.assert_allclose(served, g({"z": z, "image": condition}).numpy(), atol=1e-5)


@pytest.mark.parametrize(
  "name, expected",
  [
    ("test_export_two_stream", ("sample", "sample_seeded")),
    ("test_export_image", ("animate", "animate_seeded")),
    ("test_export_mask", ("from_mask",)),
    ("test_export_frames", ("predict",)),
  ],
)
def test_signatures_chosen_by_condition(name, expected):
  generator = helpers.GENERATORS[name]()
  generator(zoo_inputs.generator_inputs(generator, 1, tf.constant([0, 0])))
  module = signatures.GeneratorModule(generator)
  sigs = module.signatures()
  assert set(sigs) == set(expected) | {"serving_default"}
  for fn in sigs.values():
    keys = set(fn.get_concrete_function().structured_outputs)
    extra = {"foreground", "background", "mask"} if name.endswith("two_stream") else set()
    assert keys == {"video", "video_uint8"} | extra


def test_corrupted_saved_model_fails_verification_with_figures(two_stream, tmp_path):
  original = two_stream["ema"]
  corrupted = helpers.TwoStreamGenerator()
  corrupted(helpers.fixed_z(original))
  corrupted.set_weights(original.get_weights())
  kernel = corrupted.bg_dense.kernel
  kernel.assign(kernel + 0.5)
  path = str(tmp_path / "corrupted")
  signatures.save_serving(signatures.GeneratorModule(corrupted), path)
  with pytest.raises(verify.VerificationError) as error:
    verify.verify_saved_model(path, original)
  message = str(error.value)
  assert "sample/background: max |diff|" in message and "> bound 1e-05" in message
  assert "All figures" in message


def test_nan_outputs_fail_the_comparison():
  figures, problems = verify.compare(
    {"video": np.zeros((1, 2), np.float32)}, {"video": np.array([[np.nan, 0.0]], np.float32)}, 1e-4
  )
  assert problems and "non-finite" in problems[0]
  assert np.isnan(figures["video"])


def test_failed_verification_leaves_nothing_under_the_final_names(tmp_path, monkeypatch):
  # The mask model's saved_model passes (its figures are checked below); its hub artefact
  # is made to fail with an impossible bound: the export is all or nothing.
  workdir, _, _ = helpers.make_workdir(tmp_path / "wd", "test_export_mask")
  out = tmp_path / "out"
  monkeypatch.setitem(verify.BOUNDS, "hub", -1.0)
  with pytest.raises(verify.VerificationError) as error:
    export_lib.export_workdir(workdir, str(out), formats=["saved_model", "hub"])
  message = str(error.value)
  assert "hub_load/video: max |diff| 0 > bound -1" in message
  assert "All figures (max |artefact - Keras|)" in message
  assert "Verification of the saved_model" not in message
  assert not os.path.exists(out / "test_export_mask" / "1")
  assert not os.path.exists(out / "hub" / "test_export_mask" / "1")
  assert not out.exists() or _listing(out) == []
  passed = error.value.results["saved_model"]
  assert passed["passed"] and passed["worst"] <= 1e-5
  seen = passed["fresh_process"]["signatures"]
  assert set(seen) == {"from_mask", "serving_default"}
  assert seen["from_mask"]["inputs"] == {"mask": ["int32", [None, 8, 8]]}
  assert set(seen["from_mask"]["outputs"]) == {"video", "video_uint8"}
  assert set(passed["max_abs_diff"]) == {
    "from_mask/video",
    "from_mask/video_uint8",
    "from_mask[session]/video",
    "from_mask[session]/video_uint8",
  }


def test_staged_dir_renames_on_success_and_cleans_on_failure(tmp_path):
  destination = tmp_path / "model" / "1"
  with pytest.raises(RuntimeError):
    with export_lib.staged_dir(str(destination)) as staging:
      open(os.path.join(staging, "half.pb"), "w").close()
      raise RuntimeError("simulated crash while writing")
  assert not (tmp_path / "model").exists()
  with export_lib.staged_dir(str(destination)) as staging:
    open(os.path.join(staging, "saved_model.pb"), "w").close()
  assert os.listdir(destination) == ["saved_model.pb"]
  with pytest.raises(FileExistsError, match="--overwrite"):
    with export_lib.staged_dir(str(destination)):
      pass


def test_bad_flags_are_named(two_stream, tmp_path):
  with pytest.raises(ValueError, match="Expected --formats from"):
    export_lib.export_workdir(two_stream["workdir"], str(tmp_path), formats=["onnx"])
  with pytest.raises(ValueError, match="Expected --tflite_variants from"):
    export_lib.export_workdir(two_stream["workdir"], str(tmp_path), tflite_variants=["int4"])
  with pytest.raises(FileExistsError, match="not to exist"):
    export_lib.export_workdir(two_stream["workdir"], two_stream["out"], formats=["saved_model"])
  with pytest.raises(FileNotFoundError, match="step 999"):
    export_lib.export_workdir(two_stream["workdir"], str(tmp_path), step=999)
  assert _listing(tmp_path) == []


def test_keras_format_loads_with_keras_alone_and_matches_the_ema_generator(two_stream):
  import keras

  result = two_stream["results"]["keras"]
  name = "test_export_two_stream"
  verification = result["verification"]
  assert verification["passed"] and verification["worst"] <= verify.BOUNDS["keras"]
  # The child imported the zoo (the classes a .keras file needs) and the test generator's
  # own module, which a user's generator class would be too.
  modules = verification["fresh_process"]["project_modules"]
  assert (
    "zoo" in modules and verification["fresh_process"]["class"] == type(two_stream["ema"]).__name__
  ), modules
  loaded = keras.saving.load_model(os.path.join(result["path"], f"{name}.keras"))
  ema = two_stream["ema"]
  z = zoo_inputs.noise(ema, 2, tf.constant([7, 0], tf.int64))
  np.testing.assert_allclose(loaded(z, training=False), ema(z, training=False), atol=1e-6)


def test_keras_verification_fails_for_a_file_of_other_weights(tmp_path, two_stream):
  other = helpers.make_workdir(tmp_path / "wd", "test_export_two_stream")[2]
  for v in other.weights:
    v.assign(v + 0.5)
  path = str(tmp_path / "other.keras")
  other.save(path)
  with pytest.raises(verify.VerificationError, match="keras"):
    verify.verify_keras(path, two_stream["ema"])


def test_hub_export_is_a_kaggle_models_variation_as_it_is(two_stream):
  # SavedModel at the root, the model card as README.md, a LICENSE, and nothing staged.
  path = two_stream["results"]["hub"]["path"]
  assert {"saved_model.pb", "variables", "README.md", "LICENSE"} <= set(os.listdir(path))
  assert not [n for n in os.listdir(path) if n.startswith(".")]
  with open(os.path.join(path, "LICENSE")) as f:
    assert "Apache 2.0" in f.read()
  with open(os.path.join(path, "README.md")) as f:
    card = f.read()
  assert "kagglehub.model_upload(" in card and 'license_name="Apache 2.0"' in card
