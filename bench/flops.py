"""Analytic FLOPs of Keras networks and of one GAN training step, counted from the layers.

Why analytic: a profiler counts what a kernel happened to execute (padding, Winograd, XLA
fusions, oneDNN reorders); the bench wants the work the model *asks for*, so that achieved
GFLOP/s is comparable between XLA on and off, precisions and machines.

What is counted (forward pass of one layer call, FLOPs = 2 x multiply-adds):
  Conv1D/2D/3D        2 * prod(kernel) * (C_in / groups) * C_out * output positions
  Conv{1,2,3}DTranspose 2 * prod(kernel) * C_in * C_out * INPUT positions (every input
                      position scatters one kernel-sized block into the output)
  DepthwiseConv1D/2D  2 * prod(kernel) * C_in * depth_multiplier * output positions
  SeparableConv1D/2D  the depthwise part plus 2 * C_in * depth_multiplier * C_out * output
                      positions for the pointwise part
  Dense               2 * in_features * units * (product of the leading dims)
  ModulatedConv2D     as Conv2D (its style's Dense is counted as a Dense; the demodulation
                      is O(parameters))
  ConvGRUCell         2 * k^2 * (C_in + filters) * 3 * filters * positions (the gate and the
                      candidate convolutions); inside `conv_gru.unroll`'s loop, which runs
                      the cell once per frame, it is counted once per frame
  LSTM                2 * (in_features + units) * 4 * units * batch * frames
  ConvLSTM2D          2 * k^2 * (C_in + filters) * 4 * filters * positions * frames
"positions" include the batch. Biases, batch norm, activations, reshapes, the two-stream
composition, losses and optimizer updates are elementwise (O(activations) or O(parameters),
under 1% of a VGAN step) and are not counted. Convolutions a model computes from a layer's
weights without calling it (`zoo.vgan.blocks.heads_on_one_input`, which is wrapped while
tracing) and SPADE's gamma and beta maps (`zoo.layers.spade.map_conv`, wrapped: the layer's
convolution with a weight gradient of its own) are counted as calls of that layer; so is
SPADE's mask convolution given class ids
(`zoo.layers.spade.mask_conv`, also wrapped), counted as a convolution of one input channel:
of a one-hot mask's channels only the id's is not zero, so the products with the others are
no work the model asks for, whichever form computes it; and the first layer of SPADE's
discriminator (`PatchDiscriminator._first_conv`, wrapped), as the layer over the clip's
channels plus one 2D convolution per clip of the mask (one channel at the first scale,
where the mask is one-hot; every class's channel of the pooled mask at the second). A
counted layer whose weights a traced graph reads without such a call is listed in
`uncounted`, as below, rather than silently dropped. Layers with their own
rank >= 2 trainable weights that are none of the above (an embedding) are listed in
`uncounted` rather than silently dropped; the learned inputs of `LEARNED_INPUTS` (Radner's
4x4 constant) are read, not multiplied, and cost nothing.

Shapes come from tracing the network in a `tf.function` (`get_concrete_function`): every
counted layer's `call` is wrapped while tracing to record its input and output shapes, and
nothing is executed, so a paper-size model at batch 64 costs no compute to count.

Backward convention (`convention="exact"`, the default): for a network whose weights are
differentiated, weight gradients cost F per layer, input gradients cost F per layer except
for the layers whose input depends on nothing differentiated (the first conv of a
discriminator fed with data, the projection of z in a generator): no one asks for those.
A network differentiated only w.r.t. its input (D inside the generator step) costs F for the
forward pass plus F of input gradients for every layer, and no weight gradients (a
`tf.function` prunes them). `convention="simple"` is the textbook rule: 3F for every network
that is differentiated in any way, 1F for a forward-only pass.

The step (`gan_step_flops`), per generator step with `objective.d_steps` = k:
  k x D step: G forward (1F_G, no gradient: the fake is stop_gradient'ed)
              + for each D: forward + backward w.r.t. weights on real and on fake
              + gradient penalty / R1, if on: ~6F_D each (forward and input gradient on the
                interpolates, 2F_D, then their gradient w.r.t. the weights, ~2 x 2F_D)
  G step:     G forward + backward w.r.t. weights
              + for each D: forward + backward w.r.t. its input.
With the exact convention this is 4F_G + 8F_D - 2F_D(first layer) - F_G(z projections) for
VGAN: 404.05 GFLOP for the two-stream GAN at 32x64x64, batch 8 (the speed targets' 404 GFLOP);
the simple convention gives 4F_G + 9F_D = 443.8 GFLOP. The penalty terms are the one estimate
here; a result lists them under "estimated".

A next-frame predictor's step (`prediction_step_flops`) is its teacher-forced pass over frames
0..T-2 and the backward pass w.r.t. its weights. `step_flops` takes these and SPADE's step
(`spade_step_flops`: feature matching's one call of each discriminator on real and fake
together, the VAE encoder; its VGG term is not modelled) and raises `NotCounted` for the
others; `check_counted` raises it when a layer with its own weights was not counted (a
modulated convolution, a recurrent cell): such a step's figure is "n/a", never a guess.
Wrappers that hold a counted layer's kernel (SpectralNormalization) are not "uncounted".
"""

