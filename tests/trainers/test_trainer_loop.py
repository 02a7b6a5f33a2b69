"""The generic loop on tiny networks: checkpoints, resume, samples, EMA, accumulation, guards."""

import os

import av
import keras
import numpy as np
import pytest
import tensorflow as tf

import trainer_helpers
from trainers import errors
from trainers import gan_step
from trainers import keras_gan
from trainers import loop
from trainers import workdir as workdir_lib


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


def test_train_writes_checkpoints_samples_and_resumes(tmp_path):
  wd = str(tmp_path)
  c = trainer_helpers.tiny_config(steps=4, checkpoint_every=2, sample_every=4, ema_decay=0.5)
  c.model.generator.name = "test_tiny_list_generator"  # batch norm inside a list of layers
  c.model.generator.args.two_stream = True
  c.objective.mask_sparsity = 0.1
  trainer = loop.run(c, wd)
  assert trainer.current_step() == 4
  assert {"checkpoint", "ckpt-4.index"} <= set(os.listdir(os.path.join(wd, "checkpoints")))
  assert tf.train.latest_checkpoint(os.path.join(wd, "checkpoints")).endswith("ckpt-4")
  samples = sorted(os.listdir(os.path.join(wd, "samples")))
  assert "step_00000004.mp4" in samples and "step_00000004.gif" in samples
  assert "step_00000004_streams.mp4" in samples
  with av.open(os.path.join(wd, "samples", "step_00000004.mp4")) as f:
    frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
  assert len(frames) == 4  # T of the tiny generator
  assert workdir_lib.load_config(wd).train.steps == 4
  assert tf.io.gfile.glob(os.path.join(wd, "train", "events.*"))
  weights = [v.numpy() for v in trainer.generator.weights + trainer.ema.weights]
  moving = [v for v in trainer.generator.weights if "moving" in v.path]
  assert moving and not np.allclose(moving[0].numpy(), 0.0)  # the statistics did move

  c.train.steps = 6
  resumed = loop.Trainer(c, wd)
  assert resumed.restored.endswith("ckpt-4") and resumed.current_step() == 4
  restored = resumed.generator.weights + resumed.ema.weights
  assert len(restored) == len(weights)
  for a, b in zip(weights, restored, strict=True):
    np.testing.assert_array_equal(a, b.numpy(), err_msg=b.path)
  g, _, _ = workdir_lib.restore_generator(wd, step=4)  # the EMA copy, as export sees it
  for a, b in zip(trainer.ema.weights, g.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=b.path)
  resumed.train()
  assert resumed.current_step() == 6


def test_ema_is_the_running_average_of_generator_weights(tmp_path):
  c = trainer_helpers.tiny_config(steps=1, checkpoint_every=0, log_every=0, ema_decay=0.75)
  trainer = loop.Trainer(c, str(tmp_path))
  init = [v.numpy() for v in trainer.generator.trainable_weights]
  for e, v in zip(trainer.ema.weights, trainer.generator.weights, strict=True):
    np.testing.assert_array_equal(e.numpy(), v.numpy())
  trainer.train()
  for e, v, w0 in zip(
    trainer.ema.trainable_weights, trainer.generator.trainable_weights, init, strict=True
  ):
    assert not np.allclose(v.numpy(), w0)
    np.testing.assert_allclose(e.numpy(), 0.75 * w0 + 0.25 * v.numpy(), rtol=1e-5, atol=1e-7)


