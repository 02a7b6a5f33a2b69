"""trainers.keras_gan: a zoo GAN through compile / fit, against the loop of trainers.train."""

import glob
import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainer_helpers
from trainers import config_files
from trainers import keras_gan
from trainers import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 50


def _last_scalars(logdir, step):
  values = {}
  for path in glob.glob(os.path.join(logdir, "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      if event.step != step:
        continue
      for v in event.summary.value:
        values[v.tag] = float(tf.make_ndarray(v.tensor)) if v.HasField("tensor") else v.simple_value
  return values


def test_fit_and_the_loop_end_at_the_same_losses_and_weights(tmp_path):
  # Same config, seed and data: 50 generator steps (with EMA and two D steps per G step,
  # so the tuple-of-batches element and the EMA update are exercised) by each path.
  config = trainer_helpers.tiny_config(steps=STEPS, ema_decay=0.9, checkpoint_every=0)
  config.objective.d_steps = 2
  trainer = loop.run(config, str(tmp_path / "loop"))
  want = _last_scalars(str(tmp_path / "loop" / "train"), STEPS)
  assert {"train/g/total", "train/d/total"} <= set(want), sorted(want)

  keras.utils.set_random_seed(config.seed)
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
  history = gan.fit(keras_gan.dataset(config), epochs=1, steps_per_epoch=STEPS, verbose=0)
  got = {f"train/{k}": v[-1] for k, v in history.history.items()}
  assert int(gan.optimizer.iterations) == STEPS
  # Stated tolerance: the same ops in the same order; only tf.function's fusion may differ.
  for key in ("train/g/total", "train/d/total"):
    np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)
  pairs = [
    (gan.generator, trainer.generator),
    (gan.ema, trainer.ema),
    (gan.discriminators["d"], trainer.task.discriminators["d"]),
  ]
  for mine, theirs in pairs:
    assert mine.weights
    for a, b in zip(mine.weights, theirs.weights, strict=True):
      np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


CHILD = r"""
import json, os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import trainer_helpers
from trainers import keras_gan

root, epochs, crash = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "crash"


class Crash(keras.callbacks.Callback):  # a fault after the first epoch's backup
  def on_epoch_end(self, epoch, logs=None):
    if crash:
      raise SystemExit(3)
config = trainer_helpers.tiny_config(steps=4, ema_decay=0.9)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
callbacks = [
    keras.callbacks.BackupAndRestore(os.path.join(root, "backup")),
    keras.callbacks.ModelCheckpoint(os.path.join(root, "ckpt", "e{epoch}.weights.h5"),
                                    save_weights_only=True),
    keras.callbacks.TensorBoard(os.path.join(root, "tb")),
    keras_gan.SampleVideos(os.path.join(root, "samples")),
    Crash(),
]
history = gan.fit(keras_gan.dataset(config), epochs=epochs, steps_per_epoch=2,
                  callbacks=callbacks, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "epochs": history.epoch,
                  "g_total": history.history["g/total"],
                  "iterations": int(gan.optimizer.iterations.numpy())}))
"""


def _child(root, epochs, crash=False):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT]))
  proc = subprocess.run(
    [sys.executable, "-c", CHILD, str(root), str(epochs), "crash" if crash else "-"],
    capture_output=True,
    text=True,
    env=env,
    timeout=600,
    check=False,
  )
  assert proc.returncode == (3 if crash else 0), proc.stderr[-3000:]
  return None if crash else json.loads(proc.stdout.strip().splitlines()[-1])


def test_fit_under_mirrored_strategy_with_keras_callbacks_and_resume(tmp_path):
  # A run of 2 epochs stops by a fault after the first; its rerun resumes from the
  # BackupAndRestore backup: only epoch 2 runs, and the optimizer's step counter (the step
  # the seeds are derived from) comes back with the weights.
  _child(tmp_path, 2, crash=True)
  assert os.path.isfile(tmp_path / "ckpt" / "e1.weights.h5")
  assert glob.glob(str(tmp_path / "tb" / "train" / "events.*"))
  assert glob.glob(str(tmp_path / "samples" / "*.gif"))
  resumed = _child(tmp_path, 2)
  assert resumed["replicas"] == 2
  assert resumed["epochs"] == [1] and resumed["iterations"] == 4
  assert all(np.isfinite(resumed["g_total"]))
  assert os.path.isfile(tmp_path / "ckpt" / "e2.weights.h5")