import dataclasses
import math

import keras
import tensorflow as tf

from trainers import tasks
from zoo.egan import spade as egan_spade
from zoo.layers import conv_gru
from zoo.layers import modulated
from zoo.layers import spade as spade_layers
from zoo.vgan import blocks as vgan_blocks

CONVENTIONS = ("exact", "simple")

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_CONV_TRANSPOSE = (
  keras.layers.Conv1DTranspose,
  keras.layers.Conv2DTranspose,
  keras.layers.Conv3DTranspose,
)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_RECURRENT = (keras.layers.LSTM, keras.layers.ConvLSTM2D)  # counted over their whole sequence
COUNTED = (
  _CONV
  + _CONV_TRANSPOSE
  + _DEPTHWISE
  + _SEPARABLE
  + _RECURRENT
  + (keras.layers.Dense, modulated.ModulatedConv2D, conv_gru.ConvGRUCell)
)
# (layer class name, weight name) of weights a network reads as an input, multiplying nothing.
LEARNED_INPUTS = {("StyleGenerator", "constant")}


@dataclasses.dataclass(frozen=True)
class LayerCost:
  """One call of a counted layer.

  Attributes:
    name: the layer's path in the model (e.g. "trunk/stack/up1/conv3d_transpose").
    kind: the layer class name.
    input_shape, output_shape: of this call, batch included.
    flops: forward FLOPs of this call (2 x multiply-adds).
    trainable: whether the layer's weights are trained (its weight gradients are computed).
    after_weights: whether the layer's input depends on a trainable weight of the traced
      networks (if not, its input gradient is only needed when the network input is
      differentiated).
  """

  name: str
  kind: str
  input_shape: tuple
  output_shape: tuple
  flops: int
  trainable: bool
  after_weights: bool


def _spatial(shape, data_format):
  """(batch x spatial positions, channels) of a channels_last or channels_first shape."""
  shape = [int(s) for s in shape]
  if data_format == "channels_first":
    return shape[0] * math.prod(shape[2:]), shape[1]
  return math.prod(shape[:-1]), shape[-1]