def test_train_until_stops_and_saves_there_on_the_whole_runs_schedule(tmp_path):
  # The learning check trains one run to each evaluation point in turn: a schedule must span
  # train.steps, not the chunk, and the chunks must end where one uninterrupted run ends.
  weights = {}
  for name, untils in (("whole", [None]), ("chunks", [2, None])):
    c = trainer_helpers.tiny_config(steps=4, checkpoint_every=0)
    c.optimizer.schedule = "linear_decay"
    trainer = loop.Trainer(c, str(tmp_path / name))
    for until in untils:
      assert trainer.train(until=until)
      if until == 2:
        assert trainer.current_step() == 2
        assert trainer.manager.latest_checkpoint.endswith("ckpt-2")
        # linear decay to 0 at step 4 from 1e-2: half of it at step 2 (not 0, a chunk's end).
        np.testing.assert_allclose(float(trainer.g_opt.learning_rate), 5e-3, rtol=1e-6)
    assert trainer.current_step() == 4
    weights[name] = [v.numpy() for v in trainer.generator.weights + trainer.d_vars]
  for a, b in zip(weights["whole"], weights["chunks"], strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_equals_full_batch_gradient(tmp_path):
  grads = {}
  for k in (1, 2):
    c = trainer_helpers.tiny_config(grad_accum=k, batch_size=4)
    trainer = loop.Trainer(c, str(tmp_path / f"k{k}"))
    batch = next(iter(trainer.dataset))
    step = tf.constant(0, tf.int64)
    seed = gan_step.step_seed(0, step, 0, 0)
    strategy = trainer.strategy

    def grad_fn(batch, s=trainer.gan_step, seed=seed, step=step):
      batch = s.with_noise(batch, step, 0)
      g, _ = s.accumulate(s.task.d_loss, batch, s.d_vars, s.d_opt, seed, step)
      return g

    grads[k] = [g.numpy() for g in strategy.run(tf.function(grad_fn), args=(batch,))]
  assert grads[1]
  for a, b in zip(grads[1], grads[2], strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def _sum_over_traced(strategy, count=3):
  """(sum_over's result, how many times fn was traced) in `strategy`'s replica context."""
  traced = []

  def fn(item, i):
    traced.append(i)
    return [item["x"] * 2.0, None], {"i": tf.cast(i, tf.float32)}

  items = {"x": tf.reshape(tf.range(count * 2, dtype=tf.float32), [count, 2])}
  out = strategy.run(tf.function(lambda: gan_step.sum_over(fn, items, count)))
  return tf.nest.map_structure(lambda t: None if t is None else t.numpy(), out), len(traced)


def test_sum_over_traces_once_in_a_loop_and_unrolls_under_a_strategy():
  looped, looped_traces = _sum_over_traced(tf.distribute.get_strategy())
  unrolled, unrolled_traces = _sum_over_traced(tf.distribute.MirroredStrategy(["/cpu:0"]))
  assert (looped_traces, unrolled_traces) == (1, 3)
  for out in (looped, unrolled):
    (x, none), terms = out
    np.testing.assert_array_equal(x, [12.0, 18.0])  # 2 * ([0, 1] + [2, 3] + [4, 5])
    assert none is None
    assert terms == {"i": 3.0}  # 0 + 1 + 2


def test_micro_batches_trace_the_losses_once(tmp_path):
  traces = {}
  for k in (1, 4):
    trainer = loop.Trainer(trainer_helpers.tiny_config(grad_accum=k), str(tmp_path / f"k{k}"))
    calls = []
    for name in ("d_loss", "g_loss"):
      loss = getattr(trainer.task, name)
      setattr(trainer.task, name, lambda *a, n=name, f=loss, c=calls: c.append(n) or f(*a))
    trainer.train_call.get_concrete_function()
    traces[k] = sorted(calls)
  assert traces[1] == ["d_loss", "g_loss"]
  assert traces[4] == traces[1]


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path):
  wd = str(tmp_path)
  c = trainer_helpers.tiny_config(steps=6, checkpoint_every=2)
  trainer = loop.Trainer(c, wd)
  g_loss = trainer.task.g_loss

  def poisoned(batch, seed, step):
    total, terms = g_loss(batch, seed, step)
    bad = tf.where(step >= 3, np.float32(np.nan), 0.0)
    return total + bad, dict(terms, **{"g/total": terms["g/total"] + bad})

  trainer.task.g_loss = poisoned
  with pytest.raises(loop.NonFiniteLossError, match=r"step 3: .*g/total") as error:
    trainer.train()
  # A run's condition the user can act on: one line and status 1 (errors.RunError), where it
  # was a RuntimeError and the program printed its traceback.
  assert isinstance(error.value, errors.RunError)
  assert "--config.optimizer.g_lr" in str(error.value)
  ckpts = tf.train.get_checkpoint_state(os.path.join(wd, "checkpoints")).all_model_checkpoint_paths
  assert [os.path.basename(p) for p in ckpts] == ["ckpt-2"]


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("train.batch_size", 3, "train.batch_size divisible"),
    ("runtime.precision", "float16", "runtime.precision"),
    ("train.ema_decay", 1.5, "train.ema_decay"),
    ("objective.d_steps", 0, "objective.d_steps"),
    # Trained without a word (a negative rate climbs the loss) or failed in TensorFlow's words
    # ("max_to_keep"), naming no field.
    ("optimizer.g_lr", -0.01, "optimizer.g_lr >= 0"),
    ("optimizer.d_lr", float("nan"), "optimizer.d_lr >= 0"),
    ("optimizer.beta1", 1.5, r"optimizer.beta1 in \[0, 1\)"),
    ("optimizer.clip_norm", -1.0, "optimizer.clip_norm >= 0"),
    ("train.keep_checkpoints", 0, "train.keep_checkpoints >= 1"),
    # Fields named for another source were ignored: a run "on your shards" (or on a TFDS
    # split) trained on synthetic clips.
    ("data.train_files", "/data/train-*", "data.source='tfrecord' to read data.train_files"),
    ("data.eval_files", "/data/eval-*", "data.source='tfrecord' to read data.eval_files"),
    ("data.tfds_train_split", "train[:90%]", "data.source='tfds:NAME' to read data.tfds_tra"),
    ("data.tfds_eval_split", "test", "data.source='tfds:NAME' to read data.tfds_eval_split"),
    ("data.tfds_video_key", "video", "data.source='tfds:NAME' to read data.tfds_video_key"),
    ("data.tfds_data_dir", "/data/tfds", "data.source='tfds:NAME' to read data.tfds_data_dir"),
  ],
)
def test_bad_config_values_name_the_field(tmp_path, field, value, match):
  c = trainer_helpers.tiny_config(grad_accum=2)
  section, key = field.split(".")
  c[section][key] = value
  with pytest.raises(ValueError, match=match):
    loop.Trainer(c, str(tmp_path))


