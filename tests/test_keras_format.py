"""Every registered network saves as .keras and loads in a fresh process that imports `zoo`;
every config's generator also exports through Keras' own `model.export` and serves the same.

The networks are built as training builds them: each config's `:smoke` variant, its task,
and a batch of the synthetic data the task asks for. Names no config builds get a small
explicit build below, and the test fails for a registered name that neither covers, so a new
model cannot skip the format.
"""

import glob
import importlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from trainers import tasks
from trainers.data import pipeline
from zoo import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 2

# Registered names that no smoke config builds: (kwargs, input shape of a video batch).
EXTRA = {
  "i3d": (dict(num_classes=5), (BATCH, 8, 32, 32, 3)),
}

CHILD = r"""
import json, sys
import numpy as np
import pytest
import tensorflow as tf
import keras
import zoo  # registers every family: nothing else of the zoo is imported here

root = sys.argv[1]
cases = json.load(open(f"{root}/cases.json"))
worst = {}
for case in cases:
  arrays = np.load(f"{root}/{case['id']}.npz")
  args = [arrays[k] for k in case["args"]]
  kwargs = {name: tf.nest.pack_sequence_as(case["kw_structure"][name],
                                           [arrays[k] for k in keys])
            for name, keys in case["kwargs"].items()}
  if case["input_structure"] is not None:
    args = [tf.nest.pack_sequence_as(case["input_structure"], args)]
  model = keras.saving.load_model(f"{root}/{case['id']}.keras")
  assert type(model).__name__ == case["class"], (type(model).__name__, case["class"])
  out = tf.nest.flatten(model(*args, training=False, **kwargs))
  expected = [arrays[k] for k in case["outputs"]]
  assert len(out) == len(expected), (case["id"], len(out), len(expected))
  worst[case["id"]] = max(float(np.max(np.abs(np.asarray(o, np.float32) - e)))
                          for o, e in zip(out, expected, strict=True))
  if case["exported"]:  # Keras' own model.export: its serve endpoint takes float32 inputs
    served = tf.saved_model.load(f"{root}/{case['id']}_saved")
    x = tf.nest.map_structure(lambda a: tf.cast(a, tf.float32), args[0])
    out = np.asarray(served.serve(x), np.float32)
    worst[case["id"] + " export"] = float(np.max(np.abs(out - expected[0])))
print(json.dumps(worst))
"""


def _config_names():
  names = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "configs", "*.py")))
  return [n for n in names if n not in ("__init__", "common")]


def _batch(config, task):
  data = config.data.copy_and_resolve_references()
  with data.unlocked():
    data.source = "synthetic"
    data.outputs = tuple(sorted(set(data.outputs) | set(tasks.data_outputs(config))))
  return next(iter(pipeline.make_dataset(data, BATCH, training=False)))


def _smoke_configs():
  """The smoke configs that build some network no earlier config builds, by file name."""
  configs, seen = [], set()
  for name in _config_names():
    config = importlib.import_module(f"configs.{name}").get_config("smoke")
    networks = {config.model.generator.name}
    networks |= {d.name for d in config.model.discriminators.values()}
    if networks - seen:
      configs.append(config)
      seen |= networks
  return configs


def _networks_of_config(config):
  """(registry name, network, positional args, keyword args) for every network of a config,
  the generator first."""
  task = tasks.make_task(config)
  batch = _batch(config, task)
  task.build(batch)
  seed = tf.constant([1, 2], tf.int32)
  out = [(config.model.generator.name, task.generator, [task.generator_inputs(batch, seed)], {})]
  condition = task.condition(batch)
  for key, d in task.discriminators.items():
    entry = config.model.discriminators[key]
    out.append((entry.name, d, [batch["video"]], {"condition": condition}))
  return out


def _save_case(root, index, registered, model, args, kwargs, export=False):
  """Saves `model` as .keras (and, with `export`, through Keras' `model.export`) beside its
  inputs and outputs; returns the case the child process checks."""
  case_id = f"{index:02d}_{registered}"
  arrays, kw_keys, kw_structure = {}, {}, {}
  flat_args = tf.nest.flatten(args[0])
  structure = (
    None
    if len(args) == 1 and tf.is_tensor(args[0])
    else tf.nest.map_structure(lambda _: None, args[0])
  )
  for i, a in enumerate(flat_args):
    arrays[f"arg{i}"] = np.asarray(a)
  for name, value in kwargs.items():
    if value is None:
      continue
    kw_structure[name] = tf.nest.map_structure(lambda _: None, value)
    keys = []
    for i, v in enumerate(tf.nest.flatten(value)):
      arrays[f"kw_{name}_{i}"] = np.asarray(v)
      keys.append(f"kw_{name}_{i}")
    kw_keys[name] = keys
  call_kwargs = {k: v for k, v in kwargs.items() if v is not None}
  outputs = tf.nest.flatten(model(*args, training=False, **call_kwargs))
  for i, o in enumerate(outputs):
    arrays[f"out{i}"] = np.asarray(o, np.float32)
  model.save(os.path.join(root, f"{case_id}.keras"))
  if export:
    model.export(os.path.join(root, f"{case_id}_saved"), verbose=False)
  np.savez(os.path.join(root, f"{case_id}.npz"), **arrays)
  return {
    "id": case_id,
    "class": type(model).__name__,
    "args": [f"arg{i}" for i in range(len(flat_args))],
    "input_structure": structure,
    "kwargs": kw_keys,
    "kw_structure": kw_structure,
    "outputs": [f"out{i}" for i in range(len(outputs))],
    "exported": export,
  }


