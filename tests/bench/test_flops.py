"""bench.flops: hand-counted layers, the backward conventions, and VGAN's 404-GFLOP step.

Every expected number is written out as the multiplication a reader can redo by hand:
2 x kernel volume x C_in x C_out x positions (output positions for a conv, input positions
for a transposed conv), batch included.
"""

import keras
import pytest
import tensorflow as tf
import test_configs  # example batches of tests/test_configs.py

from bench import common
from bench import flops
from configs import egan_spade_video
from configs import relive_cnn_next_frame
from configs import relive_lstm
from configs import relive_wgan
from configs import vgan_one_stream
from configs import vgan_two_stream
from configs import vgan_ucf101_transfer
from trainers import tasks
from zoo import registry
from zoo.layers import form_choice
from zoo.layers import spade as spade_layers
import zoo.vgan  # noqa: F401  (registers the VGAN networks)


def _single(layer, input_shape):
  model = keras.Sequential([keras.Input(input_shape[1:], batch_size=input_shape[0]), layer])
  total, costs = flops.model_flops(model, input_shape)
  assert len(costs) == 1
  return total, costs[0]


def test_conv3d_counts_output_positions():
  # (1, 4, 7, 7, 2), kernel (2, 3, 3), stride 2, valid -> (1, 2, 3, 3, 4).
  total, cost = _single(keras.layers.Conv3D(4, (2, 3, 3), strides=2), (1, 4, 7, 7, 2))
  assert cost.output_shape == (1, 2, 3, 3, 4)
  kernel, c_in, c_out, out_positions = 2 * 3 * 3, 2, 4, 1 * 2 * 3 * 3
  assert total == 2 * kernel * c_in * c_out * out_positions == 5184


def test_conv3d_transpose_counts_input_positions():
  # (2, 2, 3, 3, 4), kernel (2, 4, 4), stride 2, same -> (2, 4, 6, 6, 6).
  total, cost = _single(
    keras.layers.Conv3DTranspose(6, (2, 4, 4), strides=2, padding="same"), (2, 2, 3, 3, 4)
  )
  assert cost.output_shape == (2, 4, 6, 6, 6)
  kernel, c_in, c_out, in_positions = 2 * 4 * 4, 4, 6, 2 * 2 * 3 * 3
  assert total == 2 * kernel * c_in * c_out * in_positions == 55296


def test_dense_counts_every_leading_position():
  total, cost = _single(keras.layers.Dense(4), (3, 5, 7))
  assert cost.output_shape == (3, 5, 4)
  assert total == 2 * (3 * 5) * 7 * 4 == 840