def test_a_bad_forms_variable_is_refused_before_anything_is_built(tmp_path, monkeypatch):
  # Before: VIDEOGAN_CONV_FORMS=bogus failed inside the first strided layer built, in Keras'
  # words and with a traceback.
  monkeypatch.setenv("VIDEOGAN_CONV_FORMS", "bogus")
  expected = r"^Expected VIDEOGAN_CONV_FORMS in \(.*'native'.*\), received 'bogus'\.$"
  with pytest.raises(errors.ConfigError, match=expected):
    loop.Trainer(trainer_helpers.tiny_config(), str(tmp_path / "wd"))
  assert not (tmp_path / "wd" / "config.json").exists()


def test_a_discriminator_named_as_the_generator_names_the_field(tmp_path):
  c = trainer_helpers.tiny_config()
  c.model.generator = trainer_helpers.common.network("test_tiny_discriminator")
  with pytest.raises(ValueError, match=r"^Expected model.generator.name to name a generator, "):
    loop.Trainer(c, str(tmp_path))


def test_data_of_another_size_than_the_generator_makes_is_refused(tmp_path):
  # Before: `--config.data.height=...` alone trained on, a discriminator telling 12-pixel
  # real clips from 8-pixel generated ones by their size, without a word; other models
  # failed deep inside a layer.
  c = trainer_helpers.tiny_config()
  c.data.height = 12
  expected = (
    r"^Expected data clips of the shape model.generator \('test_tiny_generator'\) is built "
    r"for, 4x8x8x3 \(frames x height x width x channels\), received 4x12x8x3 \("
    r"data.num_frames=4, data.height=12, data.width=8\): the networks would run"
  )
  with pytest.raises(errors.ConfigError, match=expected):
    loop.Trainer(c, str(tmp_path / "wd"))
  assert not (tmp_path / "wd" / "config.json").exists()
  with pytest.raises(errors.ConfigError, match=expected):
    keras_gan.GAN(c)
  c = trainer_helpers.tiny_config()
  c.data.num_frames = 6  # frames of the right size, clips longer than the generated ones
  with pytest.raises(errors.ConfigError, match=r"makes, 4x8x8x3 .*received 6x8x8x3"):
    loop.Trainer(c, str(tmp_path / "wd"))


def test_gradient_penalty_with_batch_norm_critic_is_refused(tmp_path):
  c = trainer_helpers.tiny_config()
  c.model.discriminators.d.args.batch_norm = True
  c.objective.gan_loss = "wgan"
  c.objective.gp_weight = 10.0
  with pytest.raises(ValueError, match="batch norm"):
    loop.Trainer(c, str(tmp_path))


def test_wgan_gp_and_two_discriminators_train(tmp_path):
  c = trainer_helpers.tiny_config(steps=2, checkpoint_every=0)
  c.model.discriminators.t = trainer_helpers.common.network("test_tiny_discriminator")
  c.model.discriminators.t.weight = 5.0
  c.objective.gan_loss = "wgan"
  c.objective.gp_weight = 10.0
  c.objective.d_steps = 2
  trainer = loop.run(c, str(tmp_path))
  assert trainer.current_step() == 2
  assert int(trainer.d_opt.iterations) == 4  # 2 D updates per G step
  assert int(trainer.g_opt.iterations) == 2


def test_mixed_bfloat16_keeps_float32_variables(tmp_path):
  c = trainer_helpers.tiny_config(steps=2, checkpoint_every=0)
  c.runtime.precision = "mixed_bfloat16"
  trainer = loop.run(c, str(tmp_path))
  assert all(v.dtype == tf.float32 for v in trainer.generator.weights)
  assert all(np.isfinite(v.numpy()).all() for v in trainer.generator.weights)