def layer_flops(layer, input_shape, output_shape):
  """Forward FLOPs of one call of `layer` (one of `COUNTED`) with these shapes, batch included."""
  if None in tuple(input_shape) or None in tuple(output_shape):
    raise ValueError(
      f"Expected fully defined shapes for {layer.name}, received "
      f"{tuple(input_shape)} -> {tuple(output_shape)}."
    )
  if isinstance(layer, keras.layers.Dense):
    leading = math.prod(int(s) for s in input_shape[:-1])
    return 2 * leading * int(input_shape[-1]) * int(layer.units)
  if isinstance(layer, modulated.ModulatedConv2D):
    out_positions, c_out = _spatial(output_shape, "channels_last")
    return 2 * layer.kernel_size**2 * int(input_shape[-1]) * c_out * out_positions
  if isinstance(layer, conv_gru.ConvGRUCell):  # one step [B, H, W, C] or a sequence [B, T, ...]
    positions, f = _spatial(output_shape, "channels_last")
    return 2 * layer.kernel_size**2 * (int(input_shape[-1]) + f) * 3 * f * positions
  if isinstance(layer, keras.layers.LSTM):  # [B, T, in] -> the sequence or its last step
    steps = math.prod(int(s) for s in input_shape[:-1])
    return 2 * (int(input_shape[-1]) + layer.units) * 4 * layer.units * steps
  if isinstance(layer, keras.layers.ConvLSTM2D):  # [B, T, H, W, C], "same" padding, stride 1
    if layer.data_format != "channels_last" or layer.padding != "same" or max(layer.strides) != 1:
      raise ValueError(f"Expected a channels_last, 'same', stride-1 ConvLSTM2D: {layer.name}.")
    positions = math.prod(int(s) for s in input_shape[:-1])
    kernel = math.prod(layer.kernel_size)
    return 2 * kernel * (int(input_shape[-1]) + layer.filters) * 4 * layer.filters * positions
  fmt = layer.data_format
  kernel = math.prod(layer.kernel_size)
  in_positions, c_in = _spatial(input_shape, fmt)
  out_positions, c_out = _spatial(output_shape, fmt)
  if isinstance(layer, _CONV_TRANSPOSE):
    return 2 * kernel * c_in * c_out * in_positions
  if isinstance(layer, _CONV):
    return 2 * kernel * (c_in // layer.groups) * c_out * out_positions
  if isinstance(layer, _DEPTHWISE):
    return 2 * kernel * c_out * out_positions  # c_out = C_in x depth_multiplier
  if isinstance(layer, _SEPARABLE):
    middle = c_in * layer.depth_multiplier
    return 2 * kernel * middle * out_positions + 2 * middle * c_out * out_positions
  raise ValueError(
    f"Expected a layer of type {[c.__name__ for c in COUNTED]}, received {type(layer).__name__}."
  )


def _sublayers(layer, include_self, recursive):
  """Nested layers (Keras has no public walk over a subclassed model's layers)."""
  return layer._flatten_layers(include_self=include_self, recursive=recursive)


def _has_own_kernel(layer, counted_weights):
  """Whether `layer` itself (not a sub-layer) owns a trainable weight of rank >= 2 that no
  counted layer holds (a wrapper such as SpectralNormalization tracks its layer's kernel,
  which the wrapped, counted layer multiplies)."""
  own = [
    v for v in layer._trainable_variables if (type(layer).__name__, v.name) not in LEARNED_INPUTS
  ]
  return any(len(v.shape) >= 2 and id(v) not in counted_weights for v in own)


def _layer_paths(models):
  """{id(layer): "model/sub/layer"} for every layer of `models`, themselves included."""
  paths = {}

  def visit(layer, prefix):
    path = f"{prefix}/{layer.name}" if prefix else layer.name
    paths.setdefault(id(layer), path)
    for child in _sublayers(layer, include_self=False, recursive=False):
      visit(child, path)

  for m in models:
    visit(m, "")
  return paths


def _ancestors_hit(tensor, targets):
  """Whether any op in `targets` (a set of ops) is `tensor`'s op or one of its ancestors."""
  seen, stack = set(), [tensor.op]
  while stack:
    op = stack.pop()
    if op in targets:
      return True
    if op in seen:
      continue
    seen.add(op)
    stack.extend(t.op for t in op.inputs)
  return False


def trace_costs(fn, *args, models):
  """Traces `fn(*args)` without running it; one `LayerCost` per call of a counted layer.

  Args:
    fn: calls the networks, e.g. `lambda x: model(x, training=True)`.
    *args: tensors or `tf.TensorSpec`s (nested structures allowed) with a fixed batch.
    models: the Keras layers / models whose counted sub-layers are recorded and whose
      trainable weights decide `LayerCost.after_weights`.

  Returns:
    (costs, uncounted): the list of `LayerCost` in call order, and the paths of layers with
    their own rank >= 2 trainable weights that are not of a counted type, or of a counted
    type whose weights the traced graph reads without a call of the layer.
  """
  layers = [l for m in models for l in _sublayers(m, include_self=True, recursive=True)]
  if not all(l.built for l in layers):
    # Building calls layers symbolically (and may create sub-layers): a first trace builds,
    # so that the recorded one holds each layer's calls of `fn` alone.
    tf.function(fn).get_concrete_function(*args)
    layers = [l for m in models for l in _sublayers(m, include_self=True, recursive=True)]
  paths = _layer_paths(models)
  counted = {id(l): l for l in layers if isinstance(l, COUNTED)}
  counted_weights = {id(v) for l in counted.values() for v in l.trainable_weights}
  uncounted = sorted(
    {paths[id(l)] for l in layers if id(l) not in counted and _has_own_kernel(l, counted_weights)}
  )
  calls = []
  in_unroll = []  # the cell calls inside `conv_gru.unroll`'s loop are counted by the unroll

  def wrap(layer):
    original = layer.call

    def call(inputs, *a, **k):
      outputs = original(inputs, *a, **k)
      if not in_unroll:
        # A recurrent layer returning its states gives [output, *states].
        calls.append((layer, inputs, outputs[0] if isinstance(outputs, list | tuple) else outputs))
      return outputs

    object.__setattr__(layer, "call", call)  # bypass Keras attribute tracking

  plain_unroll = conv_gru.unroll

  def unroll(cell, inputs, initial_state):  # the loop runs the cell once per frame
    in_unroll.append(True)
    try:
      outputs = plain_unroll(cell, inputs, initial_state)
    finally:
      in_unroll.pop()
    if id(cell) in counted:
      calls.append((cell, inputs, outputs))
    return outputs

  fused_heads = vgan_blocks.heads_on_one_input

  def heads_on_one_input(hidden, heads):  # one convolution for several heads' layers
    outputs = fused_heads(hidden, heads)
    for head, out in zip(heads, outputs, strict=True):
      if id(head.layers[0]) in counted:  # the activation after it keeps the shape
        calls.append((head.layers[0], hidden, out))
    return outputs

  plain_first_conv = egan_spade.PatchDiscriminator._first_conv

  def first_conv(model, video, seg):  # SPADE's discriminator: frames' part + mask's part
    outputs = plain_first_conv(model, video, seg)
    layer = model.convs[0].conv
    if id(layer) in counted:  # the frames' part: the layer over the clip's 3 channels
      calls.append((layer, video, outputs))
      # One 2D convolution per clip (kernel summed over time) of the mask: a one-hot's one
      # channel at the first scale (as `mask_conv` is counted), the pooled mask's every
      # channel at the others.
      positions = math.prod(int(d) for d in outputs.shape[:-1]) // (
        int(outputs.shape[1]) if model.rank == 3 else int(video.shape[1])
      )
      channels = 1 if not model.pools else int(seg.shape[-1])
      kernel = math.prod(layer.kernel_size[-2:])
      mask_flops = 2 * kernel * channels * int(outputs.shape[-1]) * positions
      calls.append((layer, seg, outputs, mask_flops))
    return outputs

  plain_mask_conv = spade_layers.mask_conv

  def mask_conv(layer, ids, num_classes):  # a convolution of one input channel, the id's
    outputs = plain_mask_conv(layer, ids, num_classes)
    if id(layer) in counted:
      calls.append((layer, ids[..., tf.newaxis], outputs))
    return outputs

  plain_map_conv = spade_layers.map_conv

  def map_conv(layer, hidden):  # the layer's convolution, with another weight gradient
    outputs = plain_map_conv(layer, hidden)
    if id(layer) in counted:
      calls.append((layer, hidden, outputs))
    return outputs

  for layer in counted.values():
    wrap(layer)
  vgan_blocks.heads_on_one_input = heads_on_one_input
  spade_layers.map_conv = map_conv
  conv_gru.unroll = unroll
  spade_layers.mask_conv = mask_conv
  egan_spade.PatchDiscriminator._first_conv = first_conv
  try:
    concrete = tf.function(fn).get_concrete_function(*args)
  finally:
    egan_spade.PatchDiscriminator._first_conv = plain_first_conv
    spade_layers.mask_conv = plain_mask_conv
    spade_layers.map_conv = plain_map_conv
    conv_gru.unroll = plain_unroll
    vgan_blocks.heads_on_one_input = fused_heads
    for layer in counted.values():
      object.__delattr__(layer, "call")

  handles = {id(v.value.handle) for m in models for v in m.trainable_variables}
  weight_ops = {
    internal.op for external, internal in concrete.graph.captures if id(external) in handles
  }
  reads = {
    op
    for op in concrete.graph.get_operations()
    if op.type == "ReadVariableOp" and op.inputs[0].op in weight_ops
  }
  costs = []
  for layer, inputs, outputs, *given in calls:  # given: FLOPs a wrapper counted itself
    costs.append(
      LayerCost(
        name=paths[id(layer)],
        kind=type(layer).__name__,
        input_shape=tuple(inputs.shape.as_list()),
        output_shape=tuple(outputs.shape.as_list()),
        flops=given[0] if given else layer_flops(layer, inputs.shape, outputs.shape),
        trainable=bool(layer.trainable and layer.trainable_weights),
        after_weights=_ancestors_hit(inputs, reads),
      )
    )
  # A counted layer whose weights the graph reads without a call seen here (a model computing
  # with them itself, unwrapped): its work would be missing from the total.
  captured = {id(external): internal.op for external, internal in concrete.graph.captures}
  read_handles = {op.inputs[0].op for op in reads}
  called = {id(layer) for layer, *_ in calls}
  for layer in counted.values():
    handles = [captured.get(id(v.value.handle)) for v in layer.trainable_variables]
    if id(layer) not in called and any(h in read_handles for h in handles):
      uncounted.append(paths[id(layer)])
  return costs, sorted(uncounted)