def test_every_registered_network_round_trips_through_keras_format(tmp_path):
  cases, covered = [], set()
  for config in _smoke_configs():
    for i, (registered, model, args, kwargs) in enumerate(_networks_of_config(config)):
      if registered in covered:
        continue
      covered.add(registered)
      cases.append(_save_case(tmp_path, len(cases), registered, model, args, kwargs, i == 0))
  for registered, (kwargs, shape) in EXTRA.items():
    model = registry.build(registered, **kwargs)
    video = tf.random.stateless_uniform(shape, [3, 4], -1.0, 1.0)
    covered.add(registered)
    cases.append(_save_case(tmp_path, len(cases), registered, model, [video], {}))
  # The zoo's own names (tests register tiny networks of their own in the same registry).
  zoo_names = {n for n in registry.names() if registry.get(n).__module__.startswith("zoo.")}
  missing = sorted(zoo_names - covered)
  assert not missing, f"registered networks that no config or EXTRA entry builds: {missing}"
  (tmp_path / "cases.json").write_text(json.dumps(cases))

  env = dict(os.environ, PYTHONPATH=ROOT)
  result = subprocess.run(
    [sys.executable, "-c", CHILD, str(tmp_path)],
    capture_output=True,
    text=True,
    env=env,
    cwd=str(tmp_path),
    timeout=600,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  worst = json.loads(result.stdout.strip().splitlines()[-1])
  exported = [c["id"] + " export" for c in cases if c["exported"]]
  assert sorted(worst) == sorted([c["id"] for c in cases] + exported)
  assert len(exported) >= 15, exported  # every config's generator: Keras' export works too
  bad = {k: v for k, v in worst.items() if v > 1e-5}
  assert not bad, bad


def test_the_saving_example_of_the_keras_docs_runs(tmp_path):
  # docs/keras.md's first example, as a user pastes it, in a fresh process.
  with open(os.path.join(ROOT, "docs", "keras.md")) as f:
    example = re.search(r"## Saving and loading\n\n```python\n(.*?)```", f.read(), re.S)
  assert example, "Expected a python block under docs/keras.md's 'Saving and loading'."
  result = subprocess.run(
    [sys.executable, "-c", example.group(1)],
    capture_output=True,
    text=True,
    env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
    cwd=str(tmp_path),
    timeout=600,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / "vgan_two_stream.keras").is_file()


def test_every_network_that_reads_videos_refuses_uint8_naming_itself():
  """Discriminators, critics, I3D and the autoencoder called on uint8 pixels, as a decoder
  gives them: they stopped deep in Keras ("Cannot convert 0.0 to EagerTensor of dtype
  uint8") or, for SPADE's patch discriminators and I3D, scored the pixels silently."""
  checked = set()
  for config in _smoke_configs():
    for registered, model, args, kwargs in _networks_of_config(config)[1:]:
      video = np.full(args[0].shape, 200, np.uint8)
      with pytest.raises(TypeError, match=rf"(?s)for {model.name}, received uint8.*uint8_to_unit"):
        model(video, **{k: v for k, v in kwargs.items() if v is not None})
      checked.add(registered)
  for registered, (kwargs, shape) in EXTRA.items():
    model = registry.build(registered, **kwargs)
    with pytest.raises(TypeError, match=rf"(?s)for {model.name}, received uint8.*uint8_to_unit"):
      model(np.full(shape, 200, np.uint8))
    checked.add(registered)
  assert {"vgan_discriminator", "egan_spade_discriminator_3d", "relive_critic", "i3d"} <= checked


def test_tf_checkpoint_and_saved_model_reach_every_weight(tmp_path):
  """Keras 3 gives TensorFlow's tracking only the layers held in plain attributes: a
  tf.train.Checkpoint of a zoo network left out every layer kept in a list (silently: its
  restore left them as initialised), and tf.saved_model.save of Radner's style generator,
  whose style blocks are a list of lists, stopped on an "untracked resource"."""
  from trainers import config_files
  from zoo import base

  for name in ("radner_style", "egan_resnet_video"):
    entry = config_files.load(f"{name}:smoke").model.generator
    saved, restored = (registry.build(entry.name, **entry.args) for _ in range(2))
    x = base.contract(saved).placeholders(BATCH)
    x = tf.nest.map_structure(lambda t: tf.random.stateless_uniform(t.shape, [1, 2], -1, 1), x)
    want, other = saved(x), restored(x)
    assert not np.allclose(want, other)  # initialised apart
    path = tf.train.Checkpoint(model=saved).write(str(tmp_path / name))
    tf.train.Checkpoint(model=restored).read(path).assert_consumed()
    np.testing.assert_array_equal(restored(x), want)
    tf.saved_model.save(saved, str(tmp_path / f"{name}_saved"))
    stored = tf.train.list_variables(str(tmp_path / f"{name}_saved" / "variables" / "variables"))
    assert len(stored) > len(saved.weights)  # each weight once, plus the object graph