# VGAN's two-stream generator (its heads run as one fused convolution, batch norm
# everywhere) under fit on two logical CPUs: every layer counts as built (fit refused to
# start), and every replica holds the same batch-norm statistics after training.
VGAN_MIRRORED_CHILD = r"""
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from trainers import config_files, keras_gan
config = config_files.load("vgan_two_stream:smoke")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
history = gan.fit(keras_gan.dataset(config), epochs=1, steps_per_epoch=2, verbose=0)
stats = gan.generator.non_trainable_weights
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "g_total": history.history["g/total"],
    "statistics": len(stats),
    "moved": sum(not np.allclose(v.value.values[0].numpy(), 0.0)
                 for v in stats if v.name == "moving_mean"),
    "synced": all(np.array_equal(c.numpy(), v.value.values[0].numpy())
                  for v in stats for c in v.value.values),
}))
"""


def test_fit_trains_vgan_two_stream_on_two_replicas_with_equal_statistics(fresh_python):
  proc = fresh_python("-c", VGAN_MIRRORED_CHILD)
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["replicas"] == 2 and len(out["g_total"]) == 1 and np.isfinite(out["g_total"][0])
  assert out["statistics"] > 0 and out["moved"] > 0
  assert out["synced"]


@pytest.mark.parametrize(
  "name",
  [
    "vgan_two_stream",
    "vgan_image_to_video",
    "relive_conditional_wgan",
    "egan_resnet_video",
    "egan_spade_video",
    "radner_style",
    "dvdgan_s",
  ],
)
def test_every_layer_is_built_before_fit(name):
  """Under a strategy, fit builds a model with an unbuilt layer by calling it on a batch,
  which a GAN cannot take: every layer (fused heads, SPADE's VAE encoder) is built first."""
  gan = keras_gan.GAN(config_files.load(f"{name}:smoke"))
  assert not [layer.name for layer in gan._flatten_layers() if not layer.built]


def test_compile_takes_optimizer_names_and_configs():
  gan = keras_gan.GAN(trainer_helpers.tiny_config())
  gan.compile("adam", {"class_name": "RMSprop", "config": {"learning_rate": 1e-3}})
  assert isinstance(gan.optimizer, keras.optimizers.Adam)
  assert isinstance(gan.d_optimizer, keras.optimizers.RMSprop)
  gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=1, verbose=0)
  assert int(gan.optimizer.iterations) == 1


def _clips(config, count):
  element = next(iter(keras_gan.dataset(config, batch_size=count)))
  return element[-1]["video"].numpy() if isinstance(element, tuple) else element["video"].numpy()


def test_fit_takes_clips_in_memory():
  # 10 clips, batch 4, two D steps per G step: one generator step per epoch (8 clips), the
  # last two dropped, as a dataset of keras_gan.dataset's elements drops them.
  config = trainer_helpers.tiny_config()
  config.objective.d_steps = 2
  clips = _clips(config, 10)
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
  history = gan.fit(clips, epochs=2, verbose=0)
  assert int(gan.optimizer.iterations) == 2 and int(gan.d_optimizer.iterations) == 4
  assert all(np.isfinite(history.history["g/total"]))
  gan.fit({"video": clips}, epochs=1, verbose=0, shuffle=False)
  assert int(gan.optimizer.iterations) == 3
  with pytest.raises(ValueError, match=r"clips\['video'\] of shape \[N, 4, 8, 8, 3\]"):
    gan.fit(clips[:, :2], verbose=0)
  with pytest.raises(ValueError, match="train.batch_size=4"):
    gan.fit(clips, batch_size=2, verbose=0)
  # Clips of another scale, decoded pixels as floats: refused, not learnt as they are.
  with pytest.raises(ValueError, match=r"\[-1, 1\] for clips\['video'\] of GAN.fit.*127\.5"):
    gan.fit((np.asarray(clips) + 1) * 127.5, verbose=0)
  with pytest.raises(ValueError, match=r"dtype float32 \(videos in \[-1, 1\]\).*uint8"):
    gan.fit(((np.asarray(clips) + 1) * 127.5).astype(np.uint8), verbose=0)
  assert int(gan.optimizer.iterations) == 3