def forward_flops(costs):
  """F: the forward FLOPs of the traced calls."""
  return sum(c.flops for c in costs)


def backward_flops(costs, weights, inputs, convention="exact"):
  """FLOPs of the backward pass of the traced calls.

  Args:
    costs: `LayerCost`s of one forward pass.
    weights: whether gradients w.r.t. the trainable weights are computed.
    inputs: whether the gradient w.r.t. the network input is computed.
    convention: "exact" (see the module docstring) or "simple" (2F when anything is
      differentiated).
  """
  if convention not in CONVENTIONS:
    raise ValueError(f"Expected convention in {CONVENTIONS}, received {convention!r}.")
  if not (weights or inputs):
    return 0
  if convention == "simple":
    return 2 * forward_flops(costs)
  weight_grads = sum(c.flops for c in costs if weights and c.trainable)
  input_grads = sum(c.flops for c in costs if inputs or (weights and c.after_weights))
  return weight_grads + input_grads


def model_flops(model, input_shape, training=False):
  """Forward FLOPs and costs of `model` on one input of `input_shape` (batch included)."""
  costs, _ = trace_costs(
    lambda x: model(x, training=training), tf.TensorSpec(input_shape, tf.float32), models=[model]
  )
  return forward_flops(costs), costs


def _spec(x):
  return tf.TensorSpec(x.shape, x.dtype)