def test_grouped_conv2d_divides_input_channels():
  # (1, 5, 5, 4), 3x3 valid, 2 groups of 2 input channels -> (1, 3, 3, 6).
  total, _ = _single(keras.layers.Conv2D(6, 3, groups=2), (1, 5, 5, 4))
  assert total == 2 * (3 * 3) * (4 // 2) * 6 * (3 * 3) == 1944


def test_separable_conv2d_is_depthwise_plus_pointwise():
  # (1, 6, 6, 3), 3x3 valid, depth multiplier 2 -> 6 channels, pointwise to 5; 4x4 out.
  total, _ = _single(keras.layers.SeparableConv2D(5, 3, depth_multiplier=2), (1, 6, 6, 3))
  assert total == 2 * 9 * (3 * 2) * 16 + 2 * (3 * 2) * 5 * 16 == 2688


def test_backward_conventions_on_two_dense_layers():
  model = keras.Sequential(
    [
      keras.Input((6,), batch_size=2),
      keras.layers.Dense(5),
      keras.layers.ReLU(),
      keras.layers.Dense(3),
    ]
  )
  total, (first, second) = flops.model_flops(model, (2, 6))
  f1, f2 = 2 * 2 * 6 * 5, 2 * 2 * 5 * 3
  assert (first.flops, second.flops, total) == (f1, f2, f1 + f2)
  assert not first.after_weights and second.after_weights
  costs = [first, second]
  # Weights only (input is data): weight grads of both, input grads of the second only.
  assert flops.backward_flops(costs, weights=True, inputs=False) == (f1 + f2) + f2
  # Input only (a D in the G step): input grads of both, no weight grads.
  assert flops.backward_flops(costs, weights=False, inputs=True) == f1 + f2
  assert flops.backward_flops(costs, weights=True, inputs=True) == 2 * (f1 + f2)
  assert flops.backward_flops(costs, weights=False, inputs=False) == 0
  for w, i in ((True, False), (False, True), (True, True)):
    assert flops.backward_flops(costs, w, i, convention="simple") == 2 * (f1 + f2)
  with pytest.raises(ValueError, match="Expected convention"):
    flops.backward_flops(costs, True, False, convention="profiled")


def test_frozen_layer_has_no_weight_gradient():
  frozen = keras.layers.Dense(5, trainable=False)
  model = keras.Sequential([keras.Input((6,), batch_size=1), frozen, keras.layers.Dense(3)])
  _, (first, second) = flops.model_flops(model, (1, 6))
  assert not first.trainable and second.trainable
  # The second layer's input does not depend on a trainable weight either.
  assert not second.after_weights
  assert flops.backward_flops([first, second], True, False) == second.flops


class _MatmulLayer(keras.layers.Layer):
  """A layer with its own kernel that the counter does not know."""

  def build(self, input_shape):
    self.kernel = self.add_weight(shape=(input_shape[-1], 4), name="kernel")

  def call(self, x):
    return tf.matmul(x, self.kernel)


def test_unknown_layers_with_kernels_are_reported():
  model = keras.Sequential(
    [keras.Input((3,), batch_size=1), _MatmulLayer(name="custom"), keras.layers.Dense(2)]
  )
  costs, uncounted = flops.trace_costs(lambda x: model(x), tf.TensorSpec((1, 3)), models=[model])
  assert [c.kind for c in costs] == ["Dense"]
  assert any(path.endswith("custom") for path in uncounted)


def _paper_task(config):
  """A paper-size task, built symbolically (no forward pass)."""
  task = tasks.make_task(config)
  task.generator.build((None, task.generator.latent_dim))
  for d in task.discriminators.values():
    d.build((None,) + tuple(config.model.discriminators.d.args.video_shape))
  return task


# Per clip, forward, at 32x64x64: 2 x kernel volume x C_in x C_out x positions.
_D = 2 * (
  64 * 3 * 64 * 16 * 32 * 32  # 64 filters at 16x32x32
  + 64 * 64 * 128 * 8 * 16 * 16  # 128 at 8x16x16
  + 64 * 128 * 256 * 4 * 8 * 8  # 256 at 4x8x8
  + 64 * 256 * 512 * 2 * 4 * 4  # 512 at 2x4x4
  + 32 * 512 * 1 * 1
)  # the (2, 4, 4) valid logit
_D_FIRST = 2 * 64 * 3 * 64 * 16 * 32 * 32
_G_TRUNK = 2 * (
  32 * 100 * 512 * 1  # z (1x1x1) -> 2x4x4x512: INPUT positions
  + 64 * 512 * 256 * 2 * 4 * 4
  + 64 * 256 * 128 * 4 * 8 * 8
  + 64 * 128 * 64 * 8 * 16 * 16
  + 64 * 64 * 3 * 16 * 32 * 32
)  # the video head
_G_MASK = 2 * 64 * 64 * 1 * 16 * 32 * 32
_G_BACKGROUND = 2 * (
  16 * 100 * 512 * 1
  + 16 * 512 * 256 * 4 * 4
  + 16 * 256 * 128 * 8 * 8
  + 16 * 128 * 64 * 16 * 16
  + 16 * 64 * 3 * 32 * 32
)
_G_FIRST = 2 * (32 * 100 * 512 + 16 * 100 * 512)  # both projections of z


def test_vgan_two_stream_step_is_404_gflop_at_batch_8():
  task = _paper_task(vgan_two_stream.get_config())
  batch = {"video": tf.TensorSpec((8, 32, 64, 64, 3))}
  result = flops.gan_step_flops(task, batch)
  f_g, f_d = 8 * (_G_TRUNK + _G_MASK + _G_BACKGROUND), 8 * _D
  assert result["forward"] == {"generator": f_g, "d_d": f_d}
  # D step: G forward + 2 x (D forward, weight grads, input grads but the first layer's);
  # G step: G forward/backward without the z projections' input grads + D forward and
  # input grads.
  expected = f_g + 2 * (3 * f_d - 8 * _D_FIRST) + (3 * f_g - 8 * _G_FIRST) + 2 * f_d
  assert result["total"] == expected == 404_048_314_368
  assert round(result["total"] / 1e9) == 404  # the analytic figure the speed targets assume
  assert result["d_step"] + result["g_step"] == result["total"] == sum(result["terms"].values())
  assert result["uncounted"] == {"generator": [], "d_d": []}
  # The background's projection of z is traced after the whole trunk yet still reads data.
  reads_data = sorted(
    l["name"].split("/")[1] for l in result["layers"]["generator"] if not l["after_weights"]
  )
  assert reads_data == ["background", "trunk"]

  simple = flops.gan_step_flops(task, batch, convention="simple")
  assert simple["total"] == 4 * f_g + 9 * f_d == 443_816_345_600


def test_step_scales_with_batch_and_d_steps():
  config = vgan_one_stream.get_config("smoke")
  config.objective.d_steps = 2
  task = tasks.make_task(config)
  shape = tuple(config.model.discriminators.d.args.video_shape)
  task.build({"video": tf.zeros((1,) + shape)})
  one = flops.gan_step_flops(task, {"video": tf.TensorSpec((1,) + shape)})
  four = flops.gan_step_flops(task, {"video": tf.TensorSpec((4,) + shape)})
  assert four["total"] == 4 * one["total"]
  g, d = one["forward"]["generator"], one["forward"]["d_d"]
  d_first = one["layers"]["d_d"][0]["flops"]
  assert one["terms"]["d_step/generator_forward"] == 2 * g
  assert one["terms"]["d_step/d_d_real"] == one["terms"]["d_step/d_d_fake"] == 2 * (3 * d - d_first)
  assert one["d_step"] == 2 * g + 4 * (3 * d - d_first)


def test_spectral_norm_wrapper_is_counted_through_its_layer():
  dense = keras.layers.Dense(4)
  model = keras.Sequential(
    [keras.Input((3,), batch_size=2), keras.layers.SpectralNormalization(dense)]
  )
  costs, uncounted = flops.trace_costs(
    lambda x: model(x, training=True), tf.TensorSpec((2, 3)), models=[model]
  )
  assert [c.kind for c in costs] == ["Dense"] and costs[0].flops == 2 * 2 * 3 * 4
  assert uncounted == []


def _smoke_task(module):
  config = module.get_config("smoke")
  task = tasks.make_task(config)
  shape = (config.data.num_frames, config.data.height, config.data.width, 3)
  task.build({"video": tf.zeros((1,) + shape)})
  return task, {"video": tf.TensorSpec((2,) + shape)}


def test_prediction_step_is_the_teacher_forced_pass_and_its_weight_gradients():
  task, batch = _smoke_task(relive_cnn_next_frame)
  result = flops.check_counted(flops.step_flops(task, batch))
  f = result["forward"]["generator"]
  reads_data = sum(l["flops"] for l in result["layers"]["generator"] if not l["after_weights"])
  assert reads_data > 0 and result["d_step"] == 0
  # Forward, weight gradients of every layer, input gradients of all but the data's readers.
  assert result["total"] == result["g_step"] == 3 * f - reads_data
  # The teacher-forced pass reads frames 0..T-2: 7 of the smoke clip's 8.
  assert (
    flops.step_flops(task, {"video": tf.TensorSpec((2, 2, 16, 16, 3))})["total"] * 7
    == (result["total"])
  )


def test_steps_the_counter_does_not_model_are_not_counted(tmp_path):
  _, batch = _smoke_task(relive_lstm)
  classifier = tasks.make_task(vgan_ucf101_transfer.get_config("smoke"))
  with pytest.raises(flops.NotCounted, match="its step is not modelled"):
    flops.step_flops(classifier, batch)  # refused before any tracing
  # SPADE with its VGG perceptual term (a weights file given): that term is not modelled.
  spade = tasks.make_task(egan_spade_video.get_config("smoke"))
  spade.vgg = object()
  with pytest.raises(flops.NotCounted, match="VGG perceptual term"):
    flops.step_flops(spade, batch)


@pytest.mark.parametrize("vae", [False, True])
def test_spade_step_adds_matching_on_real_and_fake_and_the_encoder(vae):
  config = egan_spade_video.get_config("smoke")
  config.model.generator.args.use_vae = vae
  task = tasks.make_task(config)
  batch = test_configs.example_batch(config, task, size=2)
  task.build(batch)
  spec = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in batch.items()}
  spade = flops.check_counted(flops.step_flops(task, spec))
  gan = flops.gan_step_flops(task, spec)  # GANTask's step of the same networks
  assert task.fm_weight > 0 and len(task.discriminators) == 2  # two PatchGAN scales
  # Feature matching: each D called once on the real and fake clips together in the G step,
  # forward and input gradients of 2B clips.
  matched = 0
  for name in task.discriminators:
    term = f"g_step/d_{name}"
    assert gan["terms"][term] > 0 and spade["terms"][term] == 2 * gan["terms"][term]
    matched += gan["terms"][term]
  encoder = 0
  assert bool(task.vae) == vae
  if vae:
    enc = spade["forward"]["encoder"]
    reads_data = sum(l["flops"] for l in spade["layers"]["encoder"] if not l["after_weights"])
    assert enc > 0 and reads_data > 0 and spade["uncounted"]["encoder"] == []
    # The real clips through the encoder: forward in each D step; forward, weight gradients
    # and the input gradients of all but the data's readers in the G step.
    assert spade["terms"]["d_step/encoder_forward"] == config.objective.d_steps * enc
    assert spade["terms"]["g_step/encoder"] == 3 * enc - reads_data
    encoder = spade["terms"]["d_step/encoder_forward"] + spade["terms"]["g_step/encoder"]
  else:
    assert "encoder" not in spade["forward"]
  assert spade["total"] == gan["total"] + matched + encoder
  assert spade["d_step"] + spade["g_step"] == spade["total"] == sum(spade["terms"].values())