def test_fit_takes_a_dataset_of_clip_batches_grouped_by_the_critic_steps():
  """A Keras habit: fit(tf.data of [B, T, H, W, C] batches). It stopped on "Iterating over a
  symbolic tf.Tensor"; batches of dicts trained with one D step per G step whatever
  objective.d_steps said (WGAN-GP's five critic steps became one). Now both are grouped by
  d_steps, and uint8 clips and (x, y) pairs are refused naming what is expected."""
  config = trainer_helpers.tiny_config()
  config.objective.d_steps = 2
  clips = _clips(config, 16)
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
  for data in (
    tf.data.Dataset.from_tensor_slices(clips).batch(4, drop_remainder=True),
    tf.data.Dataset.from_tensor_slices({"video": clips}).batch(4, drop_remainder=True),
    keras_gan.dataset(config).take(2),  # already one element per generator step
  ):
    g, d = int(gan.optimizer.iterations), int(gan.d_optimizer.iterations)
    gan.fit(data, verbose=0)
    assert (int(gan.optimizer.iterations) - g, int(gan.d_optimizer.iterations) - d) == (2, 4)
  as_uint8 = tf.data.Dataset.from_tensor_slices(((clips + 1) * 127.5).astype(np.uint8))
  with pytest.raises(ValueError, match="dtype=tf.uint8.*zoo.inputs.uint8_to_unit"):
    gan.fit(as_uint8.batch(4), verbose=0)
  pairs = tf.data.Dataset.from_tensor_slices((clips, clips[:, :, ::-1])).batch(4)
  with pytest.raises(ValueError, match=r"objective.d_steps=2 such batches.*received elements \("):
    gan.fit(pairs, verbose=0)
  # A conditional config's batches need its condition: named, not a KeyError inside the step.
  config.objective.condition = "first_frame"
  with pytest.raises(ValueError, match=r"missing \['first_frame'\]"):
    keras_gan.generator_steps(config, tf.data.Dataset.from_tensor_slices(clips).batch(4))


def test_keras_learning_rate_callbacks_move_both_rates_keeping_their_ratio():
  """Keras' learning-rate callbacks set model.optimizer's rate, which is the generator's: the
  discriminators' stayed where it was and the two time-scale ratio drifted, silently."""
  gan = keras_gan.GAN(trainer_helpers.tiny_config())
  gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(4e-4))
  data = keras_gan.dataset(gan.config)
  halve = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate / 2)
  gan.fit(data, epochs=3, steps_per_epoch=1, callbacks=[halve], verbose=0)
  rates = [float(o.learning_rate) for o in (gan.optimizer, gan.d_optimizer)]
  np.testing.assert_allclose(rates, [1e-4 / 8, 4e-4 / 8], rtol=1e-6)

  plateau = keras.callbacks.ReduceLROnPlateau("g/total", 0.1, 0, mode="min", min_delta=1e9)
  gan.fit(data, epochs=2, steps_per_epoch=1, callbacks=[plateau], verbose=0)  # one reduction
  rates = [float(o.learning_rate) for o in (gan.optimizer, gan.d_optimizer)]
  np.testing.assert_allclose(rates, [1e-4 / 80, 4e-4 / 80], rtol=1e-5)

  class CutAtEnd(keras.callbacks.Callback):  # a change at an epoch's end, then at the next's
    def on_epoch_end(self, epoch, logs=None):  # start with no batch between: both followed
      self.model.optimizer.learning_rate = float(self.model.optimizer.learning_rate) * 0.3

  cut = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.3)
  gan.fit(data, epochs=2, steps_per_epoch=1, callbacks=[cut, CutAtEnd()], verbose=0)
  rates = [float(o.learning_rate) for o in (gan.optimizer, gan.d_optimizer)]
  np.testing.assert_allclose(rates, [1e-4 / 80 * 0.3**4, 4e-4 / 80 * 0.3**4], rtol=1e-5)

  class BothOwnRates(keras.callbacks.Callback):  # a caller's callback that sets both
    def on_epoch_begin(self, epoch, logs=None):
      self.model.optimizer.learning_rate = 1e-3
      self.model.d_optimizer.learning_rate = 5e-3

  gan.fit(data, epochs=1, steps_per_epoch=1, callbacks=[BothOwnRates()], verbose=0)
  rates = [float(o.learning_rate) for o in (gan.optimizer, gan.d_optimizer)]
  np.testing.assert_allclose(rates, [1e-3, 5e-3], rtol=1e-6)