def estimated_terms(step):
  """{term: FLOPs} of a `gan_step_flops` result that are estimates (the penalties' double
  backward passes, see the module docstring), not counted layer by layer."""
  return {name: step["terms"][name] for name in step["estimated"]}


def _totals(terms):
  """The total, D-step and G-step FLOPs of a step's {what: FLOPs} terms."""
  return {
    "total": sum(terms.values()),
    "d_step": sum(v for t, v in terms.items() if t.startswith("d_step/")),
    "g_step": sum(v for t, v in terms.items() if t.startswith("g_step/")),
  }


def gan_step_flops(task, batch, convention="exact"):
  """FLOPs of one generator step of a GAN task (see the module docstring), as a breakdown.

  Args:
    task: a `trainers.tasks.GANTask` (built): `generator`, `discriminators`, `d_weights`,
      `generator_inputs`, `condition` and `config.objective`.
    batch: the training batch (tensors or `tf.TensorSpec`s, global batch size) the step
      consumes, e.g. {"video": TensorSpec([8, 32, 64, 64, 3])}.
    convention: "exact" or "simple".

  Returns:
    A dict: "total" (FLOPs of one generator step), "d_step" and "g_step" (d_steps D steps,
    and the G step), "forward" {network: F}, "terms" {what: FLOPs} summing to "total",
    "layers" {network: [LayerCost as dicts]}, "uncounted" {network: [paths]},
    "batch_size", "convention", "d_steps" and "g_step_d_batches" (the D-step batches the G
    step feeds each discriminator).
  """
  obj = task.config.objective
  batch = tf.nest.map_structure(_spec, batch)
  seed = tf.constant([0, 0], tf.int32)
  g = task.generator

  video_shapes = []

  def generate(b):
    out = g(task.generator_inputs(b, seed), training=True)
    out = out["video"] if isinstance(out, dict) else out
    video_shapes.append(out.shape)
    return out

  g_costs, g_uncounted = trace_costs(generate, batch, models=[g])
  video = tf.TensorSpec(video_shapes[-1], tf.float32)  # the task casts the fake to float32
  layers = {"generator": g_costs}
  uncounted = {"generator": g_uncounted}
  forward = {"generator": forward_flops(g_costs)}
  d_costs = {}
  for name, d in task.discriminators.items():
    costs, missing = trace_costs(
      lambda v, b, d=d: d(v, condition=task.condition(b), training=True), video, batch, models=[d]
    )
    d_costs[name] = costs
    layers[f"d_{name}"], uncounted[f"d_{name}"] = costs, missing
    forward[f"d_{name}"] = forward_flops(costs)

  fwd, bwd = forward_flops, lambda c, w, i: backward_flops(c, w, i, convention)
  k = int(obj.d_steps)
  terms, estimated = {}, []
  if d_costs:
    terms["d_step/generator_forward"] = k * fwd(g_costs)
  for name, costs in d_costs.items():
    terms[f"d_step/d_{name}_real"] = k * (fwd(costs) + bwd(costs, True, False))
    terms[f"d_step/d_{name}_fake"] = k * (fwd(costs) + bwd(costs, True, False))
    for penalty in ("gp_weight", "r1_weight"):
      if obj.get(penalty, 0.0):
        terms[f"d_step/d_{name}_{penalty[:-7]}"] = k * 6 * fwd(costs)
        estimated.append(f"d_step/d_{name}_{penalty[:-7]}")
  terms["g_step/generator"] = fwd(g_costs) + bwd(g_costs, True, False)
  for name, costs in d_costs.items():
    terms[f"g_step/d_{name}"] = fwd(costs) + bwd(costs, False, True)

  return {
    **_totals(terms),
    "forward": forward,
    "terms": terms,
    "layers": {n: [dataclasses.asdict(c) for c in cs] for n, cs in layers.items()},
    "uncounted": uncounted,
    "estimated": estimated,
    "batch_size": int(tf.nest.flatten(batch)[0].shape[0]),
    "convention": convention,
    "d_steps": k,
    "g_step_d_batches": 1,
  }