def test_several_steps_per_call_equal_one_step_per_call(tmp_path):
  weights = {}
  for n in (1, 2):
    c = trainer_helpers.tiny_config(steps=4, steps_per_call=n, checkpoint_every=2, keep_every=4)
    trainer = loop.run(c, str(tmp_path / f"n{n}"))
    assert trainer.current_step() == 4
    weights[n] = [v.numpy() for v in trainer.generator.weights]
  for a, b in zip(weights[1], weights[2], strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # keep_every: step 4's checkpoint is also kept apart from the rotating ones.
  assert tf.io.gfile.exists(str(tmp_path / "n2" / "checkpoints" / "keep" / "ckpt-4.index"))
  # Steps that are not a multiple of the calls' end where they should: 5 by 3 trained 6.
  c = trainer_helpers.tiny_config(steps=5, steps_per_call=3, checkpoint_every=0)
  trainer = loop.run(c, str(tmp_path / "n3"))
  assert trainer.current_step() == 5
  assert [os.path.basename(p) for p in trainer.manager.checkpoints] == ["ckpt-5"]
  c = trainer_helpers.tiny_config(steps=5, steps_per_call=1, checkpoint_every=0)
  single = loop.run(c, str(tmp_path / "n1_5"))
  for a, b in zip(single.generator.weights, trainer.generator.weights, strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_steps_in_order_wait_for_the_previous_update_and_train_alike(tmp_path):
  # runtime.overlap_steps=False gates every step after the first D step on the previous D
  # update; it orders the ops and changes no number.
  weights = {}
  for overlap in (True, False):
    c = trainer_helpers.tiny_config(steps=3, checkpoint_every=0)
    c.objective.d_steps = 2
    c.runtime.overlap_steps = overlap
    trainer = loop.Trainer(c, str(tmp_path / str(overlap)))
    graph = trainer.train_call.get_concrete_function().graph
    gates = [op for op in graph.get_operations() if "after_update" in op.name.split("/")[-1]]
    if overlap:
      assert not gates
    else:
      # The second D step's batch and the G step's batch (video and z): each waits for reads
      # of every D variable, which run after the D update's writes.
      assert len(gates) >= 2
      for gate in gates:
        reads = [op for op in gate.control_inputs if op.type == "ReadVariableOp"]
        assert len(reads) == len(trainer.d_vars)
    assert trainer.train()
    weights[overlap] = [v.numpy() for v in trainer.generator.weights + trainer.d_vars]
  for a, b in zip(weights[True], weights[False], strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [1, 3])
def test_a_train_call_traces_the_step_once(tmp_path, monkeypatch, n):
  # Each trace of the step costs tracing and graph optimisation in the first call: at paper
  # size, tens of seconds per copy.
  traces = []
  replica_step = gan_step.GANStep.replica_step

  def counted(self, batches, step):
    traces.append(step)
    return replica_step(self, batches, step)

  monkeypatch.setattr(gan_step.GANStep, "replica_step", counted)
  c = trainer_helpers.tiny_config(steps=n, steps_per_call=n)
  trainer = loop.Trainer(c, str(tmp_path))
  trainer.train_call.get_concrete_function()
  assert len(traces) == 1
  trainer.train_call()
  assert trainer.current_step() == n


def test_mixed_float16_uses_loss_scaling_and_trains(tmp_path):
  c = trainer_helpers.tiny_config(steps=2, checkpoint_every=0)
  c.runtime.precision = "mixed_float16"
  trainer = loop.run(c, str(tmp_path))
  assert isinstance(trainer.g_opt, keras.optimizers.LossScaleOptimizer)
  assert trainer.generator.compute_dtype == "float16"
  assert all(v.dtype == tf.float32 for v in trainer.generator.trainable_weights)
  assert all(np.isfinite(v.numpy()).all() for v in trainer.generator.weights)


def test_periodic_evaluation_defaults_to_fd_r3d_and_caches_real_statistics(tmp_path):
  c = trainer_helpers.tiny_config(steps=2, checkpoint_every=0)
  c.eval.every = 2
  c.eval.num_videos = 8
  trainer = loop.run(c, str(tmp_path))
  assert trainer.current_step() == 2
  cached = os.listdir(tmp_path / "eval")
  assert any(f.startswith("real_stats_r3d") for f in cached), cached
  assert not any("fvd" in f or "i3d" in f for f in cached)


def test_fvd_without_an_i3d_fails_before_training(tmp_path):
  c = trainer_helpers.tiny_config(steps=2)
  c.eval.every = 2
  c.eval.metrics = ("fvd",)
  c.eval.i3d = str(tmp_path / "no_such_module")
  from trainers.eval import fvd

  with pytest.raises(fvd.I3DUnavailableError, match="no_such_module"):
    loop.Trainer(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd" / "checkpoints")
