"""I3D (Carreira & Zisserman 2017): the Kinetics action classifier behind FVD.

Importing this package registers "i3d" (`i3d.InceptionI3D`); `checkpoint` loads DeepMind's
kinetics-i3d TF1 checkpoints into it.
"""

from zoo.i3d import checkpoint
from zoo.i3d import i3d
from zoo.i3d.checkpoint import CheckpointMismatchError
from zoo.i3d.checkpoint import load_kinetics_i3d_checkpoint
from zoo.i3d.i3d import InceptionI3D