def test_spade_mask_convolution_of_class_ids_counts_one_input_channel():
  # A SPADE norm of 6 channels on [2, 3, 8, 8, 6] and its 8x8 mask of 5 classes: the shared
  # convolution (5 -> 16, 3x3) of class ids asks for one tap row per id: one input channel,
  # whichever form computes it; given the one-hot mask, the layer's five channels.
  norm = spade_layers.SPADE(3, 6, nhidden=16, num_classes=5)
  x = tf.TensorSpec((2, 3, 8, 8, 6))
  ids, onehot = tf.TensorSpec((2, 8, 8), tf.int32), tf.TensorSpec((2, 8, 8, 5))
  shared = lambda costs: [c for c in costs if c.name.endswith("shared")]
  (of_ids,) = shared(flops.trace_costs(lambda a, m: norm(a, m), x, ids, models=[norm])[0])
  (of_onehot,) = shared(flops.trace_costs(lambda a, m: norm(a, m), x, onehot, models=[norm])[0])
  positions = 2 * 8 * 8
  assert of_ids.flops == 2 * 9 * 1 * 16 * positions
  assert of_onehot.flops == 2 * 9 * 5 * 16 * positions == 5 * of_ids.flops
  assert not of_ids.after_weights  # the mask reads no weights: no input gradient counted