def test_fit_on_an_endless_dataset_without_steps_per_epoch_is_refused():
  """A Keras habit: fit(keras_gan.dataset(config), epochs=10). The dataset repeats for ever,
  so the first epoch never ended and no epoch-end callback (samples, checkpoints) ran."""
  config = trainer_helpers.tiny_config()
  gan = keras_gan.GAN(config)
  gan.compile("adam", "adam")
  with pytest.raises(ValueError, match=r"steps_per_epoch=N\) on an endless dataset.*no epoch"):
    gan.fit(keras_gan.dataset(config), epochs=2, verbose=0)
  config.data.synthetic.num_clips = 64  # a counted stream: one pass is 64 // 4 steps
  with pytest.raises(ValueError, match=r"one pass over this config's training clips is "):
    gan.fit(keras_gan.dataset(config), epochs=2, verbose=0)
  with pytest.raises(ValueError, match=r"steps_per_epoch=16 \(trainers"):
    gan.fit(keras_gan.dataset(config).repeat(), verbose=0)
  assert int(gan.optimizer.iterations) == 0
  gan.fit(keras_gan.dataset(config), epochs=1, steps_per_epoch=1, verbose=0)
  assert int(gan.optimizer.iterations) == 1


def test_a_float16_policy_scales_the_losses_of_both_optimizers():
  """Under Keras' mixed_float16 policy Keras wraps model.optimizer in a LossScaleOptimizer,
  which the GAN's own steps never used: both networks trained on unscaled float16
  gradients (small ones underflow to zero), silently. Both steps now scale their losses."""
  keras.config.set_dtype_policy("mixed_float16")
  try:
    gan = keras_gan.GAN(trainer_helpers.tiny_config())
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(4e-3))
    scaled = keras.optimizers.LossScaleOptimizer
    assert isinstance(gan.optimizer, scaled) and isinstance(gan.d_optimizer, scaled)
    assert (gan._gan_step.g_opt, gan._gan_step.d_opt) == (gan.optimizer, gan.d_optimizer)
    before = [w.numpy() for w in gan.generator.trainable_weights]
    history = gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=2, verbose=0)
    assert int(gan.optimizer.iterations) == 2 and int(gan.d_optimizer.iterations) == 2
    assert all(np.isfinite(history.history["g/total"] + history.history["d/total"]))
    after = [w.numpy() for w in gan.generator.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    halve = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate / 2)
    gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=1, callbacks=[halve])
    rates = [float(o.learning_rate) for o in (gan.optimizer, gan.d_optimizer)]
    np.testing.assert_allclose(rates, [5e-4, 2e-3], rtol=1e-6)  # the ratio kept through both
  finally:
    keras.config.set_dtype_policy("float32")


def _values(layers):
  return [w.numpy().copy() for layer in layers for w in layer.weights]


def _changed(before, layers):
  return [not np.array_equal(a, b) for a, b in zip(before, _values(layers), strict=True)]