def prediction_step_flops(task, batch, convention="exact"):
  """FLOPs of one step of a next-frame predictor (`trainers.tasks.PredictionTask`).

  The step is the teacher-forced pass over frames 0..T-2 and its backward pass w.r.t. the
  weights (the frames are data: no input gradient into the first layer). Returns the dict of
  `gan_step_flops`, with the one term "g_step/generator" and no D step.
  """
  batch = tf.nest.map_structure(_spec, batch)
  g = task.generator

  def teacher_forced(b):
    return g.teacher_forced(tf.cast(b["video"], tf.float32)[:, :-1], training=True)

  costs, uncounted = trace_costs(teacher_forced, batch, models=[g])
  terms = {
    "g_step/generator": forward_flops(costs) + backward_flops(costs, True, False, convention)
  }
  return {
    "total": terms["g_step/generator"],
    "d_step": 0,
    "g_step": terms["g_step/generator"],
    "forward": {"generator": forward_flops(costs)},
    "terms": terms,
    "layers": {"generator": [dataclasses.asdict(c) for c in costs]},
    "uncounted": {"generator": uncounted},
    "estimated": [],
    "batch_size": int(tf.nest.flatten(batch)[0].shape[0]),
    "convention": convention,
    "d_steps": 0,
    "g_step_d_batches": 0,
  }