@pytest.mark.parametrize("form", ["native", "taps"])
def test_spade_gamma_and_beta_count_as_their_layers_in_either_form(form, monkeypatch):
  # [2, 3, 8, 8, 6] and a 16-wide hidden map: gamma and beta (16 -> 6, 3x3) once each, the
  # layer's convolution whichever weight gradient `map_conv` takes.
  monkeypatch.setenv(form_choice.POLICY_ENV, form)
  norm = spade_layers.SPADE(3, 6, nhidden=16, num_classes=5)
  x, ids = tf.TensorSpec((2, 3, 8, 8, 6)), tf.TensorSpec((2, 8, 8), tf.int32)
  costs, uncounted = flops.trace_costs(lambda a, m: norm(a, m), x, ids, models=[norm])
  assert uncounted == []
  maps = [c for c in costs if c.name.endswith(("gamma", "beta"))]
  assert [c.name.rsplit("/", 1)[1] for c in maps] == ["gamma", "beta"]
  assert all(c.flops == 2 * 9 * 16 * 6 * (2 * 8 * 8) and c.after_weights for c in maps)


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("scale", [0, 1])
def test_spade_discriminator_first_layer_counts_frames_and_the_mask_once_per_clip(rank, scale):
  # [2, 4, 16, 16, 3] clips and 16x16 masks of 5 classes; first layer into 8 channels,
  # kernel (3,) 4, 4, stride (1,) 2, 2: the frames' part at every output position, the mask's
  # once per clip with the kernel summed over time (4 x 4 taps), of one channel where the mask
  # is one-hot (the first scale) and of 5 where it was pooled (the second).
  d = registry.build(
    f"egan_spade_discriminator_{rank}d",
    video_shape=(4, 16, 16, 3),
    num_classes=5,
    widths=(8, 8, 8),
    scale=scale,
  )
  clips, masks = tf.TensorSpec((2, 4, 16, 16, 3)), tf.TensorSpec((2, 16, 16), tf.int32)
  costs, uncounted = flops.trace_costs(lambda v, m: d(v, condition=m), clips, masks, models=[d])
  assert uncounted == []
  first = [c for c in costs if c.name == f"{d.name}/conv0/conv"]
  assert len(first) == 2, [c.name for c in costs]
  frames, mask = first
  t, side = (4, 8) if scale == 0 else ((2 if rank == 3 else 4), 4)  # after the pooling
  taps = 3 * 4 * 4 if rank == 3 else 4 * 4
  assert frames.flops == 2 * taps * 3 * 8 * (2 * t * side * side)
  assert mask.flops == 2 * 4 * 4 * (1 if scale == 0 else 5) * 8 * (2 * side * side)
  assert not mask.after_weights