def test_a_network_frozen_after_compile_stays_frozen_in_fit():
  """As in Keras, `trainable = False` set between compile and fit is honoured: the frozen
  generator trained all the same, silently, and its EMA copy stopped the step on a zip."""
  gan = keras_gan.GAN(trainer_helpers.tiny_config(ema_decay=0.5))
  gan.compile("adam", "adam")
  gan.generator.trainable = False
  g, d = _values([gan.generator]), _values(gan.discriminators.values())
  gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=2, verbose=0)
  assert not any(_changed(g, [gan.generator]))
  assert any(_changed(d, gan.discriminators.values()))
  gan.generator.trainable = True
  for network in gan.discriminators.values():
    network.trainable = False
  g, d = _values([gan.generator]), _values(gan.discriminators.values())
  gan.make_train_function(force=True)  # Keras' way to take a change made between fits
  gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=2, verbose=0)
  assert any(_changed(g, [gan.generator]))
  assert not any(_changed(d, gan.discriminators.values()))


def test_fit_of_a_frozen_gan_says_it_trains_nothing(caplog):
  """Keras warns when a model has no trainable weights; the GAN's own step ran silently."""
  gan = keras_gan.GAN(trainer_helpers.tiny_config())
  gan.trainable = False
  gan.compile("adam", "adam")
  before = _values([gan.generator, *gan.discriminators.values()])
  with caplog.at_level(logging.WARNING):
    gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=2, verbose=0)
  assert "GAN.fit trains nothing" in caplog.text
  assert not any(_changed(before, [gan.generator, *gan.discriminators.values()]))


def test_evaluate_and_validation_refuse_in_one_line():
  config = trainer_helpers.tiny_config()
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
  data = keras_gan.dataset(config)
  for call in (
    lambda: gan.evaluate(data, steps=1, verbose=0),
    lambda: gan.fit(data, steps_per_epoch=1, validation_data=data, verbose=0),
    lambda: gan.test_on_batch(next(iter(data))),
  ):
    with pytest.raises(ValueError, match="no held-out loss") as error:
      call()
    assert "\n" not in str(error.value)
  assert int(gan.optimizer.iterations) == 0


def test_train_on_batch_takes_one_generator_step():
  """Keras' train_on_batch hands the step (x, None, None): it stopped on "'NoneType' object
  is not iterable" inside the noise of the D step."""
  config = trainer_helpers.tiny_config()
  config.objective.d_steps = 2
  gan = keras_gan.GAN(config)
  gan.compile("adam", "adam")
  element = next(iter(keras_gan.dataset(config)))
  logs = gan.train_on_batch(element, return_dict=True)
  assert np.isfinite(logs["g/total"]) and np.isfinite(logs["d/total"])
  assert (int(gan.optimizer.iterations), int(gan.d_optimizer.iterations)) == (1, 2)
  clips = [batch["video"].numpy() for batch in element]
  gan.train_on_batch(tuple(clips))  # arrays of clips, one per D step
  assert (int(gan.optimizer.iterations), int(gan.d_optimizer.iterations)) == (2, 4)
  with pytest.raises(ValueError, match=r"objective.d_steps=2 batches .*received 1\.$"):
    gan.train_on_batch(clips[0])
  with pytest.raises(ValueError, match="without y"):
    gan.train_on_batch(tuple(clips), clips[0])
  with pytest.raises(ValueError, match="uint8_to_unit"):
    gan.train_on_batch(tuple(((c + 1) * 127.5).astype(np.uint8) for c in clips))
  assert int(gan.optimizer.iterations) == 2


def test_callbacks_monitoring_a_log_fit_never_writes_are_refused(tmp_path):
  """Keras' callbacks monitor "val_loss" by default, which a GAN never logs: Keras only
  warned each epoch, and ModelCheckpoint(save_best_only=True) saved nothing, EarlyStopping
  never stopped, ReduceLROnPlateau never reduced."""
  gan = keras_gan.GAN(trainer_helpers.tiny_config())
  gan.compile("adam", "adam")
  data = keras_gan.dataset(gan.config)
  for callback, monitor in (
    (
      keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), save_best_only=True),
      "val_loss",
    ),
    (keras.callbacks.EarlyStopping(), "val_loss"),
    (keras.callbacks.ReduceLROnPlateau("loss"), "loss"),
  ):
    with pytest.raises(ValueError, match=rf"monitor='{monitor}'.*monitor='g/total'") as error:
      gan.fit(data, steps_per_epoch=1, callbacks=[callback], verbose=0)
    assert "\n" not in str(error.value)
  assert int(gan.optimizer.iterations) == 0
  stop = keras.callbacks.EarlyStopping("g/total", mode="min", patience=0, min_delta=1e9)
  history = gan.fit(data, epochs=5, steps_per_epoch=1, callbacks=[stop], verbose=0)
  assert len(history.epoch) == 2  # the first epoch sets the best; the second does not beat it