def spade_step_flops(task, batch, convention="exact"):
  """FLOPs of one generator step of SPADE (`trainers.tasks.SPADETask`): `gan_step_flops`
  with SPADE's differences.

  - Feature matching on (`objective.feature_matching`): the G step calls each discriminator
    once on the real and the fake clips concatenated, 2B clips, forward and input gradients
    (the input gradient of a layer covers its whole input, the real half included).
  - A VAE generator (`use_vae`): its encoder reads the real clips in both steps, forward in
    each D step and forward + weight gradients in the G step (the clips are data).
  - The VGG perceptual term (on when `objective.vgg_weights` names a file) is not modelled:
    `NotCounted`.
  Returns the dict of `gan_step_flops`.
  """
  if task.vgg is not None:
    raise NotCounted("objective.vgg_weights: SPADE's VGG perceptual term is not modelled")
  result = gan_step_flops(task, batch, convention)
  fwd, bwd = forward_flops, lambda c, w, i: backward_flops(c, w, i, convention)
  terms, d_steps = result["terms"], result["d_steps"]
  if task.fm_weight:
    result["g_step_d_batches"] = 2
    for name in task.discriminators:
      terms[f"g_step/d_{name}"] *= 2
  if task.vae:
    g = task.generator
    spec = tf.nest.map_structure(_spec, batch)
    costs, missing = trace_costs(lambda b: g.encode(b["video"], training=True), spec, models=[g])
    result["layers"]["encoder"] = [dataclasses.asdict(c) for c in costs]
    result["uncounted"]["encoder"] = missing
    result["forward"]["encoder"] = fwd(costs)
    terms["d_step/encoder_forward"] = d_steps * fwd(costs)
    terms["g_step/encoder"] = fwd(costs) + bwd(costs, True, False)
  result.update(_totals(terms))
  return result


class NotCounted(ValueError):
  """A step whose FLOPs this module cannot count: its figure is "n/a", never a guess."""


def step_flops(task, batch, convention="exact"):
  """FLOPs of one training step of `task`, for the tasks whose step this module models.

  `trainers.tasks.GANTask` itself (`gan_step_flops`), `PredictionTask`
  (`prediction_step_flops`) and `SPADETask` (`spade_step_flops`, without its VGG term).
  Other tasks (the classifiers, the autoencoder) raise `NotCounted`. The result may still
  list `uncounted` layers: `check_counted` says whether its total is the step's.
  """
  if type(task) is tasks.GANTask:
    return gan_step_flops(task, batch, convention)
  if type(task) is tasks.PredictionTask:
    return prediction_step_flops(task, batch, convention)
  if type(task) is tasks.SPADETask:
    return spade_step_flops(task, batch, convention)
  raise NotCounted(
    f"objective.task {task.config.objective.task!r} ({type(task).__name__}): its step is not "
    "modelled (only GANTask, PredictionTask and SPADETask are)"
  )


def check_counted(result):
  """Raises `NotCounted` when `result` (of `step_flops`) missed a layer with its own weights
  (a modulated convolution, a recurrent cell): its total would be below the step's."""
  missed = [f"{n}: {', '.join(paths)}" for n, paths in result["uncounted"].items() if paths]
  if missed:
    raise NotCounted(f"layers with weights the counter does not know: {'; '.join(missed)}")
  return result


def trainer_step_flops(trainer, convention="exact"):
  """`step_flops` of a `trainers.loop.Trainer` at its global batch size."""
  size = trainer.config.train.batch_size
  batch = tf.nest.map_structure(
    lambda s: tf.TensorSpec([size] + s.shape[1:].as_list(), s.dtype), trainer.dataset.element_spec
  )
  return step_flops(trainer.task, batch, convention)