def test_a_counted_layer_whose_weights_are_used_without_a_call_is_listed():
  class Bypass(keras.Model):
    def __init__(self):
      super().__init__()
      self.conv = keras.layers.Conv2D(4, 3, padding="same")

    def call(self, x):
      if not self.conv.built:
        self.conv.build(x.shape)
      return tf.nn.conv2d(x, self.conv.kernel, 1, "SAME")  # the layer's weights, no call

  model = Bypass()
  costs, uncounted = flops.trace_costs(model, tf.TensorSpec((1, 8, 8, 2)), models=[model])
  assert costs == [] and uncounted == [f"{model.name}/{model.conv.name}"]


@pytest.mark.parametrize("name", test_configs.CONFIGS)
def test_every_config_step_is_counted_whole_or_refused_by_name(name):
  # No counted layer of any config computes without the counter seeing its work: a step
  # is counted with nothing uncounted, or refused as a step the counter does not model.
  config = test_configs.load(name, "smoke")
  task = tasks.make_task(config)
  batch = test_configs.example_batch(config, task, size=2)
  task.build(batch)
  spec = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in batch.items()}
  try:
    result = flops.check_counted(flops.step_flops(task, spec))
  except flops.NotCounted as refused:
    assert "its step is not modelled" in str(refused)
    return
  assert result["total"] > 0 and all(not paths for paths in result["uncounted"].values())


def test_lstm_counts_its_gates_at_every_frame():
  # [2, 5, 6] -> 4 units: per frame and clip, 2 x (6 inputs + 4 recurrent) x 4 gates x 4.
  total, cost = _single(keras.layers.LSTM(4, return_sequences=True), (2, 5, 6))
  assert cost.output_shape == (2, 5, 4)
  assert total == 2 * (6 + 4) * 4 * 4 * (2 * 5) == 3200
  # Only the last output, or the states too: the same work.
  assert _single(keras.layers.LSTM(4), (2, 5, 6))[0] == 3200
  assert _single(keras.layers.LSTM(4, return_state=True, unroll=True), (2, 5, 6))[0] == 3200


def test_conv_lstm_counts_both_convolutions_at_every_frame():
  # [1, 3, 5, 5, 2] -> 4 filters, 3x3 same: per position 2 x 9 x (2 + 4) x 4 gates x 4.
  layer = keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True)
  total, cost = _single(layer, (1, 3, 5, 5, 2))
  assert cost.output_shape == (1, 3, 5, 5, 4)
  assert total == 2 * 9 * (2 + 4) * 4 * 4 * (3 * 5 * 5) == 129600