def test_export_serves_what_call_gives_without_a_first_call(tmp_path):
  """Keras' export reads a subclassed model's inputs from its first call: a GAN trained with
  fit but never called stopped on "The model provided has never called", and, called, its
  conditional critic (which reads a condition keyword) stopped the trace."""
  from zoo import base

  gan = keras_gan.GAN(config_files.load("relive_conditional_wgan:smoke"))
  gan.export(str(tmp_path / "gan"), verbose=False)
  spec = base.contract(gan.generator)
  x = tf.nest.map_structure(
    lambda s: tf.random.stateless_uniform(s.shape, [1, 2], -1.0, 1.0), spec.input_specs(2)
  )
  loaded = tf.saved_model.load(str(tmp_path / "gan"))  # kept: its functions read its variables
  np.testing.assert_allclose(loaded.serve(x), gan(x), atol=1e-5)


def test_backup_and_restore_resumes_every_network_and_optimizer_exactly(tmp_path):
  """A run stopped after its first epoch and resumed from BackupAndRestore ends where an
  uninterrupted run does: the generator, its EMA, the discriminator and both optimizers
  (their step counters give the noise seeds) come back. The data restart from the
  dataset's first element (Keras keeps no iterator), so one batch is fed to both runs."""
  config = trainer_helpers.tiny_config(ema_decay=0.9)
  data = tf.data.Dataset.from_tensors(next(iter(keras_gan.dataset(config)))).repeat()

  class Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      raise RuntimeError("stopped")

  def run(backup, stop=False):
    keras.utils.set_random_seed(0)
    gan = keras_gan.GAN(config)
    gan.compile("adam", "adam")
    callbacks = [keras.callbacks.BackupAndRestore(str(tmp_path / backup))]
    gan.fit(data, epochs=2, steps_per_epoch=2, callbacks=callbacks + [Stop()] * stop, verbose=0)
    return gan

  whole = run("whole")
  with pytest.raises(RuntimeError, match="stopped"):
    run("resumed", stop=True)
  resumed = run("resumed")
  pairs = [(whole, resumed), (whole.optimizer, resumed.optimizer)]
  for a, b in pairs + [(whole.d_optimizer, resumed.d_optimizer)]:
    assert a.variables
    for u, v in zip(a.variables, b.variables, strict=True):
      np.testing.assert_array_equal(u.numpy(), v.numpy())
  assert int(resumed.optimizer.iterations) == int(resumed.d_optimizer.iterations) == 4


def test_batches_of_another_size_than_the_configs_are_refused():
  """The noise is drawn per train.batch_size batch: keras_gan.dataset(config, batch_size=8)
  or ds.batch(8, drop_remainder=True) on a batch-4 config trained 4 generated clips against
  8 real ones per step, silently (a conditional model failed inside its step)."""
  config = trainer_helpers.tiny_config()
  gan = keras_gan.GAN(config)
  gan.compile("adam", "adam")
  clips = _clips(config, 16)
  expected = r"train.batch_size=4 clips for GAN.fit .*received batches of 8"
  for data in (
    keras_gan.dataset(config, batch_size=8),
    tf.data.Dataset.from_tensor_slices(clips).batch(8, drop_remainder=True),
  ):
    with pytest.raises(ValueError, match=expected):
      gan.fit(data, steps_per_epoch=1, verbose=0)
  with pytest.raises(ValueError, match=expected):
    gan.train_on_batch(clips[:8])
  assert int(gan.optimizer.iterations) == 0
  gan.fit(tf.data.Dataset.from_tensor_slices(clips).batch(4, drop_remainder=True), verbose=0)
  assert int(gan.optimizer.iterations) == 4


def test_batches_of_unknown_size_are_cut_into_the_configs_batches(caplog):
  """`ds.batch(n)` without drop_remainder leaves the batch size unknown to `fit`: a short last
  batch met noise drawn for a full one (4 generated clips against 2 real ones, silently; a
  gradient penalty or objective.d_steps > 1 failed at the epoch's end), and batches of 8 on
  a batch-4 config passed the size check. Both are now cut into batches of
  train.batch_size, the clips short of a last full batch left out, and logged."""
  config = trainer_helpers.tiny_config()
  gan = keras_gan.GAN(config)
  gan.compile("adam", "adam")
  clips = _clips(config, 14)
  for batch in (4, 8, 3):
    data = tf.data.Dataset.from_tensor_slices(clips).batch(batch)
    seen = keras_gan.generator_steps(config, data)
    assert seen.element_spec["video"].shape[0] == 4
    assert [int(e["video"].shape[0]) for e in seen] == [4, 4, 4], batch
    before = [w.numpy() for w in gan.generator.weights]
    with caplog.at_level(logging.WARNING):
      gan.fit(data, verbose=0)
    assert "cut again into batches of train.batch_size=4 clips" in caplog.text
    caplog.clear()
    moved = [w.numpy() for w in gan.generator.weights]
    assert any(np.any(a != b) for a, b in zip(before, moved, strict=True)), batch
  # Two D steps per G step group the cut batches: a short last batch no longer stops them.
  config.objective.d_steps = 2
  grouped = keras_gan.generator_steps(config, tf.data.Dataset.from_tensor_slices(clips).batch(4))
  assert [tuple(int(b["video"].shape[0]) for b in e) for e in grouped] == [(4, 4)]


LOAD_CHILD = r"""
import json, sys
sys.path.insert(0, "tests/trainers")  # the repository root is the working directory
import keras
import numpy as np
import trainer_helpers  # registers the tiny networks
from trainers import keras_gan

root = sys.argv[1]
gan = keras.saving.load_model(f"{root}/gan.keras")
z = np.load(f"{root}/z.npy")
out = {"class": type(gan).__name__, "ema": gan.ema is not None,
       "diff": float(np.max(np.abs(gan.predict(z, verbose=0) - np.load(f"{root}/out.npy")))),
       "g_iterations": int(gan.optimizer.iterations),
       "d_iterations": int(gan.d_optimizer.iterations),
       "d_weights": [w.numpy().tolist() for w in gan.discriminators["d"].weights][:1]}
gan.fit(keras_gan.dataset(gan.config), epochs=1, steps_per_epoch=1, verbose=0)
out["after_fit"] = int(gan.optimizer.iterations)
print(json.dumps(out))
"""


def test_gan_saves_as_a_keras_file_and_loads_in_a_fresh_process(tmp_path, fresh_python):
  # gan.save and keras.callbacks.ModelCheckpoint's default: the config, every network (EMA
  # included) and both optimizers with their step counters come back.
  config = trainer_helpers.tiny_config(ema_decay=0.9)
  gan = keras_gan.GAN(config)
  gan.compile(*keras_gan.config_optimizers(config, gan))
  checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.keras"))
  gan.fit(keras_gan.dataset(config), epochs=1, steps_per_epoch=2, callbacks=[checkpoint], verbose=0)
  assert os.path.isfile(tmp_path / "e1.keras")
  z = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
  np.save(tmp_path / "z.npy", z)
  np.save(tmp_path / "out.npy", gan.predict(z, verbose=0))
  gan.save(str(tmp_path / "gan.keras"))
  proc = fresh_python("-c", LOAD_CHILD, str(tmp_path))
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["class"] == "GAN" and out["ema"]
  assert out["diff"] == 0.0
  assert out["g_iterations"] == 2 and out["d_iterations"] == 2 and out["after_fit"] == 3
  np.testing.assert_array_equal(out["d_weights"][0], gan.discriminators["d"].weights[0].numpy())