def test_modulated_conv_counts_as_its_convolution_plus_the_style_map():
  from zoo.layers import modulated

  conv = modulated.ModulatedConv2D(5, 3, name="mod")
  conv(tf.zeros((2, 6, 6, 4)), tf.zeros((2, 7)))  # built, as the networks a step counts are
  costs, uncounted = flops.trace_costs(
    lambda x, w: conv(x, w), tf.TensorSpec((2, 6, 6, 4)), tf.TensorSpec((2, 7)), models=[conv]
  )
  assert uncounted == []
  by_kind = {c.kind: c.flops for c in costs}
  assert by_kind == {
    "ModulatedConv2D": 2 * 9 * 4 * 5 * (2 * 6 * 6),  # 25920
    "Dense": 2 * 2 * 7 * 4,  # the style -> one scale per input channel
  }


def test_conv_gru_unrolled_over_frames_counts_every_frame_once():
  from zoo.layers import conv_gru

  cell = conv_gru.ConvGRUCell(3, name="gru")
  cell(tf.zeros((2, 4, 4, 2)), tf.zeros((2, 4, 4, 3)))  # built, as in a counted step
  per_step = 2 * 9 * (2 + 3) * 3 * 3 * (2 * 4 * 4)  # gates (2f) and candidate (f)

  def run(x, h):
    return conv_gru.unroll(cell, x, h)

  costs, uncounted = flops.trace_costs(
    run, tf.TensorSpec((2, 7, 4, 4, 2)), tf.TensorSpec((2, 4, 4, 3)), models=[cell]
  )
  assert uncounted == [] and [c.kind for c in costs] == ["ConvGRUCell"]
  assert costs[0].flops == 7 * per_step == 181440
  # Called on its own, one step is one step.
  costs, _ = flops.trace_costs(
    lambda x, h: cell(x, h), tf.TensorSpec((2, 4, 4, 2)), tf.TensorSpec((2, 4, 4, 3)), models=[cell]
  )
  assert [c.flops for c in costs] == [per_step]


def _pipeline_task(name):
  """A smoke config's task, built on one batch of its synthetic pipeline, and that batch's
  spec at batch 2."""
  from trainers import config_files
  from trainers.data import pipeline

  c = config_files.load(name)
  with c.data.unlocked():
    c.data.outputs = tasks.data_outputs(c)
  task = tasks.make_task(c)
  batch = next(iter(pipeline.make_dataset(c.data, 2, training=False)))
  task.build(batch)
  return task, tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), batch)


@pytest.mark.parametrize(
  "name, kinds",
  [
    ("relive_lstm:smoke", {"LSTM": 1}),
    ("relive_convlstm:smoke", {"ConvLSTM2D": 1}),
    ("radner_style:smoke", {"ConvGRUCell": 2, "ModulatedConv2D": 5}),  # 2 levels: 2 + 2 + toRGB
    ("dvdgan_s:smoke", {"ConvGRUCell": 2}),  # one per level
  ],
)
def test_recurrent_and_style_generators_are_counted(name, kinds):
  task, batch = _pipeline_task(name)
  result = flops.check_counted(flops.step_flops(task, batch))
  seen = [layer["kind"] for layer in result["layers"]["generator"]]
  assert {k: seen.count(k) for k in kinds} == kinds
  assert result["total"] > result["forward"]["generator"] > 0


def test_estimated_terms_are_the_penalty_that_layer_ceiling_leaves_out():
  task, batch = common.task_and_batch(relive_wgan.get_config("smoke"), 2)
  step = flops.gan_step_flops(task, batch)
  untimed = flops.estimated_terms(step)
  assert list(untimed) == ["d_step/d_d_gp"] and untimed["d_step/d_d_gp"] > 0
  timed = step["total"] - sum(untimed.values())
  assert 0 < timed < step["total"]


def test_an_unbuilt_model_counts_each_layer_call_once():
  """Building calls the layers symbolically: those calls are not the traced function's."""
  network = lambda: keras.Sequential([keras.layers.Dense(5), keras.layers.Dense(3)])
  unbuilt = network()
  costs, _ = flops.trace_costs(lambda x: unbuilt(x), tf.TensorSpec([2, 6]), models=[unbuilt])
  built = network()
  built.build((None, 6))
  expected, _ = flops.trace_costs(lambda x: built(x), tf.TensorSpec([2, 6]), models=[built])
  assert len(expected) == 2
  assert [c.flops for c in costs] == [c.flops for c in expected] == [2 * 2 * 6 * 5, 2 * 2 * 5 * 3]
